"""Following an error log: new complete lines only, through rotation, truncation and absence."""

from __future__ import annotations

from exporters.innodb.errorlog import LogFollower


def append(path, text: str) -> None:
    """Writes `text` at the end of the file, as the server does."""
    with path.open("a") as handle:
        handle.write(text)


def following_empty(tmp_path):
    """An empty error.log, and a follower that has read it once."""
    log = tmp_path / "error.log"
    log.write_text("")
    follower = LogFollower(log)
    follower.read()
    return log, follower


def test_starts_at_the_end_and_returns_only_complete_lines(tmp_path):
    log = tmp_path / "error.log"
    log.write_text("old line\n")
    follower = LogFollower(log)
    assert follower.read().text == ""
    append(log, "one\ntw")
    assert follower.read().text == "one\n"
    append(log, "o\n")
    assert follower.read().text == "two\n"


def test_from_start_reads_what_is_there(tmp_path):
    log = tmp_path / "error.log"
    log.write_text("a\nb\n")
    assert LogFollower(log, from_start=True).read().text == "a\nb\n"


def test_rotation_reads_the_old_file_to_its_end_then_the_new_one(tmp_path):
    log, follower = following_empty(tmp_path)
    append(log, "before rotation\nunfinish")
    log.rename(tmp_path / "error.log.1")
    append(tmp_path / "error.log.1", "ed\nlate write to the old file\n")
    log.write_text("new file\n")
    chunk = follower.read()
    assert chunk.rotated and not chunk.truncated
    assert chunk.text == "before rotation\nunfinished\nlate write to the old file\nnew file\n"
    append(log, "more\n")
    assert follower.read().text == "more\n"


def test_truncation_in_place_starts_over(tmp_path):
    log, follower = following_empty(tmp_path)
    log.write_text("a long first line that fills the file\n")
    assert follower.read().text.startswith("a long")
    log.write_text("short\n")  # copytruncate, then the server writes again
    chunk = follower.read()
    assert chunk.truncated
    assert chunk.text == "short\n"


def test_a_missing_file_is_waited_for_and_read_whole_when_it_appears(tmp_path, caplog):
    log = tmp_path / "error.log"
    follower = LogFollower(log)
    assert follower.read().text == ""
    assert follower.readable is False
    assert follower.read().text == ""
    assert len([r for r in caplog.records if "unreadable" in r.getMessage()]) == 1
    log.write_text("first\n")
    assert follower.read().text == "first\n"
    assert follower.readable is True


def test_a_file_removed_while_followed_is_drained_then_waited_for(tmp_path):
    log, follower = following_empty(tmp_path)
    with log.open("a") as handle:
        handle.write("last words\n")
        log.unlink()
    assert follower.read().text == "last words\n"
    log.write_text("reborn\n")
    chunk = follower.read()
    assert chunk.rotated
    assert chunk.text == "reborn\n"

"""Twenty real deadlock dumps written through every way a log gets rotated: each read once."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from exporters.innodb.collector import InnoDBCollector
from exporters.innodb.config import Settings
from exporters.innodb.errorlog import LogFollower
from exporters.innodb.parser import PARSE_ERROR_REASONS, parse_error_log

BURST = Path(__file__).parents[1] / "fixtures/innodb/mariadb-10.11_error-log_burst-20-deadlocks.txt"


def dumps() -> list[str]:
    """The burst's dumps, each from its "deadlock detected" line to the next one's."""
    text = BURST.read_text()
    starts = [m.start() for m in re.finditer(r"(?m)^.*Transactions deadlock detected", text)]
    return [text[a:b] for a, b in zip(starts, [*starts[1:], len(text)], strict=True)]


def append(path: Path, text: str) -> None:
    with path.open("a") as handle:
        handle.write(text)


def live_through_rotations(log: Path, read: Callable[[], None]) -> None:
    """The server writes the burst while the log is renamed, copied and truncated, deleted and
    re-created, given a 1 MB line and cut lines; `read()` looks at it in between."""
    d = dumps()
    assert len(d) == 20
    log.write_text("2026-11-24 16:40:00 0 [Note] before we watched\n")
    read()
    half = d[2].index("RECORD LOCKS") + 7  # mid-line
    append(log, d[0] + d[1] + d[2][:half])
    read()  # a partial last line, and a dump still being written
    append(log, d[2][half:] + d[3])
    read()
    # rename: the old file gets a late write after the rename, then a new file starts
    cut = d[5].index("TRANSACTION 1") + 5
    append(log, d[4] + d[5][:cut])
    log.rename(log.with_name("error.log.1"))
    append(log.with_name("error.log.1"), d[5][cut:])
    log.write_text(d[6])
    read()
    # copytruncate, and the server writes more than was there before we look again
    append(log, d[7])
    read()
    shutil.copyfile(log, log.with_name("error.log.2"))
    with log.open("r+") as handle:
        handle.truncate(0)
    append(log, d[8] + d[9] + d[10])
    read()
    # a 1 MB line, arriving in two writes, between dumps
    big = "2026-11-24 16:47:00 40 [Warning] Aborted query: SELECT '" + "x" * 1024 * 1024 + "'\n"
    append(log, big[:700_000])
    read()
    append(log, big[700_000:] + d[11] + d[12])
    read()
    # deleted while followed (its last dump drained), missing for a while, re-created
    append(log, d[13])
    log.unlink()
    read()
    read()
    log.write_text(d[14] + d[15] + d[16])
    read()
    append(log, d[17] + d[18] + d[19])
    read()


def test_the_follower_hands_over_every_dump_exactly_once(tmp_path):
    follower = LogFollower(tmp_path / "error.log")
    seen: list[str] = []
    live_through_rotations(tmp_path / "error.log", lambda: seen.append(follower.read().text))
    text = "".join(seen)
    for n, dump in enumerate(dumps()):
        assert text.count(dump) == 1, f"dump {n} read {text.count(dump)} times"
    result, _ = parse_error_log(text)
    assert len({deadlock.key for deadlock in result.deadlocks}) == 20
    assert result.errors == []


@pytest.fixture
def registry_and_collector(tmp_path):
    settings = Settings.from_env({
        "INNODB_EXPORTER_DSN": "mysql://u@127.0.0.1:1/",  # nothing listens: the log alone
        "INNODB_EXPORTER_ERROR_LOG": str(tmp_path / "error.log"),
    })  # fmt: skip
    collector = InnoDBCollector(settings)
    registry = CollectorRegistry()
    registry.register(collector)
    yield registry, collector
    collector.close()


def test_the_collector_captures_all_20_through_rotations_and_counts_no_parse_error(
    tmp_path, registry_and_collector
):
    registry, _ = registry_and_collector
    captured = []

    def scrape() -> None:
        captured.append(
            registry.get_sample_value("innodb_deadlocks_captured_total", {"source": "error_log"})
        )

    live_through_rotations(tmp_path / "error.log", scrape)
    assert captured[-1] == 20
    assert captured == sorted(captured)
    for reason in PARSE_ERROR_REASONS:
        assert registry.get_sample_value(
            "innodb_status_parse_errors_total", {"reason": reason}
        ) in (0, None), reason

"""The deadlock parser on real text: every shared sample, the MariaDB fixtures, and bad input.

Golden files (tests/unit/golden/innodb/<input>.json) hold the full parse of each input; after a
reviewed change of the parser, rewrite them with
`INNODB_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/unit/test_innodb_parser.py` and read the
diff. The shared samples are read where they are (next to the checkout), never copied in.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from exporters.innodb.parser import (
    LOCK_MODES,
    normalise_lock_mode,
    parse_document,
    parse_error_log,
    parse_lock_line,
    parse_status,
    split_table_name,
    unwrap_client_output,
)
from tests.extras import SAMPLES_DIR, extra_samples, sample_params, skip_reason

REPO = Path(__file__).resolve().parents[2]
SAMPLES = SAMPLES_DIR  # the extra corpus's samples (tests.extras), None when absent
FIXTURES = REPO / "tests" / "fixtures" / "innodb"
GOLDEN = Path(__file__).resolve().parent / "golden" / "innodb"
UPDATE_GOLDEN = os.environ.get("INNODB_UPDATE_GOLDEN") == "1"


@pytest.mark.skipif(SAMPLES is None, reason=skip_reason())
def test_the_extra_samples_are_there_when_the_extras_are():
    # With the extras present, an empty or renamed samples folder must not let the sample tests
    # below silently run nothing.
    assert len(sample_files()) >= 20


def sample_files() -> list[str]:
    return [p.name for p in extra_samples()]


def fixture_files() -> list[str]:
    return sorted(p.name for p in FIXTURES.glob("*.txt"))


def parsed(path: Path) -> dict:
    result = parse_document(path.read_text(encoding="utf-8", errors="replace"))
    return {"deadlocks": [d.as_dict() for d in result.deadlocks], "errors": result.errors}


def check_golden(path: Path) -> None:
    golden = GOLDEN / f"{path.name}.json"
    actual = parsed(path)
    if UPDATE_GOLDEN:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(json.dumps(actual, indent=2, ensure_ascii=False) + "\n")
    assert golden.exists(), f"no golden file {golden.name}: run with INNODB_UPDATE_GOLDEN=1"
    assert actual == json.loads(golden.read_text())


@pytest.mark.parametrize("name", sample_params(sample_files()))
def test_every_extra_sample_parses_to_its_golden_file(name):
    check_golden(SAMPLES / name)


@pytest.mark.parametrize("name", fixture_files())
def test_every_mariadb_fixture_parses_to_its_golden_file(name):
    check_golden(FIXTURES / name)


# ---------------------------------------------------------------------------------------------
# What each shared sample with a deadlock must give, written out by hand from the text.


@dataclass(frozen=True)
class Expected:
    victim: int
    # per transaction: the waited-for lock and the held locks, as (schema, table, index, mode)
    waiting: tuple[tuple, ...]
    holding: tuple[tuple[tuple, ...], ...]
    too_deep: bool = False


def two_way(victim: int, index: tuple, waiting: str, held: str) -> Expected:
    """The common two-way case: both transactions wait for a lock of mode `waiting` on `index`
    (schema, table, index), and the second holds one of mode `held` there."""
    return Expected(victim, ((*index, waiting), (*index, waiting)), ((), ((*index, held),)))


A_PRIMARY = ("test", "a", "PRIMARY")
AUDIT = ("okcoin_c2c_open", "otc_merchant_audit", "idx_uid")
MENU = ("<anonymized>", "cache_menu", "PRIMARY")
SEMAPHORE = ("percona_com_redesign2015", "semaphore", "PRIMARY")
INNOTOP_DL = ("test", "innotop_dl", "GEN_CLUST_INDEX")

WITH_DEADLOCK = {
    "chanjunren_innodb_deadlocks_mysql57-section.txt": two_way(2, AUDIT, "X", "X,REC_NOT_GAP"),
    "innotop_innodb-status-004": two_way(2, MENU, "X,INSERT_INTENTION", "X"),
    "innotop_innodb-status-007": Expected(
        victim=1,
        waiting=(("foo", "foo", "PRIMARY", "X,REC_NOT_GAP"), ("foo", "foo", "PRIMARY", "S")),
        holding=((), (("foo", "foo", "PRIMARY", "S"),)),
    ),
    "mysqldocs_v5-en_monitors_standard-output-5.7.txt": two_way(
        1, ("mysql", "t", "GEN_CLUST_INDEX"), "X", "S"
    ),
    "mysqldocs_v8-en_deadlock-example-8.0.txt": Expected(
        victim=2,
        waiting=(
            ("test", "Animals", "PRIMARY", "X,REC_NOT_GAP"),
            ("test", "Birds", "PRIMARY", "X,REC_NOT_GAP"),
        ),
        holding=(
            (("test", "Birds", "PRIMARY", "S,REC_NOT_GAP"),),
            (("test", "Animals", "PRIMARY", "S,REC_NOT_GAP"),),
        ),
    ),
    "ptk_bug_1082104.txt": two_way(2, A_PRIMARY, "X,REC_NOT_GAP", "X,REC_NOT_GAP"),
    "ptk_bug_903443.txt": two_way(2, A_PRIMARY, "X,REC_NOT_GAP", "X,REC_NOT_GAP"),
    "ptk_bug_1195034.txt": Expected(
        victim=1,
        waiting=(("db", "gr_v3_response_log", None, "AUTO_INC"),),
        holding=((),),
        too_deep=True,
    ),
    "ptk_fk-error-logger_is001.txt": two_way(2, INNOTOP_DL, "X", "S"),
    "ptk_secure-collect_2018_03_05_13_24_55-innodbstatus1": two_way(
        2, SEMAPHORE, "X,REC_NOT_GAP", "S,REC_NOT_GAP"
    ),
}

WITHOUT_DEADLOCK = {
    "innotop_innodb-status-008",
    "innotop_innodb-status-011",
    "innotop_innodb-status-012",
    "mysqldocs_v8-en_monitors_standard-output-8.0.txt",
    "netdata_mariadb-v10.8.4_engine_innodb_status.txt",
    "netdata_mariadb-v5.5.64_engine_innodb_status.txt",
    "netdata_mysql-v8.0.30_engine_innodb_status.txt",
    "netdata_percona-v8.0.29_engine_innodb_status.txt",
    "ptk_fk-error-logger_is002.txt",
    "ptk_lib_is001.txt",
    "ptk_mysql-summary_innodb-status.001.txt",
    "ptk_mysql-summary_innodb-status.004.txt",
}


def lock_tuple(lock) -> tuple:
    return (lock.schema, lock.table, lock.index, lock.mode)


@pytest.mark.skipif(SAMPLES is None, reason=skip_reason())
def test_every_extra_sample_is_checked_by_hand():
    assert set(sample_files()) == set(WITH_DEADLOCK) | WITHOUT_DEADLOCK


@pytest.mark.parametrize("name", sample_params(WITH_DEADLOCK))
def test_extra_sample_gives_its_victim_tables_indexes_and_modes(name):
    expected = WITH_DEADLOCK[name]
    result = parse_document((SAMPLES / name).read_text(errors="replace"))

    assert result.errors == []
    (deadlock,) = result.deadlocks
    assert deadlock.victim == expected.victim
    assert deadlock.too_deep is expected.too_deep
    assert tuple(lock_tuple(t.waiting) for t in deadlock.transactions) == expected.waiting
    held = tuple(tuple(lock_tuple(lock) for lock in t.holding) for t in deadlock.transactions)
    assert held == expected.holding
    assert all(t.thread_id and t.trx_id and t.query for t in deadlock.transactions)


@pytest.mark.parametrize("name", sample_params(WITHOUT_DEADLOCK))
def test_extra_sample_without_deadlock_section_gives_none(name):
    text = (SAMPLES / name).read_text(errors="replace")
    assert parse_document(text).deadlocks == []
    status = parse_status(text)
    assert (status.deadlocks, status.errors) == ([], [])


# ---------------------------------------------------------------------------------------------
# Formats, one behaviour each.


def fixture(name: str) -> str:
    return (FIXTURES / f"mariadb-10.11_{name}.txt").read_text()


def test_mariadb_conflicting_locks_go_to_the_transaction_that_holds_them():
    (deadlock,) = parse_status(fixture("show-engine-innodb-status_fk-deadlock")).deadlocks
    users = ("shop", "users", "PRIMARY")
    for trx in deadlock.transactions:
        assert lock_tuple(trx.waiting) == (*users, "X,REC_NOT_GAP")
        assert [lock_tuple(lock) for lock in trx.holding] == [(*users, "S,REC_NOT_GAP")]
        assert all(lock.trx_id == trx.trx_id for lock in trx.holding)
    assert deadlock.victim == 1
    assert deadlock.victim_transaction.thread_id == 10


def test_three_transaction_cycle_keeps_all_three():
    (deadlock,) = parse_status(fixture("show-engine-innodb-status_three-way-deadlock")).deadlocks
    assert [t.number for t in deadlock.transactions] == [1, 2, 3]
    assert deadlock.victim == 3
    assert all(len(t.holding) == 1 for t in deadlock.transactions)


def test_gap_lock_and_insert_intention_modes():
    text = fixture("show-engine-innodb-status_gap-insert-intention-deadlock")
    (deadlock,) = parse_status(text).deadlocks
    assert {t.waiting.mode for t in deadlock.transactions} == {"X,GAP,INSERT_INTENTION"}
    assert {h.mode for t in deadlock.transactions for h in t.holding} == {"X,GAP"}


def test_mysql_8_holds_the_locks_for_transaction_1_too():
    text = (
        "------------------------\nLATEST DETECTED DEADLOCK\n------------------------\n"
        "2022-11-25 15:58:22 139815661168384\n*** (1) TRANSACTION:\n"
        "TRANSACTION 43260, ACTIVE 186 sec starting index read\n"
        "MySQL thread id 19, OS thread handle 1398, query id 143 localhost u2 updating\n"
        "UPDATE Animals SET value=30 WHERE name='Aardvark'\n\n"
        "*** (1) HOLDS THE LOCK(S):\nRECORD LOCKS space id 28 page no 4 n bits 72 index PRIMARY"
        " of table `test`.`Birds` trx id 43260 lock mode S locks rec but not gap\n\n"
        "*** (1) WAITING FOR THIS LOCK TO BE GRANTED:\nRECORD LOCKS space id 27 page no 4 n bits"
        " 72 index PRIMARY of table `test`.`Animals` trx id 43260 lock_mode X locks rec but not"
        " gap waiting\n*** WE ROLL BACK TRANSACTION (1)\n"
    )
    (deadlock,) = parse_status(text).deadlocks
    (trx,) = deadlock.transactions
    assert lock_tuple(trx.holding[0]) == ("test", "Birds", "PRIMARY", "S,REC_NOT_GAP")
    assert trx.waiting.waiting is True
    assert trx.query == "UPDATE Animals SET value=30 WHERE name='Aardvark'"


def test_identifiers_in_double_quotes_and_queries_over_several_lines():
    text = fixture("show-engine-innodb-status_ansi-quotes-multi-line-deadlock")
    (deadlock,) = parse_status(text).deadlocks
    first = deadlock.transactions[0]
    assert (first.waiting.schema, first.waiting.table) == ("shop", "accounts")
    assert first.query.splitlines() == [
        'UPDATE "accounts"',
        "   SET balance = balance + 1  -- credit",
        " WHERE id IN (1, 99)",
    ]


@pytest.mark.parametrize("client_format", ["mariadb-table", "mariadb-batch", "mariadb-vertical"])
def test_mysql_client_output_gives_the_same_deadlock_as_the_raw_text(client_format):
    raw = parse_status(fixture("show-engine-innodb-status_fk-deadlock"))
    pasted = parse_status(fixture(f"{client_format}_show-engine-innodb-status_fk-deadlock"))
    assert pasted.errors == []
    assert [d.as_dict() for d in pasted.deadlocks] == [d.as_dict() for d in raw.deadlocks]


def test_client_batch_escapes_are_undone():
    assert unwrap_client_output("Type\tName\tStatus\nInnoDB\t\t\\nA\\nB\\tC\\\\n\n") == (
        "Type\tName\tStatus\nInnoDB\t\t\nA\nB\tC\\n\n"
    )


def test_error_log_with_many_deadlocks_gives_each_in_order():
    result, consumed = parse_error_log(fixture("error-log_burst-20-deadlocks"))
    assert result.errors == []
    assert len(result.deadlocks) == 20
    trx_ids = [int(d.transactions[0].trx_id) for d in result.deadlocks]
    assert trx_ids == sorted(trx_ids)
    assert len({d.key for d in result.deadlocks}) == 20
    assert all(d.timestamp is not None and d.victim == 1 for d in result.deadlocks)
    assert consumed == len(fixture("error-log_burst-20-deadlocks"))


def test_error_log_written_before_ten_in_the_morning_is_read_too():
    # MariaDB pads the hour with a space: "2026-11-24  6:46:51" (found at 00:20 UTC, when
    # every error-log deadlock went missing). The same burst, five hours earlier in the day.
    text = fixture("error-log_burst-20-deadlocks").replace("2026-11-24 16:", "2026-11-24  6:")
    result, consumed = parse_error_log(text)
    assert result.errors == [] and len(result.deadlocks) == 20 and consumed == len(text)
    first = result.deadlocks[0].timestamp
    assert first is not None and first.hour == 6


def test_error_log_dump_still_being_written_is_left_for_the_next_read():
    text = fixture("error-log_burst-20-deadlocks")
    cut = text.index("CONFLICTING WITH", text.index("deadlock detected", 100))
    result, consumed = parse_error_log(text[:cut], final=False)
    assert len(result.deadlocks) == 1
    assert text[consumed:cut].lstrip().startswith("20")  # the second dump, from its first line
    assert "deadlock detected" in text[consumed:cut].splitlines()[0]

    final, _ = parse_error_log(text[:cut], final=True)
    assert len(final.deadlocks) == 1
    assert final.errors == ["truncated"]


def test_mysql_8_error_log_prefixes_are_understood():
    text = (
        "2025-11-10T08:52:25.728726+08:00 0 [Note] [MY-012468] [InnoDB] Transactions deadlock"
        " detected, dumping detailed information.\n"
        "2025-11-10T08:52:25.728850+08:00 0 [Note] [MY-012469] [InnoDB]  *** (1) TRANSACTION:\n"
        "TRANSACTION 3109, ACTIVE 25 sec starting index read\n"
        "MySQL thread id 2243, OS thread handle 1405, query id 16117 localhost app updating\n"
        "update t set name = 'x' where id = 1\n"
        "2025-11-10T08:52:25.728929+08:00 0 [Note] [MY-012469] [InnoDB]  *** (1) WAITING FOR"
        " THIS LOCK TO BE GRANTED:\n"
        "RECORD LOCKS space id 3 page no 4 n bits 72 index PRIMARY of table `app`.`t` trx id"
        " 3109 lock_mode X locks rec but not gap waiting\n"
        "2025-11-10T08:52:25.729000+08:00 0 [Note] [MY-012469] [InnoDB]  *** WE ROLL BACK"
        " TRANSACTION (1)\n"
        "2025-11-10T08:52:26.000000+08:00 0 [Warning] [MY-010055] [Server] something else\n"
    )
    (deadlock,) = parse_error_log(text)[0].deadlocks
    assert deadlock.timestamp.isoformat() == "2025-11-10T08:52:25.728726+08:00"
    assert lock_tuple(deadlock.transactions[0].waiting) == ("app", "t", "PRIMARY", "X,REC_NOT_GAP")
    assert deadlock.transactions[0].query == "update t set name = 'x' where id = 1"


def test_status_dump_inside_an_error_log_is_not_counted_twice():
    status = fixture("show-engine-innodb-status_opposite-order-deadlock")
    log = fixture("error-log_burst-20-deadlocks")
    result = parse_document(log + status + log)
    assert len(result.deadlocks) == 21  # the burst's 20, and the status dump's own one


def test_truncated_status_text_is_reported_not_invented():
    text = fixture("show-engine-innodb-status_fk-deadlock")
    cut = text[: text.index("*** (2) TRANSACTION")]
    result = parse_status(cut)
    assert result.deadlocks == []
    assert result.errors == ["truncated"]


def test_status_cut_right_after_the_section_title_is_truncated():
    text = fixture("show-engine-innodb-status_fk-deadlock")
    result = parse_status(text[: text.index("LATEST DETECTED DEADLOCK") + 24])
    assert (result.deadlocks, result.errors) == ([], ["truncated"])


@pytest.mark.parametrize(
    "garbage", ["", "hello", "\x00\x01\x02", "ERROR 1227 (42000): Access denied", "*" * 10_000]
)
def test_garbage_is_not_status_output(garbage):
    result = parse_status(garbage)
    assert (result.deadlocks, result.errors) == ([], ["not_status_output"])
    assert parse_document(garbage).deadlocks == []


def test_mariadb_victim_zero_is_unknown_not_a_wrong_transaction():
    text = fixture("show-engine-innodb-status_fk-deadlock").replace(
        "WE ROLL BACK TRANSACTION (1)", "WE ROLL BACK TRANSACTION (0)"
    )
    result = parse_status(text)
    assert result.deadlocks[0].victim is None
    assert result.errors == ["unknown_victim"]


def test_unparsable_lock_line_is_counted_and_the_rest_kept():
    text = fixture("show-engine-innodb-status_opposite-order-deadlock").replace(
        "RECORD LOCKS space id", "RECORD LOCKS space of", 1
    )
    result = parse_status(text)
    assert result.errors == ["unparsed_lock"]
    (deadlock,) = result.deadlocks
    assert deadlock.transactions[0].waiting is None
    assert deadlock.transactions[1].waiting is not None


# ---------------------------------------------------------------------------------------------
# Pieces.


@pytest.mark.parametrize(
    ("text", "mode", "waiting"),
    [
        ("X", "X", False),
        ("S", "S", False),
        ("X locks rec but not gap", "X,REC_NOT_GAP", False),
        ("S locks rec but not gap waiting", "S,REC_NOT_GAP", True),
        ("X locks gap before rec", "X,GAP", False),
        ("S locks gap before rec", "S,GAP", False),
        ("X locks gap before rec insert intention waiting", "X,GAP,INSERT_INTENTION", True),
        ("X insert intention waiting", "X,INSERT_INTENTION", True),
        ("IX", "IX", False),
        ("IS", "IS", False),
        ("AUTO-INC waiting", "AUTO_INC", True),
    ],
)
def test_lock_modes_normalise_to_the_data_locks_vocabulary(text, mode, waiting):
    assert normalise_lock_mode(text) == (mode, waiting, True)
    assert mode in LOCK_MODES


def test_unknown_lock_mode_is_flagged():
    assert normalise_lock_mode("SIX something waiting") == ("SIX_SOMETHING", True, False)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("`shop`.`users`", ("shop", "users")),
        ('"percona_com_redesign2015"."semaphore"', ("percona_com_redesign2015", "semaphore")),
        ("shop.users", ("shop", "users")),
        ("`test/innotop_dl`", ("test", "innotop_dl")),
        ("test/innotop_dl", ("test", "innotop_dl")),
        ("`we``ird`.`t.1`", ("we`ird", "t.1")),
        ("`db`.`t` /* Partition `p1` */", ("db", "t")),
        ("`db`.`t#P#p1`", ("db", "t")),
        ("users", (None, "users")),
    ],
)
def test_table_names_in_backticks_double_quotes_or_bare(text, expected):
    assert split_table_name(text) == expected


def test_table_lock_line():
    line = "TABLE LOCK table `shop`.`orders` trx id 421 lock mode IX"
    lock, error = parse_lock_line(line)
    assert error is None
    assert (lock.type, lock.schema, lock.table, lock.index, lock.mode) == (
        "TABLE",
        "shop",
        "orders",
        None,
        "IX",
    )


def test_old_two_number_trx_ids_become_one():
    line = (
        "RECORD LOCKS space id 0 page no 3662 n bits 72 index `GEN_CLUST_INDEX` of table"
        " `test/innotop_dl` trx id 1 3793488 lock_mode X waiting"
    )
    lock, _ = parse_lock_line(line)
    assert lock.trx_id == str((1 << 32) + 3793488)
    assert lock.waiting

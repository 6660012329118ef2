"""The deadlock store: each deadlock counted once, labels bounded, the last N kept."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from exporters.innodb.parser import Deadlock, Lock, Transaction, parse_error_log
from exporters.innodb.store import OTHER, DeadlockStore, epoch_seconds

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "innodb"


def burst() -> list[Deadlock]:
    text = (FIXTURES / "mariadb-10.11_error-log_burst-20-deadlocks.txt").read_text()
    return parse_error_log(text)[0].deadlocks


def deadlock_on(
    table: str, trx_ids: tuple[str, str], query: str = "UPDATE t SET a = 1"
) -> Deadlock:
    def lock(trx_id: str) -> Lock:
        return Lock("shop", table, "PRIMARY", "RECORD", "X,REC_NOT_GAP", trx_id, True)

    transactions = [
        Transaction(
            number=i + 1, trx_id=trx_id, thread_id=i + 10, query=query, waiting=lock(trx_id)
        )
        for i, trx_id in enumerate(trx_ids)
    ]
    return Deadlock(datetime(2026, 1, 1, 12, 0, 0), 2, False, transactions)


def test_the_same_deadlock_from_two_sources_counts_once():
    store = DeadlockStore()
    (first, *_) = burst()
    assert store.add(first, "error_log") is True
    assert store.add(first, "status") is False
    assert store.captured == {"error_log": 1, "status": 0}
    assert sum(store.locks.values()) == 4  # two waiting, two holding
    assert len(store.recent) == 1


def test_every_deadlock_of_a_burst_is_counted_with_its_locks_and_victim():
    store = DeadlockStore()
    for deadlock in burst():
        store.add(deadlock, "error_log")
    assert store.captured["error_log"] == 20
    assert store.locks[("shop", "accounts", "PRIMARY", "X,REC_NOT_GAP", "waiting")] == 40
    assert store.locks[("shop", "accounts", "PRIMARY", "X,REC_NOT_GAP", "holding")] == 40
    assert store.victims[("shop", "accounts")] == 20


def test_tables_beyond_the_limit_share_one_other_label():
    store = DeadlockStore(max_tables=2)
    for i in range(5):
        store.add(deadlock_on(f"t{i}", (str(2 * i), str(2 * i + 1))), "status")
    tables = {labels[:2] for labels in store.locks}
    assert tables == {("shop", "t0"), ("shop", "t1"), (OTHER, OTHER)}
    assert store.victims[(OTHER, OTHER)] == 3
    assert all(labels[2] == OTHER for labels in store.locks if labels[1] == OTHER)


def test_an_allow_list_names_the_only_tables_with_their_own_labels():
    store = DeadlockStore(tables={"shop.orders"})
    store.add(deadlock_on("orders", ("1", "2")), "status")
    store.add(deadlock_on("users", ("3", "4")), "status")
    assert set(store.victims) == {("shop", "orders"), (OTHER, OTHER)}


def test_statement_sets_are_bounded_and_carry_no_literals():
    store = DeadlockStore(max_statements=1)
    store.add(deadlock_on("t", ("1", "2"), "UPDATE t SET a = 1 WHERE id = 42"), "status")
    store.add(deadlock_on("t", ("3", "4"), "DELETE FROM t WHERE id = 7"), "status")
    assert store.statements == {"update t set a = ? where id = ?": 1, OTHER: 1}


def test_only_the_last_n_deadlocks_are_kept_for_the_json_endpoint():
    store = DeadlockStore(kept=3)
    for deadlock in burst():
        store.add(deadlock, "error_log")
    assert len(store.recent) == 3
    newest = store.recent[-1].as_dict()
    assert newest["tables"] == ["shop.accounts"]
    assert newest["modes"] == ["X,REC_NOT_GAP"]
    assert all("?" in t["query"] for t in newest["transactions"])
    assert sum(t["victim"] for t in newest["transactions"]) == 1
    raw = store.recent[-1].as_dict(raw_queries=True)
    assert any(char.isdigit() for t in raw["transactions"] for char in t["query"])


def test_last_timestamp_uses_the_servers_utc_offset():
    store = DeadlockStore()
    store.add(deadlock_on("t", ("1", "2")), "status", utc_offset_seconds=3600)
    assert store.last_timestamp == datetime(2026, 1, 1, 11, 0, 0, tzinfo=UTC).timestamp()
    aware = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert epoch_seconds(aware, 7200) == aware.timestamp()
    assert epoch_seconds(None, 0) is None

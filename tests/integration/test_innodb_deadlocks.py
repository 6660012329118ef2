"""Real deadlocks of four kinds on the harness MariaDB, and what the InnoDB exporter makes of them.

The scenarios at the top are also what tests/fixtures/innodb/generate_fixtures.py runs to make the
MariaDB fixtures, so the fixtures and these tests show the same deadlocks.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pymysql
import pytest
from prometheus_client import CollectorRegistry

from exporters.innodb.collector import InnoDBCollector
from exporters.innodb.config import Settings

pytestmark = pytest.mark.integration

DEADLOCK = 1213

# Per transaction: its statements before the barrier, and after it.
Transactions = tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]


@dataclass(frozen=True)
class Scenario:
    """Tables to create, then per transaction: statements before the barrier, and after it.

    Every transaction takes its first locks, all meet at a barrier, then all ask for the lock
    another one holds: the last request closes the cycle, so the deadlock happens every time.
    """

    name: str
    setup: tuple[str, ...]
    transactions: Transactions


def one_statement_each(*steps: tuple[str, str]) -> Transactions:
    """Transactions of one statement before the barrier and one after it, a (before, after) each."""
    return tuple(((before,), (after,)) for before, after in steps)


FK_INSERT_THEN_PARENT_UPDATE = Scenario(
    "fk-deadlock",
    setup=(
        "CREATE TABLE users (id INT PRIMARY KEY, username VARCHAR(50) NOT NULL,"
        " point INT NOT NULL) ENGINE=InnoDB",
        "CREATE TABLE orders (id INT AUTO_INCREMENT PRIMARY KEY, user_id INT NOT NULL,"
        " amount INT NOT NULL, CONSTRAINT fk_orders_user FOREIGN KEY (user_id)"
        " REFERENCES users (id)) ENGINE=InnoDB",
        "INSERT INTO users VALUES (1, 'alice', 1000), (2, 'bob', 1000)",
    ),
    transactions=one_statement_each(
        (
            "INSERT INTO orders (user_id, amount) VALUES (1, 10)",
            "UPDATE users SET point = point - 10, username = 'alice' WHERE id = 1",
        ),
        (
            "INSERT INTO orders (user_id, amount) VALUES (1, 20)",
            "UPDATE users SET point = point - 20, username = 'alice' WHERE id = 1",
        ),
    ),
)

OPPOSITE_ORDER = Scenario(
    "opposite-order-deadlock",
    setup=(
        "CREATE TABLE accounts (id INT PRIMARY KEY, balance INT NOT NULL) ENGINE=InnoDB",
        "INSERT INTO accounts VALUES (1, 100), (2, 100)",
    ),
    transactions=one_statement_each(
        (
            "UPDATE accounts SET balance = balance - 5 WHERE id = 1",
            "UPDATE accounts SET balance = balance + 5 WHERE id = 2",
        ),
        (
            "UPDATE accounts SET balance = balance - 7 WHERE id = 2",
            "UPDATE accounts SET balance = balance + 7 WHERE id = 1",
        ),
    ),
)

THREE_WAY_CYCLE = Scenario(
    "three-way-deadlock",
    setup=(
        "CREATE TABLE items (id INT PRIMARY KEY, stock INT NOT NULL) ENGINE=InnoDB",
        "INSERT INTO items VALUES (1, 10), (2, 10), (3, 10)",
    ),
    transactions=one_statement_each(
        *(
            (
                f"UPDATE items SET stock = stock - 1 WHERE id = {i}",
                f"UPDATE items SET stock = stock - 1 WHERE id = {i % 3 + 1}",
            )
            for i in (1, 2, 3)
        )
    ),
)

GAP_INSERT_INTENTION = Scenario(
    "gap-insert-intention-deadlock",
    setup=(
        "CREATE TABLE slots (id INT PRIMARY KEY, note VARCHAR(20)) ENGINE=InnoDB",
        "INSERT INTO slots VALUES (10, 'ten'), (20, 'twenty')",
    ),
    transactions=one_statement_each(
        (
            "SELECT * FROM slots WHERE id = 15 FOR UPDATE",
            "INSERT INTO slots VALUES (15, 'fifteen')",
        ),
        (
            "SELECT * FROM slots WHERE id = 16 FOR UPDATE",
            "INSERT INTO slots VALUES (16, 'sixteen')",
        ),
    ),
)

SCENARIOS = (FK_INSERT_THEN_PARENT_UPDATE, OPPOSITE_ORDER, THREE_WAY_CYCLE, GAP_INSERT_INTENTION)


@dataclass
class Outcome:
    thread_ids: list[int] = field(default_factory=list)  # CONNECTION_ID() per transaction
    errors: list[int | None] = field(default_factory=list)  # MySQL error code per transaction

    @property
    def victims(self) -> list[int]:
        """Indexes of the transactions that were rolled back by the deadlock."""
        return [i for i, code in enumerate(self.errors) if code == DEADLOCK]


def set_up(connect: Callable[[], pymysql.Connection], scenario: Scenario) -> None:
    with connect() as conn, conn.cursor() as cur:
        for statement in scenario.setup:
            cur.execute(statement)


def provoke(
    connect: Callable[[], pymysql.Connection], scenario: Scenario, rounds: int = 1
) -> list[Outcome]:
    """Run the scenario's transactions concurrently `rounds` times, one connection each."""
    connections = [connect() for _ in scenario.transactions]
    outcomes = []
    try:
        for conn in connections:
            with conn.cursor() as cur:
                cur.execute("SET SESSION innodb_lock_wait_timeout = 10")
        for _ in range(rounds):
            outcomes.append(_one_round(connections, scenario))
    finally:
        for conn in connections:
            conn.close()
    return outcomes


def _one_round(connections: list[pymysql.Connection], scenario: Scenario) -> Outcome:
    barrier = threading.Barrier(len(connections), timeout=20)
    outcome = Outcome(thread_ids=[c.thread_id() for c in connections])
    outcome.errors = [None] * len(connections)

    def run(i: int, conn: pymysql.Connection) -> None:
        first, second = scenario.transactions[i]
        with conn.cursor() as cur:
            cur.execute("BEGIN")
            for statement in first:
                cur.execute(statement)
            barrier.wait()
            try:
                for statement in second:
                    cur.execute(statement)
                cur.execute("ROLLBACK")  # keep the data as set up, for the next round
            except pymysql.err.OperationalError as exc:
                outcome.errors[i] = exc.args[0]
                cur.execute("ROLLBACK")

    threads = [
        threading.Thread(target=run, args=(i, conn), name=f"trx-{i + 1}")
        for i, conn in enumerate(connections)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcome


# ---------------------------------------------------------------------------------------------
# Reading the exporter and the server.


def server_deadlocks(mariadb) -> float:
    with mariadb.connect() as conn, conn.cursor() as cur:
        cur.execute("SHOW GLOBAL STATUS LIKE 'Innodb_deadlocks'")
        return float(cur.fetchone()[1])


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def scrape_until(registry, name: str, labels: dict, at_least: float, timeout: float = 5.0):
    """Scrape until a sample reaches a value: MariaDB writes a dump to its log in pieces."""
    deadline = time.monotonic() + timeout
    while True:
        current = value(registry, name, **labels)
        if current >= at_least or time.monotonic() > deadline:
            return current
        time.sleep(0.1)


@dataclass
class Exporter:
    collector: InnoDBCollector
    registry: CollectorRegistry


@contextmanager
def exporters_on(mariadb) -> Iterator[Callable[..., Exporter]]:
    """Makes collectors on the harness MariaDB, each scraped once (its baseline); closes them."""
    made: list[InnoDBCollector] = []

    def make(error_log: bool = True) -> Exporter:
        env = {"INNODB_EXPORTER_DSN": mariadb.dsn()}
        if error_log:
            env["INNODB_EXPORTER_ERROR_LOG"] = str(mariadb.error_log)
        collector = InnoDBCollector(Settings.from_env(env))
        registry = CollectorRegistry()
        registry.register(collector)
        assert registry.get_sample_value("innodb_up") == 1.0
        made.append(collector)
        return Exporter(collector, registry)

    try:
        yield make
    finally:
        for collector in made:
            collector.close()


@pytest.fixture
def make_exporter(mariadb) -> Iterator[Callable[..., Exporter]]:
    with exporters_on(mariadb) as make:
        yield make


@pytest.fixture
def connect(mariadb, mysql_database) -> Callable[[], pymysql.Connection]:
    return lambda: mariadb.connect(mysql_database)


def locks(registry, schema, table, index, mode, role) -> float:
    return value(
        registry,
        "innodb_deadlock_locks_total",
        schema=schema,
        table=table,
        index=index,
        lock_mode=mode,
        role=role,
    )


def assert_one_captured_deadlock(exporter: Exporter, mariadb, before: float) -> None:
    captured = scrape_until(
        exporter.registry,
        "innodb_deadlocks_captured_total",
        {"source": "error_log"},
        before + 1,
    )
    assert captured == before + 1
    assert value(exporter.registry, "innodb_deadlocks_total") == server_deadlocks(mariadb)
    assert value(exporter.registry, "innodb_status_parse_errors_total", reason="truncated") == 0


def victim_thread(exporter: Exporter) -> int:
    latest = exporter.collector.recent_deadlocks(1)[0]
    return next(t["thread_id"] for t in latest["transactions"] if t["victim"])


def deadlock_once(make_exporter, connect, mariadb, scenario: Scenario) -> tuple[Exporter, Outcome]:
    """A fresh exporter, the scenario set up and run once: one victim, one deadlock captured."""
    exporter = make_exporter()
    before = value(exporter.registry, "innodb_deadlocks_captured_total", source="error_log")
    set_up(connect, scenario)

    (outcome,) = provoke(connect, scenario)

    assert len(outcome.victims) == 1
    assert_one_captured_deadlock(exporter, mariadb, before)
    return exporter, outcome


def assert_cycle(
    exporter: Exporter, outcome: Outcome, db: str, table: str, waiting: str, holding: str, n: int
) -> None:
    """`n` transactions each held a lock of mode `holding` on the table's primary key and waited
    for one of mode `waiting`; the one victim counted on the table, and the exporter's victim
    the connection that was rolled back."""
    assert locks(exporter.registry, db, table, "PRIMARY", waiting, "waiting") == n
    assert locks(exporter.registry, db, table, "PRIMARY", holding, "holding") == n
    assert value(exporter.registry, "innodb_deadlock_victims_total", schema=db, table=table) == 1
    assert victim_thread(exporter) == outcome.thread_ids[outcome.victims[0]]


# ---------------------------------------------------------------------------------------------
# The four kinds.


def test_fk_insert_then_parent_update_deadlocks_on_the_users_row(
    make_exporter, connect, mariadb, mysql_database
):
    exporter, outcome = deadlock_once(make_exporter, connect, mariadb, FK_INSERT_THEN_PARENT_UPDATE)
    # Each order insert share-locked the user row (the foreign key check); each payment then
    # wanted it exclusively.
    assert_cycle(exporter, outcome, mysql_database, "users", "X,REC_NOT_GAP", "S,REC_NOT_GAP", 2)
    # Both payments have the same fingerprint: the set of statements is that one.
    statements = "update users set point = point - ?, username = ? where id = ?"
    assert value(exporter.registry, "innodb_deadlock_statements_total", statements=statements) >= 1


def test_rows_locked_in_opposite_order_deadlock(make_exporter, connect, mariadb, mysql_database):
    exporter, outcome = deadlock_once(make_exporter, connect, mariadb, OPPOSITE_ORDER)
    assert_cycle(exporter, outcome, mysql_database, "accounts", "X,REC_NOT_GAP", "X,REC_NOT_GAP", 2)


def test_three_transaction_cycle_deadlock(make_exporter, connect, mariadb, mysql_database):
    exporter, outcome = deadlock_once(make_exporter, connect, mariadb, THREE_WAY_CYCLE)
    assert_cycle(exporter, outcome, mysql_database, "items", "X,REC_NOT_GAP", "X,REC_NOT_GAP", 3)
    latest = exporter.collector.recent_deadlocks(1)[0]
    assert len(latest["transactions"]) == 3


def test_gap_lock_then_insert_intention_deadlock(make_exporter, connect, mariadb, mysql_database):
    exporter, outcome = deadlock_once(make_exporter, connect, mariadb, GAP_INSERT_INTENTION)
    assert_cycle(exporter, outcome, mysql_database, "slots", "X,GAP,INSERT_INTENTION", "X,GAP", 2)


# ---------------------------------------------------------------------------------------------
# Every deadlock, or only the latest.


def test_burst_of_20_deadlocks_all_captured_from_error_log_status_alone_falls_short(
    make_exporter, connect, mariadb, mysql_database
):
    with_log = make_exporter(error_log=True)
    status_only = make_exporter(error_log=False)
    captured = "innodb_deadlocks_captured_total"
    log_before = value(with_log.registry, captured, source="error_log")
    status_before = value(status_only.registry, captured, source="status")
    server_before = server_deadlocks(mariadb)
    set_up(connect, OPPOSITE_ORDER)

    outcomes = provoke(connect, OPPOSITE_ORDER, rounds=20)

    # Each round a deadlock the server detected at once (1213), never a wait that ran into
    # innodb_lock_wait_timeout (1205): 20 deadlocks, not 20 timeouts.
    assert [sorted(e for e in outcome.errors if e) for outcome in outcomes] == [[DEADLOCK]] * 20
    assert all(len(outcome.victims) == 1 for outcome in outcomes)
    assert server_deadlocks(mariadb) == server_before + 20

    got = scrape_until(with_log.registry, captured, {"source": "error_log"}, log_before + 20)
    assert got - log_before == 20
    assert value(with_log.registry, "innodb_deadlocks_missed") == 0
    victims = value(
        with_log.registry, "innodb_deadlock_victims_total", schema=mysql_database, table="accounts"
    )
    assert victims == 20

    status_got = value(status_only.registry, captured, source="status") - status_before
    assert 1 <= status_got < 20  # one poll sees the latest deadlock only
    assert value(status_only.registry, "innodb_deadlocks_missed") == 20 - status_got
    for exporter in (with_log, status_only):
        assert value(exporter.registry, "innodb_deadlocks_total") == server_deadlocks(mariadb)


def test_deadlock_seen_in_status_and_error_log_counts_once(make_exporter, connect, mariadb):
    exporter = make_exporter(error_log=True)
    before = {
        source: value(exporter.registry, "innodb_deadlocks_captured_total", source=source)
        for source in ("status", "error_log")
    }
    set_up(connect, OPPOSITE_ORDER)
    provoke(connect, OPPOSITE_ORDER)

    scrape_until(
        exporter.registry,
        "innodb_deadlocks_captured_total",
        {"source": "error_log"},
        before["error_log"] + 1,
    )
    for _ in range(3):  # the status text keeps showing it as the latest deadlock
        exporter.registry.get_sample_value("innodb_up")

    after = {
        source: value(exporter.registry, "innodb_deadlocks_captured_total", source=source)
        for source in ("status", "error_log")
    }
    assert sum(after.values()) - sum(before.values()) == 1


# ---------------------------------------------------------------------------------------------
# Literals stay in the server.

SECRET = "hunter2-S3cr3t-Literal"
SECRET_UPDATES = Scenario(
    "secret-literal-deadlock",
    setup=(
        "CREATE TABLE logins (id INT PRIMARY KEY, password VARCHAR(64) NOT NULL) ENGINE=InnoDB",
        "INSERT INTO logins VALUES (1, 'a'), (2, 'b')",
    ),
    transactions=tuple(
        (
            (f"UPDATE logins SET password = '{SECRET}-{first}' WHERE id = {first}",),
            (f"UPDATE logins SET password = '{SECRET}' WHERE id = {second} AND password <> "
             f"'{SECRET}-old'",),
        )
        for first, second in ((1, 2), (2, 1))
    ),
)  # fmt: skip


def test_a_password_literal_reaches_no_label_and_not_deadlocks(make_exporter, connect, mariadb):
    import json
    import urllib.request

    from exporters.innodb.server import ExporterServer

    exporter = make_exporter(error_log=True)
    before = value(exporter.registry, "innodb_deadlocks_captured_total", source="error_log")
    set_up(connect, SECRET_UPDATES)
    (outcome,) = provoke(connect, SECRET_UPDATES)
    assert len(outcome.victims) == 1
    assert mariadb.error_log.read_text().count(SECRET) >= 2  # the server itself wrote it down
    scrape_until(
        exporter.registry, "innodb_deadlocks_captured_total", {"source": "error_log"}, before + 1
    )
    server = ExporterServer(exporter.collector, "127.0.0.1", 0).start()
    try:
        with urllib.request.urlopen(f"{server.url}/metrics", timeout=10) as response:
            metrics = response.read().decode()
        with urllib.request.urlopen(f"{server.url}/deadlocks", timeout=10) as response:
            deadlocks = response.read().decode()
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()
    statements = "update logins set password = ? where id = ? and password <> ?"
    assert statements in metrics  # the deadlock is there, its statements fingerprinted
    assert statements in json.dumps(json.loads(deadlocks))
    assert SECRET not in metrics
    assert SECRET.lower() not in metrics.lower()
    assert SECRET.lower() not in deadlocks.lower()

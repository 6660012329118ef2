"""The InnoDB exporter against real servers: lock waits, privileges, outages, the HTTP side."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pymysql
import pytest
import requests
from prometheus_client import CollectorRegistry

from exporters.innodb.collector import InnoDBCollector
from exporters.innodb.config import Settings
from exporters.innodb.server import ExporterServer
from stack.ephemeral import MariaDB
from stack.processes import free_port
from tests.integration.test_innodb_deadlocks import (
    OPPOSITE_ORDER,
    exporters_on,
    provoke,
    server_deadlocks,
    set_up,
    value,
)

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "innodb"
EXPORTER = (sys.executable, "-m", "exporters.innodb")


@pytest.fixture
def make_exporter(mariadb):
    with exporters_on(mariadb) as make:
        yield make


@pytest.fixture
def connect(mariadb, mysql_database):
    return lambda: mariadb.connect(mysql_database)


def wait_for_lock_wait(mariadb, thread_id: int, timeout: float = 10.0) -> None:
    """Until `thread_id` waits for a lock (INNODB_TRX is a cache refreshed at most every 0.1 s)."""
    deadline = time.monotonic() + timeout
    with mariadb.connect() as conn, conn.cursor() as cur:
        while time.monotonic() < deadline:
            cur.execute(
                "SELECT COUNT(*) FROM information_schema.INNODB_TRX"
                " WHERE trx_state = 'LOCK WAIT' AND trx_mysql_thread_id = %s",
                (thread_id,),
            )
            if cur.fetchone()[0]:
                return
            time.sleep(0.2)
    raise AssertionError(f"thread {thread_id} never waited for a lock")


@pytest.fixture
def mysql_user(mariadb):
    """Factory for a user with the given grants on the harness MariaDB; dropped afterwards."""
    made = []

    def make(*grants: str) -> str:
        name = f"innodb_{uuid.uuid4().hex[:8]}"
        with mariadb.connect() as conn, conn.cursor() as cur:
            cur.execute(f"CREATE USER '{name}'@'127.0.0.1' IDENTIFIED BY 'secret'")
            for grant in grants:
                cur.execute(f"GRANT {grant} TO '{name}'@'127.0.0.1'")
        made.append(name)
        return f"mysql://{name}:secret@{mariadb.host}:{mariadb.port}/"

    yield make
    with mariadb.connect() as conn, conn.cursor() as cur:
        for name in made:
            cur.execute(f"DROP USER IF EXISTS '{name}'@'127.0.0.1'")


def registry_for(collector: InnoDBCollector) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(collector)
    return registry


def test_lock_wait_held_open_shows_within_one_scrape_with_the_blocking_thread(
    make_exporter, connect, mariadb, mysql_database
):
    exporter = make_exporter(error_log=False)
    with connect() as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE stock (id INT PRIMARY KEY, qty INT NOT NULL) ENGINE=InnoDB")
        cur.execute("INSERT INTO stock VALUES (1, 5)")
    holder, waiter = connect(), connect()
    try:
        with holder.cursor() as cur:
            cur.execute("BEGIN")
            cur.execute("SELECT qty FROM stock WHERE id = 1 FOR UPDATE")
        waiting = threading.Thread(
            target=lambda: waiter.cursor().execute("UPDATE stock SET qty = qty - 1 WHERE id = 1")
        )
        waiting.start()
        wait_for_lock_wait(mariadb, waiter.thread_id())
        time.sleep(1.0)

        registry = exporter.registry
        assert value(registry, "innodb_lock_waits") == 1
        assert value(registry, "innodb_lock_wait_seconds_max") >= 1.0
        by_table = {"schema": mysql_database, "table": "stock"}
        assert value(registry, "innodb_lock_waits_by_table", **by_table) == 1
        chain = {
            "waiting_thread": str(waiter.thread_id()),
            "blocking_thread": str(holder.thread_id()),
            "index": "PRIMARY",
            "lock_mode": "X",
            **by_table,
        }
        assert value(registry, "innodb_lock_wait_seconds", **chain) >= 1.0
    finally:
        holder.rollback()
        holder.close()
        waiting.join(timeout=10)
        waiter.close()
    # INNODB_TRX is a cache refreshed at most every 0.1 s: wait for it, within a bound.
    deadline = time.monotonic() + 30
    while value(exporter.registry, "innodb_lock_waits") != 0:
        assert time.monotonic() < deadline, "the finished lock wait is still reported"
        time.sleep(0.1)
    assert value(exporter.registry, "innodb_lock_wait_seconds_max") == 0


def test_missing_privilege_is_a_log_line_and_a_metric_not_a_crash(mariadb, mysql_user, caplog):
    collector = InnoDBCollector(Settings.from_env({"INNODB_EXPORTER_DSN": mysql_user()}))
    registry = registry_for(collector)
    with caplog.at_level(logging.WARNING, logger="exporters.innodb"):
        for _ in range(3):
            assert registry.get_sample_value("innodb_up") == 1.0
    try:
        success = "innodb_exporter_collector_success"
        errors = "innodb_exporter_query_errors_total"
        assert registry.get_sample_value(success, {"collector": "status"}) == 0
        assert registry.get_sample_value(success, {"collector": "lock_waits"}) == 0
        assert value(registry, errors, collector="status", reason="access_denied") >= 3
        # Global status needs no privilege: the exact counter still comes.
        assert value(registry, "innodb_deadlocks_total") == server_deadlocks(mariadb)
        denied = [r for r in caplog.records if "access_denied" in r.getMessage()]
        assert {r.getMessage().split(":")[0] for r in denied} == {"status", "lock_waits"}
        assert all("PROCESS" in r.getMessage() for r in denied)
    finally:
        collector.close()


def test_process_privilege_alone_reads_every_source(mariadb, mysql_user):
    collector = InnoDBCollector(
        Settings.from_env({"INNODB_EXPORTER_DSN": mysql_user("PROCESS ON *.*")})
    )
    registry = registry_for(collector)
    try:
        assert registry.get_sample_value("innodb_up") == 1.0
        for source in ("status", "lock_waits", "deadlock_counter"):
            labels = {"collector": source}
            assert registry.get_sample_value("innodb_exporter_collector_success", labels) == 1
        assert value(registry, "innodb_lock_waits") == 0
    finally:
        collector.close()


def test_server_unreachable_at_start_is_up_0_and_backs_off():
    dsn = f"mysql://root@127.0.0.1:{free_port()}/"
    collector = InnoDBCollector(Settings.from_env({"INNODB_EXPORTER_DSN": dsn}))
    registry = registry_for(collector)
    before = set(threading.enumerate())

    assert registry.get_sample_value("innodb_up") == 0.0
    assert registry.get_sample_value("innodb_deadlocks_total") is None
    assert registry.get_sample_value("innodb_lock_waits") is None
    attempts = "innodb_exporter_connect_attempts_total"
    assert registry.get_sample_value(attempts, {"result": "failure"}) == 1
    registry.get_sample_value("innodb_up")  # at once again: still backing off, no new attempt
    assert registry.get_sample_value(attempts, {"result": "failure"}) == 1
    assert not set(threading.enumerate()) - before  # backing off starts no thread
    collector.close()


def _metrics(url: str) -> dict[str, float]:
    response = requests.get(f"{url}/metrics", headers={"Connection": "close"}, timeout=10)
    assert response.status_code == 200
    samples = {}
    for line in response.text.splitlines():
        if line and not line.startswith("#"):
            name, _, number = line.rpartition(" ")
            samples[name] = float(number)
    return samples


def _connections_of(server: MariaDB, user: str) -> int:
    with server.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = %s", (user,))
        return cur.fetchone()[0]


def test_stopping_mariadb_under_the_running_exporter_then_starting_it_again(harness_root):
    server = MariaDB(harness_root / "mariadb-restart").start()
    exporter = None
    try:
        with server.connect() as conn, conn.cursor() as cur:
            cur.execute("CREATE USER 'exporter'@'127.0.0.1' IDENTIFIED BY 'pw'")
            cur.execute("GRANT PROCESS ON *.* TO 'exporter'@'127.0.0.1'")
        settings = Settings.from_env(
            {
                "INNODB_EXPORTER_DSN": f"mysql://exporter:pw@127.0.0.1:{server.port}/",
                "INNODB_EXPORTER_BACKOFF_MAX": "1",
            }
        )
        exporter = ExporterServer(InnoDBCollector(settings), "127.0.0.1", 0).start()
        assert _metrics(exporter.url)["innodb_up"] == 1
        before = set(threading.enumerate())

        server.stop()
        for _ in range(3):
            samples = _metrics(exporter.url)
            assert samples["innodb_up"] == 0
            assert "innodb_deadlocks_total" not in samples
            assert "innodb_lock_waits" not in samples
        health = requests.get(f"{exporter.url}/healthz", headers={"Connection": "close"}, timeout=5)
        assert health.status_code == 200
        assert health.json() == {"status": "ok", "mysql_up": False}

        server.start()
        deadline = time.monotonic() + 30
        while _metrics(exporter.url)["innodb_up"] != 1:
            assert time.monotonic() < deadline, "the exporter never reconnected"
            time.sleep(0.3)
        samples = _metrics(exporter.url)
        assert samples['innodb_exporter_collector_success{collector="status"}'] == 1
        assert samples['innodb_exporter_connect_attempts_total{result="success"}'] == 2
        assert _connections_of(server, "exporter") == 1
        # Reconnecting started no thread of its own. The server's request threads end once
        # their response is written (every request here says Connection: close): join them,
        # rather than poll a process-wide count that other threads of the session move.
        started = set(threading.enumerate()) - before
        for thread in started:
            if thread.name.endswith("(process_request_thread)"):
                thread.join(timeout=10)
        assert not [t.name for t in started if t.is_alive()]
    finally:
        if exporter is not None:
            exporter.stop()
        server.stop()


def test_garbage_and_truncated_status_text_are_counted_and_last_values_kept(
    make_exporter, connect, mysql_database
):
    exporter = make_exporter(error_log=False)
    set_up(connect, OPPOSITE_ORDER)
    before = time.time()
    provoke(connect, OPPOSITE_ORDER)
    registry = exporter.registry
    locks = {
        "schema": mysql_database,
        "table": "accounts",
        "index": "PRIMARY",
        "lock_mode": "X,REC_NOT_GAP",
        "role": "waiting",
    }
    assert value(registry, "innodb_deadlock_locks_total", **locks) == 2
    last = value(registry, "innodb_deadlock_last_timestamp_seconds")
    # This deadlock's own time (the status says it to the second): no older one, no other zone.
    assert int(before) - 1 <= last <= time.time() + 1, (before, last)

    real = (FIXTURES / "mariadb-10.11_show-engine-innodb-status_fk-deadlock.txt").read_text()
    exporter.collector.ingest_status("\x00\x01 this is not what SHOW ENGINE INNODB STATUS says")
    exporter.collector.ingest_status(real[: real.index("*** (2) TRANSACTION")])

    errors = "innodb_status_parse_errors_total"
    assert value(registry, errors, reason="not_status_output") == 1
    assert value(registry, errors, reason="truncated") == 1
    assert value(registry, "innodb_up") == 1
    assert value(registry, "innodb_deadlock_locks_total", **locks) == 2
    assert value(registry, "innodb_deadlock_last_timestamp_seconds") == last


def _dumps(name: str) -> list[str]:
    """The deadlock dumps of an error-log fixture, each with its lines."""
    text = (FIXTURES / name).read_text()
    starts = [m.start() for m in re.finditer(r"(?m)^.*Transactions deadlock detected", text)]
    return [text[a:b] for a, b in zip(starts, [*starts[1:], len(text)], strict=True)]


def test_error_log_followed_across_partial_writes_rotation_and_truncation(tmp_path):
    dumps = _dumps("mariadb-10.11_error-log_burst-20-deadlocks.txt")
    log = tmp_path / "error.log"
    log.write_text("2026-11-24 16:29:13 0 [Note] Starting MariaDB\n" + dumps[0])
    settings = Settings.from_env(
        {
            "INNODB_EXPORTER_DSN": f"mysql://root@127.0.0.1:{free_port()}/",
            "INNODB_EXPORTER_ERROR_LOG": str(log),
        }
    )
    collector = InnoDBCollector(settings)
    registry = registry_for(collector)

    def captured() -> float:
        return value(registry, "innodb_deadlocks_captured_total", source="error_log")

    def append(path: Path, text: str) -> None:
        with path.open("a") as handle:
            handle.write(text)

    assert captured() == 0  # what was there before we started is history
    append(log, "".join(dumps[1:6]))
    assert captured() == 5
    half = len(dumps[6]) // 2
    append(log, dumps[6][:half])
    assert captured() == 5  # a dump still being written waits
    append(log, dumps[6][half:])
    assert captured() == 6

    log.rename(tmp_path / "error.log.1")  # logrotate: rename, the server still writes the old
    append(tmp_path / "error.log.1", dumps[7])
    log.write_text(dumps[8])  # then reopens the new file
    assert captured() == 8
    assert value(registry, "innodb_exporter_error_log_reopens_total", reason="rotated") == 1

    append(log, dumps[9][:half])
    assert captured() == 8
    with log.open("r+") as handle:  # copytruncate: emptied in place, written again
        handle.truncate(0)
    append(log, dumps[10])
    assert captured() == 9  # the half dump before the truncation is given up
    assert value(registry, "innodb_exporter_error_log_reopens_total", reason="truncated") == 1
    assert value(registry, "innodb_up") == 0
    assert (
        registry.get_sample_value("innodb_exporter_collector_success", {"collector": "error_log"})
        == 1
    )

    log.unlink()
    assert captured() == 9  # gone: waited for, not a crash
    append(log, dumps[11])
    assert captured() == 10
    collector.close()


def test_serve_command_serves_metrics_deadlocks_and_healthz(mariadb, connect, mysql_database):
    port = free_port()
    env = {**os.environ, "INNODB_EXPORTER_ERROR_LOG": str(mariadb.error_log)}
    env["PYTHONPATH"] = str(REPO)
    process = subprocess.Popen(
        [*EXPORTER, "serve", "--dsn", mariadb.dsn(), "--listen", f"127.0.0.1:{port}"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                health = requests.get(f"{url}/healthz", timeout=2)
                break
            except requests.ConnectionError:
                assert process.poll() is None, process.stderr.read()
                assert time.monotonic() < deadline, "the exporter never listened"
                time.sleep(0.1)
        assert health.json()["status"] == "ok"
        assert _metrics(url)["innodb_up"] == 1

        set_up(connect, OPPOSITE_ORDER)
        provoke(connect, OPPOSITE_ORDER)
        deadline = time.monotonic() + 30
        while True:
            _metrics(url)  # a scrape reads the sources
            body = requests.get(f"{url}/deadlocks", params={"limit": 1}, timeout=5).json()
            mine = [d for d in body["deadlocks"] if f"{mysql_database}.accounts" in d["tables"]]
            if mine or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        (deadlock,) = mine
        assert deadlock["modes"] == ["X,REC_NOT_GAP"]
        assert sum(t["victim"] for t in deadlock["transactions"]) == 1
        queries = [t["query"] for t in deadlock["transactions"]]
        assert all(
            re.fullmatch(r"UPDATE accounts SET balance = balance \+ \? WHERE id = \?", q)
            for q in queries
        ), queries
        assert json.dumps(deadlock).count("balance + 7") == 0
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        process.stdout.close()
        process.stderr.close()
    assert process.returncode == 0


def test_pymysql_connection_errors_are_never_raised_out_of_a_scrape(mariadb, mysql_user):
    dsn = mysql_user("PROCESS ON *.*")
    collector = InnoDBCollector(Settings.from_env({"INNODB_EXPORTER_DSN": dsn}))
    registry = registry_for(collector)
    try:
        assert registry.get_sample_value("innodb_up") == 1
        user = dsn.split("//")[1].split(":")[0]
        with mariadb.connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = %s", (user,))
            (thread_id,) = cur.fetchone()
            cur.execute(f"KILL {thread_id}")
        assert registry.get_sample_value("innodb_up") == 0  # the kill is noticed, not raised
        assert registry.get_sample_value("innodb_up") == 1  # and the next scrape reconnects
    except pymysql.MySQLError as exc:  # pragma: no cover - the point of the test
        pytest.fail(f"a scrape raised {exc!r}")
    finally:
        collector.close()


def documented_metrics() -> set[str]:
    text = (REPO / "docs" / "metrics.md").read_text()
    section = text[text.index("<!-- section: innodb") : text.index("<!-- end section: innodb")]
    return set(re.findall(r"^\| `(innodb_[a-z_]+)`", section, re.M))


def test_every_metric_the_exporter_emits_is_in_docs_metrics_md(
    make_exporter, connect, mariadb, mysql_database
):
    exporter = make_exporter(error_log=True)
    set_up(connect, OPPOSITE_ORDER)
    provoke(connect, OPPOSITE_ORDER)
    holder, waiter = connect(), connect()
    try:
        holder.cursor().execute("BEGIN")
        holder.cursor().execute("SELECT * FROM accounts WHERE id = 1 FOR UPDATE")
        waiting = threading.Thread(
            target=lambda: waiter.cursor().execute("DELETE FROM accounts WHERE id = 1")
        )
        waiting.start()
        wait_for_lock_wait(mariadb, waiter.thread_id())
        emitted = {
            f"{family.name}_total" if family.type == "counter" else family.name
            for family in exporter.registry.collect()
            if family.samples
        }
    finally:
        holder.rollback()
        holder.close()
        waiting.join(timeout=10)
        waiter.close()
    assert emitted == documented_metrics()


def test_exporter_session_never_waits_long_for_a_lock(make_exporter):
    exporter = make_exporter(error_log=False)
    ((lock_wait, innodb_lock_wait, statement_time),) = exporter.collector.db.query(
        "SELECT @@session.lock_wait_timeout, @@session.innodb_lock_wait_timeout,"
        " @@session.max_statement_time"
    )
    assert (lock_wait, innodb_lock_wait, float(statement_time)) == (2, 2, 5.0)

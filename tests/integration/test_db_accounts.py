"""The database accounts of stack/accounts.py on a real MariaDB: mysqld_exporter, run as the
native stack runs it, gets every collector through with its account's grant alone; neither
exporter's account can read a table; and the init SQL the test cluster's MariaDB runs is valid
there."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pymysql
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from stack import accounts, processes, runner
from stack.processes import free_port
from stack.settings import read_stack_settings

pytestmark = pytest.mark.integration


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@contextmanager
def native_accounts(mariadb) -> Iterator[None]:
    """The exporters' accounts as `make local-up` creates them, over what an older stack gave
    mysqld_exporter's (SELECT on everything): the seed converges. Dropped afterwards: the
    server is the session's."""
    old = f"'{accounts.MYSQLD_EXPORTER.user}'@'{accounts.NATIVE_HOST}'"
    with mariadb.connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE USER {old} IDENTIFIED BY '{accounts.MYSQLD_EXPORTER.password}'")
        cur.execute(f"GRANT PROCESS, REPLICATION CLIENT, SELECT ON *.* TO {old}")
        for statement in accounts.native_statements():
            cur.execute(statement)
    try:
        yield
    finally:
        with mariadb.connect() as conn, conn.cursor() as cur:
            for account in accounts.EXPORTERS:
                cur.execute(f"DROP USER IF EXISTS '{account.user}'@'{accounts.NATIVE_HOST}'")


def scrape_mysqld_exporter(mariadb, tmp_path, cnf: str = "") -> tuple[list[str], dict]:
    """mysqld_exporter started with the native stack's command line (the service table's
    flags) against the harness MariaDB, and one scrape; `cnf`: another account's my.cnf."""
    settings = read_stack_settings({
        "LOCAL_STATE_DIR": str(tmp_path),
        "LOCAL_MARIADB_PORT": str(mariadb.port),
        "LOCAL_MYSQLD_EXPORTER_PORT": str(free_port()),
    })  # fmt: skip
    (tmp_path / "mysqld-exporter.cnf").write_text(cnf or runner.mysqld_exporter_cnf(settings))
    [exporter] = [c for c in runner.components(settings) if c.name == "mysqld-exporter"]
    proc = processes.start(exporter.command, log=tmp_path / "mysqld-exporter.log")
    try:
        answering = lambda: processes.http_ok(exporter.url("/"))  # noqa: E731
        processes.wait_until(answering, 30, "mysqld_exporter answering",
                             log=tmp_path / "mysqld-exporter.log")  # fmt: skip
        text = requests.get(exporter.url("/metrics"), timeout=30).text
    finally:
        processes.stop_group(proc)
    return exporter.command, samples(text)


def collectors(scraped: dict, metric: str) -> set[str]:
    return {dict(labels)["collector"] for (name, labels) in scraped if name == metric}


def run_sql(conn, sql: str) -> list[str]:
    """Every statement of an init SQL file; the ones the server refused, with its error."""
    refused = []
    with conn.cursor() as cur:
        for statement in sql.split(";\n"):
            statement = "\n".join(line for line in statement.splitlines()
                                  if not line.startswith("--")).strip()  # fmt: skip
            if statement:
                try:
                    cur.execute(statement)
                except pymysql.err.MySQLError as exc:
                    refused.append(f"{statement}: {exc.args[0]}")
    return refused


def test_mysqld_exporter_runs_every_collector_with_its_grant_alone(
    mariadb, mysql_database, tmp_path
):
    with native_accounts(mariadb), mariadb.connect(mysql_database):
        # That connection stays open, a thread of another account, while the exporter scrapes.
        command, scraped = scrape_mysqld_exporter(mariadb, tmp_path)
        with mariadb.connect() as root, root.cursor() as cur:
            cur.execute(f"SHOW GRANTS FOR '{accounts.MYSQLD_EXPORTER.user}'@'127.0.0.1'")
            grants = [row[0].split(" TO ")[0] for row in cur.fetchall()]
    assert grants == ["GRANT PROCESS ON *.*"]

    enabled = {a.removeprefix("--") for a in command if a.startswith("--collect.")}
    ran = collectors(scraped, "mysql_exporter_collector_duration_seconds") - {"connection"}
    assert enabled <= ran and "collect.slave_status" not in ran, ran
    assert collectors(scraped, "mysql_exporter_scrape_errors_total") == set()
    assert scraped[("mysql_exporter_last_scrape_error", frozenset())] == 0
    assert scraped[("mysql_up", frozenset())] == 1
    names = {name for name, _ in scraped}
    assert any(n.startswith("mysql_info_schema_innodb_metrics_") for n in names)
    assert any(n.startswith("mysql_engine_innodb_") for n in names)
    # PROCESS shows the processlist every account's threads, not only the exporter's own.
    others = (
        "mysql_info_schema_processlist_processes_by_user",
        frozenset({("mysql_user", "root")}),
    )
    assert scraped.get(others, 0) >= 1


def test_without_process_the_collectors_fail_and_other_threads_are_hidden(
    mariadb, mysql_database, tmp_path
):
    # The check above can fail: the same exporter as an account with no privilege at all.
    user = f"noproc_{uuid.uuid4().hex[:8]}"
    with mariadb.connect() as root, root.cursor() as cur:
        cur.execute(f"CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY 'pw'")
    try:
        with mariadb.connect(mysql_database):
            cnf = f"[client]\nuser={user}\npassword=pw\nhost=127.0.0.1\nport={mariadb.port}\n"
            _, scraped = scrape_mysqld_exporter(mariadb, tmp_path, cnf)
    finally:
        with mariadb.connect() as root, root.cursor() as cur:
            cur.execute(f"DROP USER IF EXISTS '{user}'@'127.0.0.1'")
    assert scraped[("mysql_up", frozenset())] == 1
    assert {"collect.info_schema.innodb_metrics", "collect.engine_innodb_status"} <= collectors(
        scraped, "mysql_exporter_scrape_errors_total"
    )
    assert not [n for n, _ in scraped if n == "mysql_info_schema_processlist_processes_by_user"]


@pytest.mark.parametrize("account", accounts.EXPORTERS, ids=lambda a: a.user)
def test_no_exporter_account_can_read_a_table(mariadb, mysql_database, account):
    with native_accounts(mariadb):
        with mariadb.connect(mysql_database) as root, root.cursor() as cur:
            cur.execute("CREATE TABLE users (id INT PRIMARY KEY, point INT)")
        login = {"host": mariadb.host, "port": mariadb.port, "user": account.user,
                 "password": account.password}  # fmt: skip
        with pymysql.connect(**login) as own, own.cursor() as cur:
            cur.execute("SHOW ENGINE INNODB STATUS")  # what PROCESS is for
            denied = []
            for table in (f"{mysql_database}.users", "mysql.user"):
                with pytest.raises(pymysql.err.OperationalError) as error:
                    cur.execute(f"SELECT * FROM {table} LIMIT 1")
                denied.append(error.value.args[0])
    assert denied == [1142, 1142]  # SELECT command denied


def test_the_test_clusters_init_sql_runs_on_mariadb_and_the_compose_one_would_not(mariadb):
    made = [(a.user, accounts.ANY_HOST) for a in (accounts.SHOP, *accounts.EXPORTERS)]
    try:
        with mariadb.connect() as root:
            assert run_sql(root, accounts.init_sql(accounts.MARIADB)) == []
            with root.cursor() as cur:
                cur.execute(f"SHOW GRANTS FOR '{accounts.MYSQLD_EXPORTER.user}'@'%'")
                assert [row[0].split(" TO ")[0] for row in cur.fetchall()] == [
                    "GRANT PROCESS ON *.*"
                ]
            # MySQL 8's performance_schema lock tables: MariaDB has none, and refuses the grant.
            refused = run_sql(root, accounts.init_sql(accounts.MYSQL))
            assert refused == [f"{s}: 1146" for s in accounts.INNODB_EXPORTER.statements(
                accounts.ANY_HOST, accounts.MYSQL) if "performance_schema" in s]  # fmt: skip
    finally:
        with mariadb.connect() as root, root.cursor() as cur:
            for user, host in made:
                cur.execute(f"DROP USER IF EXISTS '{user}'@'{host}'")

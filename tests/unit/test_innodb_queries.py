"""Which SQL goes to which server: MariaDB and MySQL keep deadlocks and lock waits apart."""

from __future__ import annotations

import pytest

from exporters.innodb import queries
from exporters.innodb.queries import MARIADB, MYSQL, PERCONA, Server


@pytest.mark.parametrize(
    ("version", "comment", "flavor", "numbers"),
    [
        ("10.11.19-MariaDB-0+deb12u1", "Debian 12", MARIADB, (10, 11, 19)),
        ("5.5.5-10.6.12-MariaDB", "mariadb.org binary distribution", MARIADB, (10, 6, 12)),
        ("8.4.3", "MySQL Community Server - GPL", MYSQL, (8, 4, 3)),
        ("8.0.29-21", "Percona Server (GPL), Release 21", PERCONA, (8, 0, 29)),
        ("5.7.44-log", "MySQL Community Server (GPL)", MYSQL, (5, 7, 44)),
    ],
)
def test_server_is_identified_from_version_and_comment(version, comment, flavor, numbers):
    server = Server.identify(version, comment)
    assert (server.flavor, server.version) == (flavor, numbers)


def test_mariadb_lock_waits_come_from_information_schema():
    sql = queries.lock_waits_query(Server(MARIADB, (10, 11, 19)))
    assert "information_schema.INNODB_LOCK_WAITS" in sql
    assert "information_schema.INNODB_LOCKS" in sql
    assert "performance_schema" not in sql


@pytest.mark.parametrize("version", [(8, 0, 18), (8, 4, 3), (9, 1, 0)])
def test_mysql_8_lock_waits_come_from_performance_schema(version):
    for flavor in (MYSQL, PERCONA):
        sql = queries.lock_waits_query(Server(flavor, version))
        assert "performance_schema.data_lock_waits" in sql
        assert "performance_schema.data_locks" in sql
        assert "INNODB_LOCK_WAITS" not in sql


def test_mysql_5_7_lock_waits_still_come_from_information_schema():
    sql = queries.lock_waits_query(Server(MYSQL, (5, 7, 44)))
    assert "information_schema.INNODB_LOCK_WAITS" in sql


def test_lock_data_is_never_selected():
    for sql in (queries.LOCK_WAITS_INFORMATION_SCHEMA, queries.LOCK_WAITS_PERFORMANCE_SCHEMA):
        assert "lock_data" not in sql.lower()


def test_deadlock_counter_is_global_status_on_mariadb_and_innodb_metrics_on_mysql():
    assert queries.deadlock_counter_queries(Server(MARIADB, (10, 11, 0)))[0] == (
        queries.DEADLOCKS_GLOBAL_STATUS
    )
    assert queries.deadlock_counter_queries(Server(PERCONA, (8, 0, 29)))[0] == (
        queries.DEADLOCKS_GLOBAL_STATUS
    )
    mysql = queries.deadlock_counter_queries(Server(MYSQL, (8, 4, 3)))
    assert mysql[0] == queries.DEADLOCKS_INNODB_METRICS
    assert "lock_deadlocks" in mysql[0]


def test_session_sets_short_lock_wait_timeouts_and_a_statement_limit():
    mariadb = queries.session_setup(Server(MARIADB, (10, 11, 0)), 5.0)
    mysql = queries.session_setup(Server(MYSQL, (8, 4, 3)), 5.0)
    for statements in (mariadb, mysql):
        assert "SET SESSION lock_wait_timeout = 2" in statements
        assert "SET SESSION innodb_lock_wait_timeout = 2" in statements
    assert "SET SESSION max_statement_time = 5" in mariadb
    assert "SET SESSION max_execution_time = 5000" in mysql

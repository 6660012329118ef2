"""Settings come from the environment once, and a bad value says which variable in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporters.innodb.config import ConfigError, Dsn, Settings


def test_defaults_without_any_variable():
    settings = Settings.from_env({"PATH": "/bin"})
    assert settings.dsn is None
    assert (settings.listen_host, settings.listen_port) == ("127.0.0.1", 9105)
    assert settings.error_log is None
    assert settings.raw_queries is False


def test_every_variable_is_read():
    settings = Settings.from_env(
        {
            "INNODB_EXPORTER_DSN": "mysql://exp%40rt:p%3Ass@db.internal:3307/shop",
            "INNODB_EXPORTER_ERROR_LOG": "/var/log/mysql/error.log",
            "INNODB_EXPORTER_LISTEN": "0.0.0.0:9200",
            "INNODB_EXPORTER_TABLES": "shop.users, shop.orders",
            "INNODB_EXPORTER_MAX_TABLES": "7",
            "INNODB_EXPORTER_MAX_STATEMENTS": "9",
            "INNODB_EXPORTER_DEADLOCKS_KEPT": "11",
            "INNODB_EXPORTER_RAW_QUERIES": "yes",
            "INNODB_EXPORTER_LOCK_WAIT_TOP": "0",
            "INNODB_EXPORTER_CONNECT_TIMEOUT": "1.5",
            "INNODB_EXPORTER_QUERY_TIMEOUT": "3",
            "INNODB_EXPORTER_BACKOFF_MAX": "4",
            "INNODB_EXPORTER_LOG_LEVEL": "debug",
        }
    )
    assert settings.dsn == Dsn("db.internal", 3307, "exp@rt", "p:ss", "shop")
    assert settings.error_log == Path("/var/log/mysql/error.log")
    assert (settings.listen_host, settings.listen_port) == ("0.0.0.0", 9200)
    assert settings.tables == frozenset({"shop.users", "shop.orders"})
    assert (settings.max_tables, settings.max_statements, settings.deadlocks_kept) == (7, 9, 11)
    assert settings.raw_queries is True
    assert settings.lock_wait_top == 0
    assert (settings.connect_timeout, settings.query_timeout, settings.backoff_max) == (1.5, 3, 4)
    assert settings.log_level == "DEBUG"


def test_dsn_with_a_unix_socket_and_no_host():
    dsn = Dsn.parse("mysql://root@/?unix_socket=/run/mysqld/mysqld.sock")
    assert dsn.unix_socket == "/run/mysqld/mysqld.sock"


def test_dsn_never_shows_its_password():
    dsn = Dsn.parse("mysql://app:hunter2@127.0.0.1:3306/")
    assert "hunter2" not in repr(dsn)
    assert "hunter2" not in dsn.describe()
    assert "hunter2" not in repr(Settings(dsn=dsn))


@pytest.mark.parametrize(
    ("variable", "bad"),
    [
        ("INNODB_EXPORTER_DSN", "postgres://u@h/"),
        ("INNODB_EXPORTER_DSN", "mysql://"),
        ("INNODB_EXPORTER_DSN", "mysql://u@h:notaport/"),
        ("INNODB_EXPORTER_LISTEN", "9105"),
        ("INNODB_EXPORTER_LISTEN", "127.0.0.1:70000"),
        ("INNODB_EXPORTER_TABLES", "users"),
        ("INNODB_EXPORTER_MAX_TABLES", "0"),
        ("INNODB_EXPORTER_MAX_STATEMENTS", "many"),
        ("INNODB_EXPORTER_DEADLOCKS_KEPT", "-1"),
        ("INNODB_EXPORTER_RAW_QUERIES", "maybe"),
        ("INNODB_EXPORTER_CONNECT_TIMEOUT", "0"),
        ("INNODB_EXPORTER_QUERY_TIMEOUT", "soon"),
        ("INNODB_EXPORTER_LOG_LEVEL", "LOUD"),
    ],
)
def test_a_bad_value_fails_with_one_line_naming_the_variable(variable, bad):
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({variable: bad})
    message = str(raised.value)
    assert message.startswith((f"{variable}: ", f"{variable}="))
    assert "\n" not in message


def test_serving_needs_a_dsn():
    with pytest.raises(ConfigError, match=r"^INNODB_EXPORTER_DSN: not set"):
        Settings.from_env({}).require_dsn()

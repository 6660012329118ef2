"""Every SQL statement the exporter sends, and which one fits which server (MariaDB or MySQL)."""

from __future__ import annotations

import re
from dataclasses import dataclass

MARIADB = "mariadb"
MYSQL = "mysql"
PERCONA = "percona"

# Who is on the other end, and how far its clock is from UTC (status text has local times).
SERVER_IDENTITY = (
    "SELECT @@version, @@version_comment, TIMESTAMPDIFF(SECOND, UTC_TIMESTAMP(), NOW())"
)

INNODB_STATUS = "SHOW ENGINE INNODB STATUS"

# The server's own deadlock counter. MariaDB and Percona count in global status; MySQL has only
# the INNODB_METRICS row (enabled by default, module "lock").
DEADLOCKS_GLOBAL_STATUS = "SHOW GLOBAL STATUS LIKE 'Innodb_deadlocks'"
DEADLOCKS_INNODB_METRICS = (
    "SELECT NAME, `COUNT` FROM information_schema.INNODB_METRICS WHERE NAME = 'lock_deadlocks'"
)

# Lock waits now, one row per (waiting lock, blocking transaction). Every variant returns:
# waiting_thread, blocking_thread, wait_seconds, lock_schema, lock_table, lock_index, lock_mode.
# lock_data is never selected: it holds the row's key values (customer data).
LOCK_WAITS_INFORMATION_SCHEMA = """
SELECT r.trx_mysql_thread_id,
       b.trx_mysql_thread_id,
       TIMESTAMPDIFF(MICROSECOND, r.trx_wait_started, NOW(6)) / 1000000,
       NULL,
       l.lock_table,
       l.lock_index,
       l.lock_mode
  FROM information_schema.INNODB_LOCK_WAITS w
  JOIN information_schema.INNODB_TRX r ON r.trx_id = w.requesting_trx_id
  JOIN information_schema.INNODB_TRX b ON b.trx_id = w.blocking_trx_id
  LEFT JOIN information_schema.INNODB_LOCKS l ON l.lock_id = w.requested_lock_id
"""

LOCK_WAITS_PERFORMANCE_SCHEMA = """
SELECT r.trx_mysql_thread_id,
       b.trx_mysql_thread_id,
       TIMESTAMPDIFF(MICROSECOND, r.trx_wait_started, NOW(6)) / 1000000,
       l.OBJECT_SCHEMA,
       l.OBJECT_NAME,
       l.INDEX_NAME,
       l.LOCK_MODE
  FROM performance_schema.data_lock_waits w
  JOIN information_schema.INNODB_TRX r ON r.trx_id = w.REQUESTING_ENGINE_TRANSACTION_ID
  JOIN information_schema.INNODB_TRX b ON b.trx_id = w.BLOCKING_ENGINE_TRANSACTION_ID
  LEFT JOIN performance_schema.data_locks l
    ON l.ENGINE = w.ENGINE AND l.ENGINE_LOCK_ID = w.REQUESTING_ENGINE_LOCK_ID
"""

# 10.11.19-MariaDB-0+deb12u1   8.0.30   8.0.29-21   5.5.5-10.6.12-MariaDB
VERSION_NUMBER = re.compile(r"(?:5\.5\.5-)?(\d+)\.(\d+)\.(\d+)")


@dataclass(frozen=True)
class Server:
    """What we learnt about the server when we connected."""

    flavor: str  # MARIADB, MYSQL or PERCONA
    version: tuple[int, int, int]
    utc_offset_seconds: int = 0

    @classmethod
    def identify(cls, version: str, comment: str = "", utc_offset_seconds: int = 0) -> Server:
        """From `@@version` and `@@version_comment`."""
        text = f"{version} {comment}".lower()
        if "mariadb" in text:
            flavor = MARIADB
        elif "percona" in text:
            flavor = PERCONA
        else:
            flavor = MYSQL
        m = VERSION_NUMBER.search(version)
        numbers = (int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else (0, 0, 0)
        return cls(flavor=flavor, version=numbers, utc_offset_seconds=int(utc_offset_seconds))


def session_setup(server: Server, query_timeout: float) -> list[str]:
    """Polite manners for our own session: never wait long for a lock, never run long."""
    statements = [
        "SET SESSION lock_wait_timeout = 2",
        "SET SESSION innodb_lock_wait_timeout = 2",
    ]
    if server.flavor == MARIADB:
        statements.append(f"SET SESSION max_statement_time = {query_timeout:g}")
    elif server.version >= (5, 7, 8):
        statements.append(f"SET SESSION max_execution_time = {int(query_timeout * 1000)}")
    return statements


def deadlock_counter_queries(server: Server) -> tuple[str, ...]:
    """Where the exact deadlock counter lives, best first (the next one if a query gives no row)."""
    if server.flavor in (MARIADB, PERCONA):
        return (DEADLOCKS_GLOBAL_STATUS, DEADLOCKS_INNODB_METRICS)
    return (DEADLOCKS_INNODB_METRICS, DEADLOCKS_GLOBAL_STATUS)


def lock_waits_query(server: Server) -> str:
    """MySQL 8.0 dropped information_schema.INNODB_LOCK_WAITS for performance_schema."""
    if server.flavor != MARIADB and server.version >= (8, 0, 0):
        return LOCK_WAITS_PERFORMANCE_SCHEMA
    return LOCK_WAITS_INFORMATION_SCHEMA

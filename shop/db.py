"""The shop's database boundary: the engine, transactions with the retry, raw-cursor batches,
and what MySQL's error codes mean (deadlock, lock wait, duplicate key, disconnect)."""

from __future__ import annotations

import functools
import logging
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

import pymysql
from pymysql.constants import CLIENT, SERVER_STATUS
from sqlalchemy import Connection, Engine, TextClause, create_engine, event, text
from sqlalchemy.dialects.mysql.pymysql import MySQLDialect_pymysql
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from shop.errors import Unavailable
from shop.metrics import ShopMetrics
from shop.settings import Settings

log = logging.getLogger("shop.db")
T = TypeVar("T")

ER_LOCK_DEADLOCK = 1213
ER_LOCK_WAIT_TIMEOUT = 1205
ER_DUP_ENTRY = 1062
# Client-side codes (CR_*) and server codes that mean the connection is gone.
DISCONNECT_CODES = frozenset({2002, 2003, 2006, 2013, 2055, 1053, 1077, 1152, 1927, 4031})
# A deadlock is over at once and its retry usually wins. A lock-wait timeout (1205) already
# cost the whole innodb_lock_wait_timeout: retrying it would hold the client that long again
# for a lock still held, so it is answered 503 at once.
RETRYABLE_KINDS = frozenset({"deadlock"})


def create_db_engine(settings: Settings, metrics: ShopMetrics | None = None) -> Engine:
    engine = create_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        pool_recycle=3600,
        pool_pre_ping=False,
        pool_reset_on_return=None,  # _reset below: no ROLLBACK after a COMMIT
        connect_args={
            # A gone or frozen server costs a request seconds, never a hang (Settings).
            "connect_timeout": settings.db_connect_timeout,
            "read_timeout": settings.db_read_timeout,
            "write_timeout": settings.db_read_timeout,
            # PyMySQL >= 1.1 otherwise builds a TLS context (reading the CA store) on every
            # connect to try TLS "preferred": tens of ms each, a reconnect storm after a restart.
            # The database is on loopback or the stack's own network.
            "ssl_disabled": True,
            # FOUND_ROWS: rowcount = rows matched (SQLAlchemy's own default for MySQL);
            # MULTI_STATEMENTS: the safe order path sends its statements in batches.
            "client_flag": CLIENT.FOUND_ROWS | CLIENT.MULTI_STATEMENTS,
        },
    )

    @event.listens_for(engine, "connect")
    def _session_settings(dbapi_conn, _record):
        with dbapi_conn.cursor() as cur:
            cur.execute(f"SET SESSION innodb_lock_wait_timeout = {int(settings.lock_wait_timeout)}")
            cur.execute("SET SESSION time_zone = '+00:00'")

    @event.listens_for(engine, "commit")
    def _committed(conn):
        conn.connection.info["committed"] = True

    @event.listens_for(engine, "reset")
    def _reset(dbapi_conn, record, state):
        # The pool's default ROLLBACK on return is one more round trip per order after a COMMIT
        # that left nothing open. Skipped only when the COMMIT happened and the server's own
        # status (from the COMMIT's OK packet) says no transaction is open; reads get theirs.
        committed = record.info.pop("committed", False)
        if state.terminate_only or state.transaction_was_reset:
            return  # closed, or already rolled back by the Connection
        if not committed or dbapi_conn.server_status & SERVER_STATUS.SERVER_STATUS_IN_TRANS:
            dbapi_conn.rollback()

    if metrics is not None:
        capacity = settings.db_pool_size + settings.db_max_overflow
        metrics.db_pool.labels("capacity").set(capacity)

        def _update(returning: int) -> None:
            pool = engine.pool
            metrics.db_pool.labels("in_use").set(pool.checkedout() - returning)
            metrics.db_pool.labels("idle").set(pool.checkedin() + returning)

        # "checkin" fires before the pool takes the connection back: count it as returned.
        event.listen(engine, "checkout", lambda *_: _update(0))
        event.listen(engine, "checkin", lambda *_: _update(1))
    return engine


def error_code(exc: BaseException) -> int | None:
    """The MySQL error number behind a DBAPI error, if there is one."""
    orig = getattr(exc, "orig", exc)
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int):
        return args[0]
    return None


def classify(exc: BaseException) -> str:
    """shop_db_errors_total's `kind`: deadlock, lock_wait_timeout, disconnect or other."""
    code = error_code(exc)
    if code == ER_LOCK_DEADLOCK:
        return "deadlock"
    if code == ER_LOCK_WAIT_TIMEOUT:
        return "lock_wait_timeout"
    if code in DISCONNECT_CODES or getattr(exc, "connection_invalidated", False):
        return "disconnect"
    return "other"


class DuplicateKey(Exception):
    """A unique key refused a row (1062): another transaction committed it first."""


class _InsertedId:
    def __repr__(self) -> str:
        return "INSERTED_ID"


# A parameter value in a Batch: the id generated by the batch's `keep_id` insert.
INSERTED_ID = _InsertedId()
_ID_VARIABLE = "@shop_batch_id"
# pymysql's own paramstyle: a text() statement compiles to the %s string the raw cursor takes.
_DRIVER_DIALECT = MySQLDialect_pymysql(paramstyle="format")
# INSERT INTO t (a, b, day) VALUES (%s, %s, UTC_DATE()) ON DUPLICATE KEY UPDATE ...
_INSERT_VALUES = re.compile(r"(.*?\bVALUES\s*)(\((?:[^()]|\(\))*\))(.*)\Z", re.S | re.I)


@functools.cache
def _driver_sql(statement: TextClause) -> tuple[str, tuple[str, ...]]:
    compiled = statement.compile(dialect=_DRIVER_DIALECT)
    if "%%" in compiled.string:
        raise ValueError(f"a batched statement may not hold a literal %: {statement}")
    return compiled.string, tuple(compiled.positiontup or ())


class Batch:
    """Statements sent together in one round trip, written once as the text() the rest of the
    shop runs through SQLAlchemy.

    Several rows for an `INSERT ... VALUES` become one multi-row statement, as pymysql's
    executemany makes them; `keep_id` remembers the id an insert generated, so that later
    statements of the same batch can refer to it as `INSERTED_ID`.
    """

    def __init__(self) -> None:
        self._sql: list[str] = []
        self._args: list[object] = []
        self._keeps_id = False

    def add(self, statement: TextClause, *rows: Mapping[str, object], keep_id: bool = False):
        sql, names = _driver_sql(statement)
        if len(rows) > 1:
            match = _INSERT_VALUES.match(sql)
            if match is None:
                raise ValueError(f"several rows need an INSERT ... VALUES: {statement}")
            sql = match[1] + ",".join([match[2]] * len(rows)) + match[3]
        pieces = sql.split("%s")
        values = [row[name] for row in rows for name in names]
        if len(pieces) != len(values) + 1:
            raise ValueError(f"{len(values)} values for {len(pieces) - 1} placeholders: {sql}")
        out = [pieces[0]]
        for value, piece in zip(values, pieces[1:], strict=True):
            if value is INSERTED_ID:
                out.append(_ID_VARIABLE)
            else:
                out.append("%s")
                self._args.append(value)
            out.append(piece)
        self._sql.append("".join(out))
        if keep_id:
            self._sql.append(f"SET {_ID_VARIABLE} = LAST_INSERT_ID()")
            self._keeps_id = True
        return self

    def __len__(self) -> int:
        return len(self._sql) + self._keeps_id


@dataclass(frozen=True)
class BatchResult:
    rowcounts: tuple[int, ...]  # per statement added, in order (a keep_id adds its SET's 0)
    inserted_id: int | None  # the keep_id insert's id


def run_batch(conn: Connection, batch: Batch) -> BatchResult:
    """Send `batch` in one round trip inside `conn`'s transaction; all run unless one fails.

    SQLAlchemy has no multi-statement execute, so this is the raw DBAPI cursor: its errors
    arrive unwrapped (run_transaction classifies both), and a dead connection must be
    invalidated here, or it would go back into the pool.
    """
    sql = list(batch._sql)
    if batch._keeps_id:
        sql.append(f"SELECT {_ID_VARIABLE}")
    cur = conn.connection.dbapi_connection.cursor()
    try:
        cur.execute(";".join(sql), batch._args)
        counts, rows = [], None
        while True:
            counts.append(cur.rowcount)
            if cur.description is not None:
                rows = cur.fetchall()
            if not cur.nextset():
                break
        inserted_id = None
        if batch._keeps_id:
            counts.pop()
            inserted_id = int(rows[0][0])
    except pymysql.err.MySQLError as exc:
        if classify(exc) == "disconnect":
            conn.invalidate()
        raise
    finally:
        cur.close()
    return BatchResult(tuple(counts), inserted_id)


def unavailable_for(kind: str, operation: str) -> Unavailable:
    messages = {
        "deadlock": "the transaction was chosen as a deadlock victim; retry the request",
        "lock_wait_timeout": "timed out waiting for a row lock; retry the request",
        "disconnect": "the database is unreachable",
        "other": "the database failed",
    }
    code = "database_unavailable" if kind in ("disconnect", "other") else kind
    return Unavailable(f"{operation}: {messages[kind]}", code=code)


def run_transaction(
    engine: Engine,
    work: Callable[[Connection], T],
    *,
    operation: str,
    metrics: ShopMetrics,
    retries: int = 0,
) -> T:
    """Run `work(conn)` in one transaction; retry deadlocks and lock-wait timeouts.

    A duplicate key becomes DuplicateKey, uncounted. Every other database error is counted by
    kind; retried ones are counted again as retries. A
    retry waits with jittered exponential backoff so that the losers of one deadlock do not
    collide again in lock step. Errors that outlive the retries become 503s.
    """
    attempt = 0
    while True:
        try:
            with engine.begin() as conn:
                return work(conn)
        except PoolTimeout as exc:
            raise _pool_exhausted(operation, metrics) from exc
        except (DBAPIError, pymysql.err.MySQLError) as exc:
            # Batched statements run on the raw DBAPI cursor: its errors arrive unwrapped.
            if error_code(exc) == ER_DUP_ENTRY:
                # Not a failure of the database: a constraint answered, the caller decides.
                raise DuplicateKey(str(getattr(exc, "orig", exc))) from exc
            kind = classify(exc)
            metrics.db_errors.labels(operation, kind).inc()
            if kind in RETRYABLE_KINDS and attempt < retries:
                attempt += 1
                metrics.db_retries.labels(operation).inc()
                time.sleep(random.uniform(0, min(0.2, 0.005 * 2**attempt)))
                continue
            if kind == "other":
                log.warning("%s failed: %s", operation, getattr(exc, "orig", exc))
            raise unavailable_for(kind, operation) from exc


def run_read(
    engine: Engine, work: Callable[[Connection], T], *, operation: str, metrics: ShopMetrics
) -> T:
    """A read outside any explicit transaction; errors counted and mapped like writes."""
    try:
        with engine.connect() as conn:
            return work(conn)
    except PoolTimeout as exc:
        raise _pool_exhausted(operation, metrics) from exc
    except DBAPIError as exc:
        kind = classify(exc)
        metrics.db_errors.labels(operation, kind).inc()
        raise unavailable_for(kind, operation) from exc


def _pool_exhausted(operation: str, metrics: ShopMetrics) -> Unavailable:
    """No pooled connection came free within the pool's timeout: a 503 like any database
    failure (every connection is stuck on a server that does not answer), not a 500."""
    metrics.db_errors.labels(operation, "other").inc()
    return unavailable_for("other", operation)


def ping(engine: Engine) -> None:
    """One round trip to the database; raises what the driver raises when it cannot."""
    with engine.connect() as conn:
        conn.execute(_PING)


_PING = text("SELECT 1")

"""The database engine, its session settings, and MySQL error classification with the retry."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

import pymysql
from pymysql.constants import CLIENT
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DBAPIError

from shop.errors import Unavailable
from shop.metrics import ShopMetrics
from shop.settings import Settings

log = logging.getLogger("shop.db")
T = TypeVar("T")

ER_LOCK_DEADLOCK = 1213
ER_LOCK_WAIT_TIMEOUT = 1205
# Client-side codes (CR_*) and server codes that mean the connection is gone.
DISCONNECT_CODES = frozenset({2002, 2003, 2006, 2013, 2055, 1053, 1077, 1152, 1927, 4031})
RETRYABLE_KINDS = frozenset({"deadlock", "lock_wait_timeout"})


def create_db_engine(settings: Settings, metrics: ShopMetrics | None = None) -> Engine:
    engine = create_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        pool_recycle=3600,
        pool_pre_ping=False,
        connect_args={
            "connect_timeout": 5,
            "read_timeout": 30,
            "write_timeout": 30,
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

    Every database error is counted by kind; retried ones are counted again as retries. A
    retry waits with jittered exponential backoff so that the losers of one deadlock do not
    collide again in lock step. Errors that outlive the retries become 503s.
    """
    attempt = 0
    while True:
        try:
            with engine.begin() as conn:
                return work(conn)
        except (DBAPIError, pymysql.err.MySQLError) as exc:
            # Batched statements run on the raw DBAPI cursor: its errors arrive unwrapped.
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
    except DBAPIError as exc:
        kind = classify(exc)
        metrics.db_errors.labels(operation, kind).inc()
        raise unavailable_for(kind, operation) from exc

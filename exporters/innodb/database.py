"""The exporter's one database session: connect, polite session limits, errors sorted, backoff."""

from __future__ import annotations

import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable

import pymysql

from exporters.innodb.config import Dsn
from exporters.innodb.queries import SERVER_IDENTITY, Server, session_setup

log = logging.getLogger("exporters.innodb")

# MySQL/MariaDB error numbers, sorted into the reasons our metrics carry.
ACCESS_DENIED = frozenset({1044, 1045, 1142, 1143, 1227, 1370, 1698, 3118})
CONNECTION_LOST = frozenset({1040, 1053, 1152, 1158, 1159, 1160, 1161, 1927, 2002, 2003, 2005})
CONNECTION_LOST |= frozenset({2006, 2013, 2014, 2026, 2055, 4031})
TIMEOUT = frozenset({1205, 1317, 1969, 3024})
MISSING = frozenset({1054, 1109, 1146, 1193, 1286})

ERROR_REASONS = ("access_denied", "connection", "timeout", "missing", "other")


class QueryError(Exception):
    """A statement failed; `reason` is one of ERROR_REASONS, `connection_lost` says reconnect."""

    def __init__(self, reason: str, message: str, *, connection_lost: bool = False):
        super().__init__(message)
        self.reason = reason
        self.connection_lost = connection_lost


def classify(exc: BaseException) -> QueryError:
    """A pymysql (or socket) exception -> QueryError with a bounded reason."""
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    message = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
    if isinstance(exc, (pymysql.err.InterfaceError, OSError)):
        return QueryError("connection", message or type(exc).__name__, connection_lost=True)
    if code in ACCESS_DENIED:
        return QueryError("access_denied", f"{code} {message}")
    if code in CONNECTION_LOST:
        return QueryError("connection", f"{code} {message}", connection_lost=True)
    if code in TIMEOUT:
        return QueryError("timeout", f"{code} {message}")
    if code in MISSING:
        return QueryError("missing", f"{code} {message}")
    if isinstance(exc, pymysql.err.OperationalError) and code is not None and code >= 2000:
        return QueryError("connection", f"{code} {message}", connection_lost=True)
    return QueryError("other", f"{code} {message}" if code else message)


class Database:
    """At most one open connection; after a failure, waits 0.5 s, 1 s, 2 s ... up to a cap.

    The waiting is not a sleep: `ensure()` just answers False until the next attempt is due, so a
    scrape while the server is down costs nothing and says `innodb_up 0` at once.
    """

    def __init__(
        self,
        dsn: Dsn,
        *,
        connect_timeout: float = 2.0,
        query_timeout: float = 5.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.dsn = dsn
        self.connect_timeout = connect_timeout
        self.query_timeout = query_timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.clock = clock
        self.server: Server | None = None
        self.connect_attempts: Counter[str] = Counter({"success": 0, "failure": 0})
        self._conn: pymysql.Connection | None = None
        self._backoff = backoff_initial
        self._next_attempt = 0.0
        self._failing = False

    @property
    def connected(self) -> bool:
        return self._conn is not None

    def ensure(self) -> bool:
        """Connected now? Connects if not, unless still backing off from the last failure."""
        if self._conn is not None:
            return True
        now = self.clock()
        if now < self._next_attempt:
            return False
        conn = None
        try:
            conn = pymysql.connect(
                host=self.dsn.host,
                port=self.dsn.port,
                user=self.dsn.user,
                password=self.dsn.password,
                database=self.dsn.database or None,
                unix_socket=self.dsn.unix_socket,
                connect_timeout=self.connect_timeout,
                read_timeout=self.query_timeout,
                write_timeout=self.query_timeout,
                autocommit=True,
                charset="utf8mb4",
            )
            with conn.cursor() as cur:
                cur.execute(SERVER_IDENTITY)
                version, comment, offset = cur.fetchone()
                server = Server.identify(str(version), str(comment or ""), int(offset or 0))
                for statement in session_setup(server, self.query_timeout):
                    try:
                        cur.execute(statement)
                    except pymysql.err.MySQLError as exc:  # an old server without the variable
                        log.debug("session setting skipped: %s (%s)", statement, exc)
        except Exception as exc:
            if conn is not None:
                _close_quietly(conn)
            self.connect_attempts["failure"] += 1
            self._next_attempt = now + self._backoff
            level = logging.DEBUG if self._failing else logging.WARNING
            log.log(
                level,
                "cannot connect to %s: %s (next attempt in %.1fs)",
                self.dsn.describe(),
                classify(exc),
                self._backoff,
            )
            self._backoff = min(self._backoff * 2, self.backoff_max)
            self._failing = True
            return False
        self.connect_attempts["success"] += 1
        if self._failing:
            log.info("connected to %s again", self.dsn.describe())
        self._conn, self.server = conn, server
        self._backoff = self.backoff_initial
        self._failing = False
        return True

    def query(self, sql: str) -> list[tuple]:
        """Rows of one statement; QueryError on failure (the connection dropped if it is gone)."""
        if self._conn is None:
            raise QueryError("connection", "not connected", connection_lost=True)
        try:
            with self._conn.cursor() as cur:
                cur.execute(sql)
                return list(cur.fetchall())
        except Exception as exc:
            error = classify(exc)
            if error.connection_lost:
                self.drop()
            raise error from exc

    def drop(self) -> None:
        """Forget the connection (closing it); the next `ensure()` reconnects straight away."""
        if self._conn is not None:
            _close_quietly(self._conn)
            self._conn = None

    def close(self) -> None:
        self.drop()


def _close_quietly(conn: pymysql.Connection) -> None:
    # Closing a connection whose socket already died: nothing is left to release.
    with contextlib.suppress(Exception):
        conn.close()

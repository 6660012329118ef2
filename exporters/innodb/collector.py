"""The collector: joins the server's counter, the status text, the error log and the lock waits.

Each scrape reads the sources (error log, status, counter, lock waits, in that order), feeds new
deadlocks to the store (which de-duplicates), and builds every metric family fresh.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from exporters.innodb import queries
from exporters.innodb.config import Settings
from exporters.innodb.database import ERROR_REASONS, Database, QueryError
from exporters.innodb.errorlog import LogFollower
from exporters.innodb.parser import (
    PARSE_ERROR_REASONS,
    ParseResult,
    parse_error_log,
    parse_status,
    split_table_name,
    unquote_identifier,
)
from exporters.innodb.store import OTHER, SOURCES, DeadlockStore

log = logging.getLogger("exporters.innodb")

COLLECTORS = ("deadlock_counter", "status", "lock_waits", "error_log")
MAX_PENDING_LOG_CHARS = 1024 * 1024  # an unfinished dump longer than this is given up


class ConnectionLost(Exception):
    """The server went away in the middle of a scrape."""


@dataclass(frozen=True)
class LockWait:
    """One row of the lock-wait query: who waits, for whom, on what, how long."""

    waiting_thread: int
    blocking_thread: int
    seconds: float
    schema: str
    table: str
    index: str
    mode: str


@dataclass
class LockWaits:
    """Lock waits now, summarised per waiting thread (a waiter may have several blockers)."""

    rows: list[LockWait] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len({row.waiting_thread for row in self.rows})

    @property
    def max_seconds(self) -> float:
        return max((row.seconds for row in self.rows), default=0.0)

    def by_table(self) -> Counter[tuple[str, str]]:
        waiters = {(row.waiting_thread, row.schema, row.table) for row in self.rows}
        return Counter((schema, table) for _, schema, table in waiters)

    def oldest(self, top: int) -> list[LockWait]:
        threads: list[int] = []
        for row in sorted(self.rows, key=lambda r: -r.seconds):
            if row.waiting_thread not in threads:
                threads.append(row.waiting_thread)
        keep = set(threads[:top])
        return [row for row in self.rows if row.waiting_thread in keep]


@dataclass
class Scrape:
    up: bool = False
    success: dict[str, bool] = field(default_factory=dict)
    server_deadlocks: float | None = None
    lock_waits: LockWaits | None = None
    duration: float = 0.0


class InnoDBCollector:
    """A prometheus_client collector; register it in a CollectorRegistry and scrape."""

    def __init__(
        self,
        settings: Settings,
        *,
        database: Database | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.settings = settings
        self.clock = clock
        self.db = database or Database(
            settings.require_dsn(),
            connect_timeout=settings.connect_timeout,
            query_timeout=settings.query_timeout,
            backoff_max=settings.backoff_max,
        )
        self.store = DeadlockStore(
            max_tables=settings.max_tables,
            max_statements=settings.max_statements,
            tables=settings.tables,
            kept=settings.deadlocks_kept,
        )
        self.follower = LogFollower(settings.error_log) if settings.error_log else None
        self.parse_errors: Counter[str] = Counter({reason: 0 for reason in PARSE_ERROR_REASONS})
        self.query_errors: Counter[tuple[str, str]] = Counter()
        self.error_log_reopens: Counter[str] = Counter({"rotated": 0, "truncated": 0})
        self.last_scrape: Scrape | None = None
        self._lock = threading.Lock()
        self._reported: set[tuple[str, str]] = set()
        self._log_pending = ""
        # Deadlocks the server counted while we watched, against those we got details for.
        self._previous_counter: float | None = None
        self._observed = 0.0
        self._captured_at_baseline: int | None = None

    # -- the prometheus_client side -------------------------------------------------------------

    def describe(self) -> list[Metric]:
        return []  # collect() talks to the server; registering must not

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            started = self.clock()
            scrape = self._scrape()
            scrape.duration = self.clock() - started
            self.last_scrape = scrape
            families = list(self._families(scrape))
        yield from families

    def recent_deadlocks(self, limit: int | None = None, *, raw_queries: bool | None = None):
        """The last deadlocks, newest first, as JSON-ready dicts (for /deadlocks)."""
        raw = self.settings.raw_queries if raw_queries is None else raw_queries
        with self._lock:
            captured = list(self.store.recent)
        captured.reverse()
        if limit is not None:
            captured = captured[:limit]
        return [item.as_dict(raw_queries=raw) for item in captured]

    def close(self) -> None:
        with self._lock:
            self.db.close()
            if self.follower:
                self.follower.close()

    # -- reading the sources --------------------------------------------------------------------

    def _scrape(self) -> Scrape:
        scrape = Scrape()
        if self.follower is not None:
            scrape.success["error_log"] = self._follow_error_log()
        scrape.up = self.db.ensure()
        if scrape.up:
            try:
                scrape.success["status"] = bool(self._run("status", self._read_status))
                counter = self._run("deadlock_counter", self._read_deadlock_counter)
                scrape.success["deadlock_counter"] = counter is not None
                scrape.server_deadlocks = counter
                waits = self._run("lock_waits", self._read_lock_waits)
                scrape.success["lock_waits"] = waits is not None
                scrape.lock_waits = waits
            except ConnectionLost:
                scrape.up = False
                scrape.server_deadlocks = None
                scrape.lock_waits = None
        self._account(scrape.server_deadlocks)
        return scrape

    def _run(self, collector: str, read: Callable):
        """One source; a failure other than a lost connection is a log line and a metric."""
        try:
            result = read()
        except QueryError as exc:
            self.query_errors[(collector, exc.reason)] += 1
            if exc.connection_lost:
                log.warning("%s: lost the connection: %s", collector, exc)
                raise ConnectionLost from exc
            if (collector, exc.reason) not in self._reported:
                self._reported.add((collector, exc.reason))
                hint = " (grant PROCESS; see README)" if exc.reason == "access_denied" else ""
                log.warning("%s: %s: %s%s", collector, exc.reason, exc, hint)
            return None
        if any(key[0] == collector for key in self._reported):
            log.info("%s: works again", collector)
            self._reported = {key for key in self._reported if key[0] != collector}
        return result

    def _read_status(self) -> bool | None:
        rows = self.db.query(queries.INNODB_STATUS)
        text = rows[0][-1] if rows and rows[0] else ""
        result = self.ingest_status(text or "")
        return True if "not_status_output" not in result.errors else None

    def ingest_status(self, text: str) -> ParseResult:
        """Status text (from the server, or a test) -> store; bad text is counted, not fatal."""
        result = parse_status(text)
        self._count_errors(result)
        offset = self.db.server.utc_offset_seconds if self.db.server else None
        for deadlock in result.deadlocks:
            self.store.add(deadlock, "status", offset)
        return result

    def _read_deadlock_counter(self) -> float | None:
        server = self.db.server or queries.Server.identify("")
        for sql in queries.deadlock_counter_queries(server):
            try:
                rows = self.db.query(sql)
            except QueryError as exc:
                if exc.connection_lost or exc.reason == "access_denied":
                    raise
                continue
            if rows:
                return float(rows[0][-1])
        raise QueryError("missing", "no deadlock counter on this server")

    def _read_lock_waits(self) -> LockWaits:
        server = self.db.server or queries.Server.identify("")
        rows = self.db.query(queries.lock_waits_query(server))
        waits = LockWaits()
        for waiting, blocking, seconds, schema, table, index, mode in rows:
            if schema is None and table:
                schema, table = split_table_name(table)
            waits.rows.append(
                LockWait(
                    waiting_thread=int(waiting or 0),
                    blocking_thread=int(blocking or 0),
                    seconds=max(0.0, float(seconds or 0)),
                    schema=schema or "",
                    table=table or "",
                    index=unquote_identifier(index) if index else "",
                    mode=mode or "",
                )
            )
        return waits

    def _follow_error_log(self) -> bool:
        assert self.follower is not None
        chunk = self.follower.read()
        if chunk.rotated:
            self.error_log_reopens["rotated"] += 1
        if chunk.truncated:
            self.error_log_reopens["truncated"] += 1
            self._log_pending = ""
        if chunk.text:
            text = self._log_pending + chunk.text
            result, consumed = parse_error_log(text, final=False)
            self._log_pending = text[consumed:]
            if len(self._log_pending) > MAX_PENDING_LOG_CHARS:
                result.errors.append("truncated")
                self._log_pending = ""
            self._count_errors(result)
            offset = self.db.server.utc_offset_seconds if self.db.server else None
            for deadlock in result.deadlocks:
                self.store.add(deadlock, "error_log", offset)
        return self.follower.readable

    def _count_errors(self, result: ParseResult) -> None:
        for reason in result.errors:
            self.parse_errors[reason] += 1

    def _account(self, counter: float | None) -> None:
        """Track how many deadlocks the server counted since we started watching."""
        if counter is None:
            return
        if self._previous_counter is None:
            self._captured_at_baseline = self.store.total_captured
        elif counter >= self._previous_counter:
            self._observed += counter - self._previous_counter
        else:
            self._observed += counter  # the server restarted and counts from zero again
        self._previous_counter = counter

    @property
    def missed(self) -> float | None:
        """Deadlocks the server counted since our first look that we have no details of."""
        if self._captured_at_baseline is None:
            return None
        captured = self.store.total_captured - self._captured_at_baseline
        return max(0.0, self._observed - captured)

    # -- the metrics ----------------------------------------------------------------------------

    def _families(self, scrape: Scrape) -> Iterator[Metric]:
        store = self.store
        yield GaugeMetricFamily(
            "innodb_up", "1 if the last scrape could talk to MySQL/MariaDB, else 0.", scrape.up
        )
        if scrape.server_deadlocks is not None:
            yield CounterMetricFamily(
                "innodb_deadlocks",
                "Deadlocks the server counted since it started (Innodb_deadlocks, or"
                " INNODB_METRICS lock_deadlocks on MySQL): exact.",
                value=scrape.server_deadlocks,
            )
        captured = CounterMetricFamily(
            "innodb_deadlocks_captured",
            "Distinct deadlocks whose details this exporter parsed, by the source that gave them"
            " first (status: SHOW ENGINE INNODB STATUS, error_log: innodb_print_all_deadlocks).",
            labels=["source"],
        )
        for source in SOURCES:
            captured.add_metric([source], store.captured[source])
        yield captured
        if self.missed is not None:
            yield GaugeMetricFamily(
                "innodb_deadlocks_missed",
                "Deadlocks the server counted since this exporter first looked, minus those"
                " captured with details: what status polling alone cannot see.",
                self.missed,
            )
        if store.last_timestamp is not None:
            yield GaugeMetricFamily(
                "innodb_deadlock_last_timestamp_seconds",
                "Unix time of the newest deadlock captured.",
                store.last_timestamp,
            )
        locks = CounterMetricFamily(
            "innodb_deadlock_locks",
            "Locks in captured deadlocks: the lock each transaction waited for (role=waiting)"
            " and the locks it held (role=holding), lock_mode as in data_locks.LOCK_MODE.",
            labels=["schema", "table", "index", "lock_mode", "role"],
        )
        for labels, value in sorted(store.locks.items()):
            locks.add_metric(list(labels), value)
        yield locks
        victims = CounterMetricFamily(
            "innodb_deadlock_victims",
            "Captured deadlocks by the table the rolled-back transaction was waiting on.",
            labels=["schema", "table"],
        )
        for labels, value in sorted(store.victims.items()):
            victims.add_metric(list(labels), value)
        yield victims
        statements = CounterMetricFamily(
            "innodb_deadlock_statements",
            "Captured deadlocks by the set of statement fingerprints involved (literals"
            " replaced by ?, sorted, joined by ' <-> ').",
            labels=["statements"],
        )
        for label, value in sorted(store.statements.items()):
            statements.add_metric([label], value)
        yield statements
        yield from self._lock_wait_families(scrape.lock_waits)
        errors = CounterMetricFamily(
            "innodb_status_parse_errors",
            "Deadlock text that could not be parsed (fully), by reason.",
            labels=["reason"],
        )
        for reason, value in sorted(self.parse_errors.items()):
            errors.add_metric([reason], value)
        yield errors
        yield from self._self_families(scrape)

    def _lock_wait_families(self, waits: LockWaits | None) -> Iterator[Metric]:
        if waits is None:
            return  # unknown is not zero: no sample rather than a false 0
        yield GaugeMetricFamily(
            "innodb_lock_waits", "Transactions waiting for a row or table lock now.", waits.count
        )
        yield GaugeMetricFamily(
            "innodb_lock_wait_seconds_max",
            "Age of the oldest lock wait now (0 when none).",
            waits.max_seconds,
        )
        by_table = GaugeMetricFamily(
            "innodb_lock_waits_by_table",
            "Transactions waiting for a lock now, by the table of the lock (top tables, the"
            " rest summed under __other__).",
            labels=["schema", "table"],
        )
        for (schema, table), value in self._bounded_tables(waits.by_table()).items():
            by_table.add_metric([schema, table], value)
        yield by_table
        oldest = GaugeMetricFamily(
            "innodb_lock_wait_seconds",
            "Age of each of the oldest lock waits now, with the waiting and the blocking thread"
            " (processlist ids, as in KILL), table, index and the mode waited for.",
            labels=["waiting_thread", "blocking_thread", "schema", "table", "index", "lock_mode"],
        )
        for row in waits.oldest(self.settings.lock_wait_top):
            oldest.add_metric(
                [
                    str(row.waiting_thread),
                    str(row.blocking_thread),
                    row.schema,
                    row.table,
                    row.index,
                    row.mode,
                ],
                row.seconds,
            )
        yield oldest

    def _bounded_tables(self, counts: Counter[tuple[str, str]]) -> Counter[tuple[str, str]]:
        allow = self.settings.tables
        bounded: Counter[tuple[str, str]] = Counter()
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        for rank, ((schema, table), value) in enumerate(ranked):
            keep = f"{schema}.{table}" in allow if allow else rank < self.settings.max_tables
            bounded[(schema, table) if keep else (OTHER, OTHER)] += value
        return bounded

    def _self_families(self, scrape: Scrape) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "innodb_exporter_scrape_duration_seconds",
            "How long the last scrape took to read every source.",
            scrape.duration,
        )
        success = GaugeMetricFamily(
            "innodb_exporter_collector_success",
            "1 if a source was read in the last scrape, 0 if it failed or was skipped.",
            labels=["collector"],
        )
        for collector in COLLECTORS:
            if collector == "error_log" and self.follower is None:
                continue
            success.add_metric([collector], 1.0 if scrape.success.get(collector) else 0.0)
        yield success
        query_errors = CounterMetricFamily(
            "innodb_exporter_query_errors",
            "Failed statements by source and reason (access_denied: a missing privilege).",
            labels=["collector", "reason"],
        )
        for collector in COLLECTORS[:3]:
            for reason in ERROR_REASONS:
                query_errors.add_metric([collector, reason], self.query_errors[(collector, reason)])
        yield query_errors
        attempts = CounterMetricFamily(
            "innodb_exporter_connect_attempts",
            "Connection attempts to MySQL/MariaDB, by result.",
            labels=["result"],
        )
        for result in ("success", "failure"):
            attempts.add_metric([result], self.db.connect_attempts[result])
        yield attempts
        if self.follower is not None:
            reopens = CounterMetricFamily(
                "innodb_exporter_error_log_reopens",
                "Times the followed error log was found rotated or truncated.",
                labels=["reason"],
            )
            for reason in ("rotated", "truncated"):
                reopens.add_metric([reason], self.error_log_reopens[reason])
            yield reopens

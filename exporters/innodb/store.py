"""What the exporter remembers about deadlocks: each once, bounded label counters, the last N."""

from __future__ import annotations

from collections import Counter, OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from exporters.innodb.fingerprint import fingerprint, redact
from exporters.innodb.parser import Deadlock, Lock

OTHER = "__other__"
SOURCES = ("status", "error_log")
ROLES = ("waiting", "holding")
SEEN_KEYS_KEPT = 10_000  # de-duplication memory; far more than one status poll can repeat
STATEMENT_SEPARATOR = " <-> "


class FirstSeen:
    """Admits the first `limit` distinct keys; later new keys get the overflow value instead.

    Counters need stable series: a key once admitted keeps its own series for good.
    """

    def __init__(self, limit: int, allow: Iterable[str] = ()):
        self.limit = limit
        self.allow = frozenset(allow)
        self._admitted: set = set()

    def admit(self, key, overflow, name: str | None = None):
        if self.allow:
            return key if name in self.allow else overflow
        if key in self._admitted:
            return key
        if len(self._admitted) < self.limit:
            self._admitted.add(key)
            return key
        return overflow


@dataclass(frozen=True)
class Captured:
    """A deadlock as remembered: where we saw it and when it happened (epoch seconds)."""

    deadlock: Deadlock
    source: str
    timestamp_seconds: float | None

    def as_dict(self, *, raw_queries: bool = False) -> dict:
        """For /deadlocks: what a person or a Grafana annotation needs; queries redacted."""
        deadlock = self.deadlock
        tables = []
        modes = []
        transactions = []
        for trx in deadlock.transactions:
            locks = ([trx.waiting] if trx.waiting else []) + trx.holding
            for lock in locks:
                name = _qualified(lock)
                if name and name not in tables:
                    tables.append(name)
                if lock.mode not in modes:
                    modes.append(lock.mode)
            item = trx.as_dict()
            item["query"] = trx.query if raw_queries else redact(trx.query)
            item["fingerprint"] = fingerprint(trx.query)
            item["victim"] = trx.number == deadlock.victim
            item["user"] = trx.user
            item["host"] = trx.host
            transactions.append(item)
        return {
            "timestamp": deadlock.timestamp.isoformat() if deadlock.timestamp else None,
            "timestamp_seconds": self.timestamp_seconds,
            "source": self.source,
            "victim": deadlock.victim,
            "too_deep": deadlock.too_deep,
            "tables": tables,
            "modes": modes,
            "fingerprints": sorted({fingerprint(t.query) for t in deadlock.transactions}),
            "transactions": transactions,
        }


class DeadlockStore:
    """De-duplicates deadlocks from every source and keeps the counters the metrics show."""

    def __init__(
        self,
        *,
        max_tables: int = 50,
        max_statements: int = 50,
        tables: Iterable[str] = (),
        kept: int = 100,
    ):
        self._tables = FirstSeen(max_tables, tables)
        self._statements = FirstSeen(max_statements)
        self._seen: OrderedDict[tuple, None] = OrderedDict()
        self.captured: Counter[str] = Counter({source: 0 for source in SOURCES})
        self.locks: Counter[tuple[str, str, str, str, str]] = Counter()
        self.victims: Counter[tuple[str, str]] = Counter()
        self.statements: Counter[str] = Counter()
        self.last_timestamp: float | None = None
        self.recent: deque[Captured] = deque(maxlen=kept)

    @property
    def total_captured(self) -> int:
        return sum(self.captured.values())

    def add(self, deadlock: Deadlock, source: str, utc_offset_seconds: int | None = None) -> bool:
        """Count a deadlock unless already seen (from any source). True if it was new.

        `utc_offset_seconds` says how to read a timestamp printed without a zone (the server's
        local time); None means this machine's local time.
        """
        key = deadlock.key
        if key in self._seen:
            return False
        self._seen[key] = None
        if len(self._seen) > SEEN_KEYS_KEPT:
            self._seen.popitem(last=False)

        self.captured[source] += 1
        for trx in deadlock.transactions:
            if trx.waiting is not None:
                self.locks[self._lock_labels(trx.waiting, "waiting")] += 1
            for lock in trx.holding:
                self.locks[self._lock_labels(lock, "holding")] += 1
        victim = deadlock.victim_transaction
        if victim is not None and victim.waiting is not None:
            self.victims[self._table_labels(victim.waiting)] += 1
        statements = STATEMENT_SEPARATOR.join(
            sorted({fingerprint(trx.query) or "unknown" for trx in deadlock.transactions})
        )
        self.statements[self._statements.admit(statements, OTHER)] += 1

        seconds = epoch_seconds(deadlock.timestamp, utc_offset_seconds)
        if seconds is not None and (self.last_timestamp is None or seconds > self.last_timestamp):
            self.last_timestamp = seconds
        self.recent.append(Captured(deadlock, source, seconds))
        return True

    def _table_labels(self, lock: Lock) -> tuple[str, str]:
        schema, table = lock.schema or "", lock.table or ""
        return self._tables.admit((schema, table), (OTHER, OTHER), f"{schema}.{table}")

    def _lock_labels(self, lock: Lock, role: str) -> tuple[str, str, str, str, str]:
        schema, table = self._table_labels(lock)
        index = OTHER if table == OTHER else (lock.index or "")
        return (schema, table, index, lock.mode, role)


def epoch_seconds(stamp: datetime | None, utc_offset_seconds: int | None) -> float | None:
    if stamp is None:
        return None
    if stamp.tzinfo is None:
        if utc_offset_seconds is None:
            return stamp.timestamp()  # naive: this machine's local time
        stamp = stamp.replace(tzinfo=timezone(timedelta(seconds=utc_offset_seconds)))
    return stamp.astimezone(UTC).timestamp()


def _qualified(lock: Lock) -> str:
    if not lock.table:
        return ""
    return f"{lock.schema}.{lock.table}" if lock.schema else lock.table

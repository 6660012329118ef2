"""A per-worker cache of response bytes in front of the shared Redis cache: bounded staleness,
one computation per key and worker at a time (single flight)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable

from shop.metrics import ShopMetrics


class LocalCache:
    """Entries live `max_age` seconds in this process.

    A live entry is served without touching Redis or the database: the popular list costs a
    dict lookup. When an entry has aged out, one thread of the worker recomputes it (through
    the Redis tier, which has its own single flight across workers) while the others keep
    serving the old bytes; only a key never seen makes the others wait for that one thread.
    So a response is at most `max_age` older than what the Redis tier holds. At most
    `max_entries` keys are kept (the oldest goes first): query parameters cannot grow it.
    """

    def __init__(
        self,
        metrics: ShopMetrics,
        name: str,
        max_age: float,
        *,
        max_entries: int = 256,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.metrics = metrics
        self.name = name
        self.max_age = max_age
        self.max_entries = max_entries
        self.clock = clock
        self._entries: dict[Hashable, tuple[float, bytes]] = {}
        self._locks: dict[Hashable, threading.Lock] = {}
        self._guard = threading.Lock()

    def _count(self, result: str) -> None:
        self.metrics.cache.labels(self.name, result).inc()

    def _lock(self, key: Hashable) -> threading.Lock:
        with self._guard:
            lock = self._locks.get(key)
            if lock is None:
                lock = self._locks[key] = threading.Lock()
            return lock

    def peek(self, key: Hashable) -> bytes | None:
        """The live bytes of `key`, or None (absent or aged out); nothing counted or computed."""
        entry = self._entries.get(key)
        if entry is not None and self.clock() < entry[0]:
            return entry[1]
        return None

    def get(self, key: Hashable, compute: Callable[[], bytes]) -> bytes:
        entry = self._entries.get(key)
        if entry is not None and self.clock() < entry[0]:
            self._count("hit")
            return entry[1]
        lock = self._lock(key)
        if entry is not None and not lock.acquire(blocking=False):
            self._count("hit")  # another thread is refreshing: the old bytes will do
            return entry[1]
        if entry is None:
            lock.acquire()
        try:
            latest = self._entries.get(key)
            if latest is not None and latest is not entry and self.clock() < latest[0]:
                self._count("hit")  # computed while we waited for the lock
                return latest[1]
            self._count("miss")
            value = compute()
            self._store(key, value)
            return value
        finally:
            lock.release()

    def _store(self, key: Hashable, value: bytes) -> None:
        with self._guard:
            self._entries.pop(key, None)
            while len(self._entries) >= self.max_entries:
                oldest = next(iter(self._entries))
                del self._entries[oldest]
                self._locks.pop(oldest, None)
            self._entries[key] = (self.clock() + self.max_age, value)

    def clear(self) -> None:
        with self._guard:
            self._entries.clear()

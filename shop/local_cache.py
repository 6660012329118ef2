"""The per-process single-flight cache: bounded, one computation per key and process at a time."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

from shop.metrics import ShopMetrics


class LocalCache:
    """Entries are fresh for `max_age` seconds (or as long as `put` says), then kept stale for
    `keep_for` more (forever by default: until evicted).

    A fresh entry is served at the cost of a dict lookup. When one has aged out, one thread of
    the process recomputes it while the others keep serving the stale value; only a key with
    nothing fit to serve (never seen, or stale beyond `keep_for`) makes the others wait for
    that one thread. At most `max_entries` keys are kept (the oldest goes first), so keys taken
    from requests cannot grow it.

    Two tiers of the shop use it: each worker's popular response bytes in front of Redis
    (`name` popular_local, lookups counted in shop_cache_requests_total), and the Redis tier's
    own copy of what it read, served while Redis is down (shop.cache; uncounted: that tier
    counts its own lookups).
    """

    def __init__(
        self,
        name: str,
        max_age: float,
        *,
        metrics: ShopMetrics | None = None,
        keep_for: float = math.inf,
        max_entries: int = 256,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.name = name
        self.max_age = max_age
        self.metrics = metrics
        self.keep_for = keep_for
        self.max_entries = max_entries
        self.clock = clock
        self._entries: dict[Hashable, tuple[float, float, Any]] = {}  # fresh, kept, value
        self._locks: dict[Hashable, threading.Lock] = {}
        self._guard = threading.Lock()

    def _count(self, result: str) -> None:
        if self.metrics is not None:
            self.metrics.cache.labels(self.name, result).inc()

    def _lock(self, key: Hashable) -> threading.Lock:
        with self._guard:
            lock = self._locks.get(key)
            if lock is None:
                lock = self._locks[key] = threading.Lock()
            return lock

    def peek(self, key: Hashable) -> Any | None:
        """The fresh value of `key`, or None (absent or aged out); nothing counted or computed."""
        entry = self._entries.get(key)
        if entry is not None and self.clock() < entry[0]:
            return entry[2]
        return None

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        entry = self._entries.get(key)
        now = self.clock()
        if entry is not None and now < entry[0]:
            self._count("hit")
            return entry[2]
        if entry is not None and now >= entry[1]:
            entry = None  # too stale to serve: wait for the refresh like a cold key
        lock = self._lock(key)
        if entry is not None and not lock.acquire(blocking=False):
            self._count("hit")  # another thread is refreshing: the stale value will do
            return entry[2]
        if entry is None:
            lock.acquire()
        try:
            latest = self._entries.get(key)
            if latest is not None and latest is not entry and self.clock() < latest[0]:
                self._count("hit")  # computed while we waited for the lock
                return latest[2]
            self._count("miss")
            value = compute()
            self.put(key, value)
            return value
        finally:
            lock.release()

    def put(self, key: Hashable, value: Any, fresh_for: float | None = None) -> None:
        """Keep `value` for `key`, fresh for `fresh_for` seconds (default `max_age`)."""
        now = self.clock()
        fresh_until = now + (self.max_age if fresh_for is None else fresh_for)
        with self._guard:
            self._entries.pop(key, None)
            while len(self._entries) >= self.max_entries:
                oldest = next(iter(self._entries))
                del self._entries[oldest]
                self._locks.pop(oldest, None)
            self._entries[key] = (fresh_until, fresh_until + self.keep_for, value)

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._guard:
            self._entries.clear()

"""A Redis read-through cache that serves stale while one caller refreshes (no stampede), and
goes on serving from the process's own copy (shop.local_cache), refreshed by one caller at a
time, while Redis is down; and whether Redis answers now (`redis_answers`)."""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

import redis

from shop.local_cache import LocalCache
from shop.metrics import ShopMetrics

log = logging.getLogger("shop.cache")

# Delete the refresh lock only if we still own it.
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class StaleWhileRevalidateCache:
    """Entries are fresh for `ttl` seconds and kept `stale_factor` times as long.

    A fresh entry is a hit. A stale one is served as a hit while exactly one caller (the holder
    of a short Redis lock) recomputes it, so a popular key expiring under load costs one query,
    not one per request. A cold key makes the others wait briefly for the lock holder. Redis
    errors are counted and the value comes from the source; after an error Redis is left
    alone for `breaker_seconds` so that a dead Redis costs no connect attempts per request.

    Every value read or computed is also kept in the process (a bounded LocalCache) for as
    long as Redis keeps it. While Redis is down that copy is served while fresh; when it is
    not, one thread of the process recomputes it and the others serve the stale copy meanwhile
    (or, with none, wait for that one thread): a dead Redis costs the database one query per
    key and `ttl` per process, not one per request.
    """

    def __init__(
        self,
        client: redis.Redis,
        metrics: ShopMetrics,
        name: str,
        ttl: float,
        *,
        stale_factor: float = 6.0,
        lock_ms: int = 2000,
        cold_wait: float = 0.25,
        breaker_seconds: float = 1.0,
    ):
        self.client = client
        self.metrics = metrics
        self.name = name
        self.ttl = ttl
        self.keep_ms = int(ttl * stale_factor * 1000)
        self.lock_ms = lock_ms
        self.cold_wait = cold_wait
        self.breaker_seconds = breaker_seconds
        self._open_until = 0.0
        self._release = client.register_script(_RELEASE)
        self.copy = LocalCache(f"{name}_copy", ttl, keep_for=self.keep_ms / 1000 - ttl)

    def _count(self, result: str) -> None:
        self.metrics.cache.labels(self.name, result).inc()

    def get(self, key: str, compute: Callable[[], Any]) -> Any:
        if time.monotonic() < self._open_until:
            self._count("error")
            return self._without_redis(key, compute)
        try:
            value = self._get(key, compute)
        except redis.RedisError as exc:
            log.warning("cache %s: redis unavailable (%s); serving from the source", self.name, exc)
            self._open_until = time.monotonic() + self.breaker_seconds
            self._count("error")
            return self._without_redis(key, compute)
        return value

    def _without_redis(self, key: str, compute: Callable[[], Any]) -> Any:
        return self.copy.get(key, compute)

    def _get(self, key: str, compute: Callable[[], Any]) -> Any:
        entry = self._read(key)
        if entry is not None and entry["fresh_until"] > time.time():
            self._count("hit")
            return entry["value"]
        token = self._try_lock(key)
        if token is not None:
            # Whoever held the lock before us may have just refreshed: check again.
            latest = self._read(key)
            if latest is not None and latest["fresh_until"] > time.time():
                self._unlock(key, token)
                self._count("hit")
                return latest["value"]
            return self._refresh(key, token, compute)
        if entry is not None:
            self._count("hit")  # someone is refreshing: the stale value is good enough
            return entry["value"]
        deadline = time.monotonic() + self.cold_wait
        while time.monotonic() < deadline:
            time.sleep(0.01)
            entry = self._read(key)
            if entry is not None:
                self._count("hit")
                return entry["value"]
        self._count("miss")
        return compute()

    def _read(self, key: str) -> dict | None:
        raw = self.client.get(key)
        entry = json.loads(raw) if raw is not None else None
        if entry is not None:  # a copy for when Redis goes away, as fresh as Redis's
            self.copy.put(key, entry["value"], entry["fresh_until"] - time.time())
        return entry

    def _try_lock(self, key: str) -> str | None:
        token = secrets.token_hex(8)
        if self.client.set(f"{key}:refresh", token, nx=True, px=self.lock_ms):
            return token
        return None

    def _refresh(self, key: str, token: str, compute: Callable[[], Any]) -> Any:
        self._count("miss")
        try:
            value = compute()
            self.copy.put(key, value)
            entry = {"fresh_until": time.time() + self.ttl, "value": value}
            self.client.set(key, json.dumps(entry, separators=(",", ":")), px=self.keep_ms)
            return value
        finally:
            self._unlock(key, token)

    def _unlock(self, key: str, token: str) -> None:
        self._release(keys=[f"{key}:refresh"], args=[token])


def redis_answers(client: redis.Redis) -> bool:
    """Whether Redis answers a PING now (within the client's short timeouts)."""
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False

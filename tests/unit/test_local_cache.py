"""The per-worker response cache: bounded staleness, one computation per key at a time."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from prometheus_client import CollectorRegistry

from shop.local_cache import LocalCache
from shop.metrics import ShopMetrics


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make(max_age: float = 1.0, **kwargs) -> tuple[LocalCache, Clock, CollectorRegistry]:
    registry = CollectorRegistry()
    clock = Clock()
    cache = LocalCache(
        "popular_local", max_age, metrics=ShopMetrics(registry), clock=clock, **kwargs
    )
    return cache, clock, registry


def counts(registry: CollectorRegistry) -> dict[str, float]:
    return {
        r: registry.get_sample_value(
            "shop_cache_requests_total", {"cache": "popular_local", "result": r}
        )
        for r in ("hit", "miss")
    }


def test_an_entry_is_served_until_it_ages_out_then_recomputed():
    cache, clock, registry = make(max_age=1.0)
    values = iter([b"one", b"two"])
    assert cache.get("k", lambda: next(values)) == b"one"
    clock.now += 0.99
    assert cache.get("k", lambda: next(values)) == b"one"
    clock.now += 0.02
    assert cache.get("k", lambda: next(values)) == b"two"
    assert counts(registry) == {"hit": 1, "miss": 2}


class Gated:
    """A computation that says it has started, then returns its value once released."""

    def __init__(self, value: bytes):
        self.value = value
        self.started, self.release = threading.Event(), threading.Event()
        self.calls = 0

    def __call__(self) -> bytes:
        self.calls += 1
        self.started.set()
        assert self.release.wait(30)
        return self.value


def test_cold_key_is_computed_once_while_the_others_wait():
    cache, _, registry = make()
    compute = Gated(b"value")

    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(cache.get, "k", compute)
        assert compute.started.wait(30)
        others = [pool.submit(cache.get, "k", compute) for _ in range(7)]
        compute.release.set()
        results = [first.result(30), *(f.result(30) for f in others)]
    assert results == [b"value"] * 8
    assert compute.calls == 1
    assert counts(registry) == {"hit": 7, "miss": 1}


def test_aged_entry_is_served_while_one_thread_refreshes():
    cache, clock, registry = make()
    cache.get("k", lambda: b"old")
    clock.now += 5
    slow = Gated(b"new")

    with ThreadPoolExecutor(2) as pool:
        refreshing = pool.submit(cache.get, "k", slow)
        assert slow.started.wait(30)
        # Never waits: the old bytes while the refresh is under way.
        assert cache.get("k", lambda: b"never computed") == b"old"
        slow.release.set()
        assert refreshing.result(30) == b"new"
    assert cache.get("k", lambda: b"never computed") == b"new"
    assert counts(registry) == {"hit": 2, "miss": 2}


def test_a_failed_computation_leaves_the_key_computable():
    cache, _, _ = make()

    def broken() -> bytes:
        raise RuntimeError("database down")

    for _ in range(2):
        with pytest.raises(RuntimeError):
            cache.get("k", broken)
    assert cache.get("k", lambda: b"back") == b"back"


def test_entries_are_bounded_oldest_first():
    cache, _, _ = make(max_entries=3)
    for key in range(5):
        cache.get(key, lambda key=key: str(key).encode())
    assert cache.get(0, lambda: b"recomputed") == b"recomputed"
    assert cache.get(4, lambda: b"recomputed") == b"4"

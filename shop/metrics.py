"""The shop's Prometheus metrics (docs/metrics.md), its request counting and its /metrics."""

from __future__ import annotations

import os
import struct
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from flask import Flask, Response, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from shop.settings import STRATEGIES

# Latency buckets around the SLOs (popular < 50 ms, orders < 200 ms at p95).
LATENCY_BUCKETS = (
    0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.5, 5.0,
    10.0,
)  # fmt: skip
# Paths whose requests are not counted: probes, scrapes and the contract are not traffic.
NOT_TRACKED = frozenset({"/metrics", "/healthz", "/readyz", "/openapi.json"})

# Every label value the shop's counters can take, so that each series exists at 0 from the
# start: a series born with its first event loses that event to rate() and increase(), and
# after a restart a series the new process lacks would keep the old process's value.
# The `operation` values of shop/db.py's callers, and the `kind`s of shop.db.classify.
OPERATIONS = ("list_products", "get_product", "popular_products", "get_points", "charge_points",
              "get_order", "place_order")  # fmt: skip
RETRIED_OPERATIONS = ("place_order", "charge_points")
ERROR_KINDS = ("deadlock", "lock_wait_timeout", "disconnect", "other")
# An order's outcomes (shop.orders): created, a replay, a domain refusal by its error code, a
# deadlock or lock wait the strategy did not absorb, anything else.
ORDER_RESULTS = ("created", "replayed", "out_of_stock", "insufficient_points", "not_found",
                 "idempotency_key_reused", "deadlock", "lock_wait_timeout", "error")  # fmt: skip
CACHE_RESULTS = {"popular": ("hit", "miss", "error"), "popular_local": ("hit", "miss")}
POOL_STATES = ("in_use", "idle", "capacity")


class HttpMetrics:
    """The request series every response is counted in, by the Flask hooks (`track_requests`)
    or before Flask (shop.fast_path): the names, labels and buckets prometheus-flask-exporter
    gave them (grouped by the URL rule), which dashboards, rules and the deck read."""

    def __init__(self, registry: CollectorRegistry | None):
        self.duration = Histogram(
            "flask_http_request_duration_seconds",
            "Flask HTTP request duration in seconds",
            ["method", "url_rule", "status"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.total = Counter(
            "flask_http_request_total",
            "Total number of HTTP requests",
            ["method", "status"],
            registry=registry,
        )

    def observe(self, method: str, url_rule: str, status: int, seconds: float) -> None:
        self.duration.labels(method, url_rule, status).observe(seconds)
        self.total.labels(method, status).inc()

    def expect(self, answers: Iterable[tuple[str, str, int]]) -> None:
        """Every (method, URL rule, status) the contract answers, at 0 until it happens (the
        untracked paths' left out)."""
        for method, url_rule, status in answers:
            if url_rule in NOT_TRACKED:
                continue
            self.duration.labels(method, url_rule, status)
            self.total.labels(method, status)


class ShopMetrics:
    """The metrics of docs/metrics.md, registered in `registry` (None: multiprocess), every
    known label set at 0."""

    def __init__(self, registry: CollectorRegistry | None):
        self.registry = registry
        self.http = HttpMetrics(registry)
        self.orders = Counter(
            "shop_orders_total",
            "Order attempts by strategy and result "
            "(created, replayed, out_of_stock, insufficient_points, deadlock, lock_wait_timeout, "
            "error).",
            ["strategy", "result"],
            registry=registry,
        )
        self.order_duration = Histogram(
            "shop_order_duration_seconds",
            "Time to place an order, retries included.",
            ["strategy"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.db_errors = Counter(
            "shop_db_errors_total",
            "Database errors by operation and kind (deadlock, lock_wait_timeout, disconnect, "
            "other).",
            ["operation", "kind"],
            registry=registry,
        )
        self.db_retries = Counter(
            "shop_db_retries_total",
            "Transactions retried after a deadlock or lock-wait timeout.",
            ["operation"],
            registry=registry,
        )
        self.cache = Counter(
            "shop_cache_requests_total",
            "Cache lookups by cache and result (hit, miss, error).",
            ["cache", "result"],
            registry=registry,
        )
        self.db_pool = Gauge(
            "shop_db_pool_connections",
            "Database pool connections by state (in_use, idle, capacity), summed over workers.",
            ["state"],
            registry=registry,
            multiprocess_mode="livesum",
        )
        for strategy in STRATEGIES:
            self.order_duration.labels(strategy)
            for result in ORDER_RESULTS:
                self.orders.labels(strategy, result)
        for operation in OPERATIONS:
            for kind in ERROR_KINDS:
                self.db_errors.labels(operation, kind)
        for operation in RETRIED_OPERATIONS:
            self.db_retries.labels(operation)
        for cache, results in CACHE_RESULTS.items():
            for result in results:
                self.cache.labels(cache, result)
        for state in POOL_STATES:
            self.db_pool.labels(state)


def order_result(code: str) -> str:
    """The `result` label of an order that ended with the error `code`: the code when it is a
    known outcome, else `error` (the label set stays the known one)."""
    return code if code in ORDER_RESULTS else "error"


class CacheCollector:
    """shop_cache_up: whether this shop's Redis answers now, asked at each scrape (`answers`).
    Down, the shop still answers everything from the database: degraded, not unready."""

    def __init__(self, answers: Callable[[], bool]):
        self.answers = answers

    def collect(self):
        yield GaugeMetricFamily(
            "shop_cache_up",
            "1 if the shop's Redis answers a PING, 0 if not (the shop then serves from the "
            "database).",
            value=1 if self.answers() else 0,
        )


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class ServerProcessCollector:
    """process_* of the whole server: its main process (`pid`) and its workers, summed.

    Multiprocess mode has no process metrics of its own, and one worker's would say little:
    CPU and memory are the server's. The start time is the main process's."""

    def __init__(self, pid: int, proc: str = "/proc"):
        self.pid, self.proc = pid, proc

    def pids(self) -> list[int]:
        try:
            children = Path(self.proc, str(self.pid), "task", str(self.pid), "children")
            return [self.pid, *map(int, children.read_text().split())]
        except OSError:
            return [self.pid]

    def collect(self):
        totals: dict[str, float] = {}
        start = None
        for pid in self.pids():
            for family in ProcessCollector(
                pid=lambda p=pid: p, proc=self.proc, registry=None
            ).collect():
                for sample in family.samples:
                    if sample.name == "process_start_time_seconds":
                        start = sample.value if pid == self.pid else start
                    elif sample.name in _SUMMED:
                        totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
        for name, (kind, doc) in _SUMMED.items():
            if name in totals:
                yield kind(name, doc, value=totals[name])
        if start is not None:
            yield GaugeMetricFamily(
                "process_start_time_seconds", "Start time of the server (its arbiter).", value=start
            )


_SUMMED = {
    "process_cpu_seconds_total": (CounterMetricFamily, "CPU seconds of the server's processes."),
    "process_resident_memory_bytes": (GaugeMetricFamily, "Resident memory of its processes."),
    "process_open_fds": (GaugeMetricFamily, "Open file descriptors of its processes."),
}


# A worker's live gauges, one file per worker: gauge_livesum_<pid>.db (prometheus_client's naming).
_LIVE_GAUGE_PREFIX = "gauge_live"


def forget_dead_workers(folder: str) -> list[int]:
    """A worker that died (killed, replaced by the server) leaves its live gauges' files: they
    must stop counting towards the sums. Returns the pids forgotten."""
    dead = set()
    for name in os.listdir(folder):
        if name.startswith(_LIVE_GAUGE_PREFIX) and name.endswith(".db"):
            pid = name[: -len(".db")].rpartition("_")[2]
            if pid.isdigit() and not Path("/proc", pid).exists():
                dead.add(int(pid))
    for pid in dead:
        mark_process_dead(pid, folder)
    return sorted(dead)


class MultiprocessExposition:
    """/metrics under shop.serve: the workers' files summed, plus the server's process metrics
    (SHOP_SERVER_PID, set by shop/serve.py in the main process before the workers start) and
    what is asked at scrape time (`collectors`)."""

    def __init__(self, folder: str, collectors: Iterable = ()):
        self.folder = folder
        self.collectors = list(collectors)

    def registry(self) -> CollectorRegistry:
        forget_dead_workers(self.folder)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self.folder)
        server = os.environ.get("SHOP_SERVER_PID", "")
        if server.isdigit():
            registry.register(ServerProcessCollector(int(server)))
        for collector in self.collectors:
            registry.register(collector)
        return registry


def _exposition(registry: CollectorRegistry) -> bytes:
    # A booting worker creates its sample file empty, then sizes it: read in between, the file
    # is too short to unpack. Read again rather than fail the scrape.
    for attempt in range(5):
        try:
            return generate_latest(registry)
        except struct.error:
            if attempt == 4:
                raise
            time.sleep(0.01)
    raise AssertionError("not reached")


def _check_multiprocess_values(folder: str) -> None:
    """prometheus_client chooses where values live when it is first imported: if
    PROMETHEUS_MULTIPROC_DIR was set only after that, this worker's samples would stay in its
    memory and the summed /metrics would miss them. shop.serve sets it first; a launcher that
    does not fails here, at start, rather than report nothing."""
    if not Path(folder, f"counter_{os.getpid()}.db").exists():
        raise RuntimeError(
            "PROMETHEUS_MULTIPROC_DIR was set after prometheus_client was imported: set it "
            "before the server starts (python -m shop.serve does)"
        )


def track_requests(app: Flask, http: HttpMetrics) -> None:
    """Count every response of `app` but those of NOT_TRACKED paths, timed from the first
    before-request hook (registered before the others, so a debug delay is timed too)."""

    @app.before_request
    def _start() -> None:
        request.environ["shop.started"] = time.perf_counter()

    @app.after_request
    def _count(response: Response) -> Response:
        started = request.environ.get("shop.started")
        if started is not None and request.path not in NOT_TRACKED:
            rule = request.url_rule  # None for a path no route matches: "None", as before
            elapsed = max(time.perf_counter() - started, 0.0)
            http.observe(request.method, str(rule), response.status_code, elapsed)
        return response


def attach_metrics(app: Flask, collectors: Iterable = ()) -> ShopMetrics:
    """The shop's metrics, its requests counted, and /metrics on `app`: under shop.serve
    (PROMETHEUS_MULTIPROC_DIR) summed over workers. `collectors` are asked at each scrape."""
    disable_created_metrics()  # the *_created series only double what Prometheus stores
    folder = multiprocess_dir()
    if folder:
        metrics = ShopMetrics(registry=None)
        _check_multiprocess_values(folder)
        exposition = MultiprocessExposition(folder, collectors)
        current = exposition.registry
    else:
        metrics = ShopMetrics(registry=CollectorRegistry())
        ProcessCollector(registry=metrics.registry)
        for collector in collectors:
            metrics.registry.register(collector)
        current = lambda: metrics.registry  # noqa: E731
    track_requests(app, metrics.http)

    @app.get("/metrics")
    def prometheus_metrics() -> Response:
        return Response(_exposition(current()), content_type=CONTENT_TYPE_LATEST)

    return metrics

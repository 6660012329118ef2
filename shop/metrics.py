"""The shop's Prometheus metrics: prometheus-flask-exporter's defaults plus the domain ones."""

from __future__ import annotations

import logging
import os
import re
import struct
import time
from dataclasses import dataclass
from pathlib import Path

from flask import Flask
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    values,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.process_collector import ProcessCollector
from prometheus_flask_exporter import PrometheusMetrics
from prometheus_flask_exporter.multiprocess import MultiprocessInternalPrometheusMetrics

# Latency buckets around the SLOs (popular < 50 ms, orders < 200 ms at p95).
LATENCY_BUCKETS = (
    0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.5, 5.0,
    10.0,
)  # fmt: skip
NOT_TRACKED = [r"^/metrics$", r"^/healthz$", r"^/readyz$", r"^/openapi\.json$"]


# The `operation` label values of shop/db.py's callers, and the `kind`s of shop.db.classify.
OPERATIONS = ("list_products", "get_product", "popular_products", "get_points", "charge_points",
              "get_order", "place_order")  # fmt: skip
RETRIED_OPERATIONS = ("place_order", "charge_points")
ERROR_KINDS = ("deadlock", "lock_wait_timeout", "disconnect", "other")


@dataclass(frozen=True)
class HttpMetrics:
    """prometheus-flask-exporter's request metrics, for a response served before Flask (the
    popular list's fast path, shop.fast_path) to be counted in the same series as the rest."""

    duration: Histogram  # flask_http_request_duration_seconds{method, url_rule, status}
    total: Counter  # flask_http_request_total{method, status}

    @classmethod
    def of(cls, exporter: PrometheusMetrics) -> HttpMetrics:
        # The exporter keeps them in its registry only (its export_defaults holds no attribute).
        found = exporter.registry._names_to_collectors
        return cls(found["flask_http_request_duration_seconds"], found["flask_http_request_total"])


class ShopMetrics:
    """The domain metrics of docs/metrics.md, registered in `registry` (None: multiprocess)."""

    def __init__(self, registry: CollectorRegistry | None, http: HttpMetrics | None = None):
        self.registry = registry
        self.http = http
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
        # Counters of rare events exist at 0 from the start: a series born with its first
        # event would lose that event to rate() and increase() (and to the alerts on them).
        for operation in OPERATIONS:
            for kind in ERROR_KINDS:
                self.db_errors.labels(operation, kind)
        for operation in RETRIED_OPERATIONS:
            self.db_retries.labels(operation)
        for result in ("hit", "miss", "error"):
            self.cache.labels("popular", result)
        for result in ("hit", "miss"):
            self.cache.labels("popular_local", result)


log = logging.getLogger("shop.metrics")


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def _ensure_multiprocess_values() -> None:
    """prometheus_client chose its value class when it was first imported; if
    PROMETHEUS_MULTIPROC_DIR was set only after that (a server config that imports it first),
    every sample would stay in this worker's memory and the summed /metrics would be empty.
    shop/serve.py sets the variable first; this catches any other launcher."""
    if values.ValueClass is values.MutexValue:
        log.warning(
            "PROMETHEUS_MULTIPROC_DIR was set after prometheus_client was imported; "
            "switching to multiprocess values (set it before the server starts)"
        )
        values.ValueClass = values.get_value_class()


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


_LIVE_GAUGE = re.compile(r"gauge_live\w*?_(\d+)\.db\Z")


def forget_dead_workers(folder: str) -> list[int]:
    """A worker that died (killed, replaced by the server) leaves its live gauges' files: they
    must stop counting towards the sums. Returns the pids forgotten."""
    dead = set()
    for name in os.listdir(folder):
        match = _LIVE_GAUGE.match(name)
        if match and not Path("/proc", match[1]).exists():
            dead.add(int(match[1]))
    for pid in dead:
        mark_process_dead(pid, folder)
    return sorted(dead)


class _MultiprocessMetrics(MultiprocessInternalPrometheusMetrics):
    """The workers' summed files, plus the server's process metrics (SHOP_SERVER_PID, set by
    shop/serve.py in the main process before the workers start)."""

    def generate_metrics(self, accept_header=None, names=None):
        forget_dead_workers(multiprocess_dir())
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        server = os.environ.get("SHOP_SERVER_PID", "")
        if server.isdigit():
            registry.register(ServerProcessCollector(int(server)))
        if names:
            registry = registry.restricted_registry(names)
        encoder, content_type = choose_encoder(accept_header)
        # A booting worker creates its sample file empty, then sizes it: read in between, the
        # file is too short to unpack. Read again rather than fail the scrape.
        for attempt in range(5):
            try:
                return encoder(registry).decode("utf-8"), content_type
            except struct.error:
                if attempt == 4:
                    raise
                time.sleep(0.01)
        raise AssertionError("not reached")


def attach_metrics(app: Flask) -> ShopMetrics:
    """Expose /metrics on `app`; under shop.serve (PROMETHEUS_MULTIPROC_DIR) summed over workers."""
    disable_created_metrics()  # the *_created series only double what Prometheus stores
    options = {
        "group_by": "url_rule",
        "buckets": LATENCY_BUCKETS,
        "excluded_paths": NOT_TRACKED,
    }
    if multiprocess_dir():
        _ensure_multiprocess_values()
        exporter = _MultiprocessMetrics(app, **options)
        return ShopMetrics(registry=None, http=HttpMetrics.of(exporter))
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    exporter = PrometheusMetrics(app, registry=registry, **options)
    return ShopMetrics(registry=registry, http=HttpMetrics.of(exporter))

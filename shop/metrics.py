"""The shop's Prometheus metrics: prometheus-flask-exporter's defaults plus the domain ones."""

from __future__ import annotations

import os

from flask import Flask
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)
from prometheus_flask_exporter import PrometheusMetrics
from prometheus_flask_exporter.multiprocess import GunicornInternalPrometheusMetrics

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


class ShopMetrics:
    """The domain metrics of docs/metrics.md, registered in `registry` (None: multiprocess)."""

    def __init__(self, registry: CollectorRegistry | None):
        self.registry = registry
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


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def attach_metrics(app: Flask) -> ShopMetrics:
    """Expose /metrics on `app`; under gunicorn (PROMETHEUS_MULTIPROC_DIR) summed over workers."""
    disable_created_metrics()  # the *_created series only double what Prometheus stores
    options = {
        "group_by": "url_rule",
        "buckets": LATENCY_BUCKETS,
        "excluded_paths": NOT_TRACKED,
    }
    if multiprocess_dir():
        GunicornInternalPrometheusMetrics(app, **options)
        return ShopMetrics(registry=None)
    registry = CollectorRegistry()
    PrometheusMetrics(app, registry=registry, **options)
    return ShopMetrics(registry=registry)

"""The consumer's Prometheus metrics: the queue's depth and lag read at each scrape, plus its
own counters (docs/metrics.md)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from shop.sales.queue import QueueState

ERROR_KINDS = ("deadlock", "lock_wait_timeout", "disconnect", "other")


class QueueCollector(Collector):
    """`shop_sales_queue_depth` and `shop_sales_queue_lag_seconds`, fresh from `read()` on each
    scrape; nothing (and `errors` counted) when the database does not answer."""

    def __init__(self, read: Callable[[], QueueState | None], errors: Counter):
        self._read = read
        self._errors = errors

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            state = self._read()
        except Exception as exc:  # a scrape must answer whatever the database does
            from shop.db import classify

            self._errors.labels("scrape", classify(exc)).inc()
            return
        if state is None:
            return
        yield GaugeMetricFamily(
            "shop_sales_queue_depth",
            "Order lines waiting in sales_queue for the consumer (SHOP_SALES_MODE=async).",
            value=state.depth,
        )
        yield GaugeMetricFamily(
            "shop_sales_queue_lag_seconds",
            "Age of the oldest line waiting in sales_queue (0 when the queue is empty).",
            value=state.lag_seconds,
        )


class ConsumerMetrics:
    """The consumer's counters in `registry`, and the queue collector registered beside them."""

    def __init__(self, registry: CollectorRegistry, read: Callable[[], QueueState | None]):
        self.registry = registry
        self.rows = Counter(
            "shop_sales_consumer_rows_total",
            "Queue rows the consumer moved into product_sales_daily (committed).",
            registry=registry,
        )
        self.batches = Counter(
            "shop_sales_consumer_batches_total",
            "Batches the consumer committed.",
            registry=registry,
        )
        self.errors = Counter(
            "shop_sales_consumer_errors_total",
            "Database errors of the consumer by step (drain, scrape) and kind.",
            ["step", "kind"],
            registry=registry,
        )
        for step in ("drain", "scrape"):
            for kind in ERROR_KINDS:
                self.errors.labels(step, kind)
        registry.register(QueueCollector(read, self.errors))

"""Locust's metrics for Prometheus: per-endpoint request counts, failures and a real histogram,
kept per process and merged on the master, exported with the run's live state."""

from __future__ import annotations

import math
import time
from bisect import bisect_left
from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from lab.load.scenarios import Plan

# Seconds; the same edges as the shop's own histogram where they overlap.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)


class Counts:
    """Per endpoint request counts, failures and histogram buckets (plain, msgpack-able)."""

    def __init__(self) -> None:
        self.data: dict[str, dict] = {}

    def _entry(self, key: str) -> dict:
        entry = self.data.get(key)
        if entry is None:
            entry = self.data[key] = {
                "requests": 0, "failures": 0, "sum": 0.0, "buckets": [0] * (len(BUCKETS) + 1)
            }  # fmt: skip
        return entry

    def observe(self, key: str, seconds: float, failed: bool, count: int = 1) -> None:
        entry = self._entry(key)
        entry["requests"] += count
        entry["failures"] += failed
        entry["sum"] += seconds
        entry["buckets"][bisect_left(BUCKETS, seconds)] += count

    def merge(self, other: dict[str, dict]) -> None:
        for key, theirs in other.items():
            mine = self._entry(key)
            for name in ("requests", "failures", "sum"):
                mine[name] += theirs[name]
            mine["buckets"] = [
                a + b for a, b in zip(mine["buckets"], theirs["buckets"], strict=True)
            ]

    def take(self) -> dict[str, dict]:
        data, self.data = self.data, {}
        return data


class Exporter:
    """A prometheus_client collector over the counts (keyed `METHOD name`) and the runner's
    live state; `scraped` is called on every scrape (the run waits for one at its edges)."""

    def __init__(
        self,
        counts: Counts,
        plan: Plan,
        testid: str,
        runner: Callable[[], object],
        started: Callable[[], float | None],
        scraped: Callable[[], None],
    ) -> None:
        self.counts, self.plan, self.testid = counts, plan, testid
        self.runner, self.started, self.scraped = runner, started, scraped

    def collect(self) -> Iterator:
        self.scraped()
        labels = ["testid", "method", "name"]
        hist = HistogramMetricFamily(
            "locust_request_duration_seconds", "Response time of each request.", labels=labels
        )
        reqs = CounterMetricFamily(
            "locust_requests", "Requests sent, failed ones included.", labels=labels
        )
        fails = CounterMetricFamily("locust_failures", "Requests that failed.", labels=labels)
        for key, entry in sorted(self.counts.data.items()):
            method, name = key.split(" ", 1)
            values = [self.testid, method, name]
            cumulative, buckets = 0, []
            for edge, count in zip((*BUCKETS, math.inf), entry["buckets"], strict=True):
                cumulative += count
                buckets.append(("+Inf" if edge == math.inf else repr(edge), cumulative))
            hist.add_metric(values, buckets, entry["sum"])
            reqs.add_metric(values, entry["requests"])
            fails.add_metric(values, entry["failures"])
        yield from (hist, reqs, fails)
        yield from self._state()

    def _state(self) -> Iterator:
        runner, plan, testid = self.runner(), self.plan, self.testid
        users = GaugeMetricFamily("locust_users", "Users running now.", labels=["testid"])
        users.add_metric([testid], getattr(runner, "user_count", 0) if runner else 0)
        target = GaugeMetricFamily(
            "locust_target_tps", "The run's TARGET_TPS.", labels=["testid", "scenario"]
        )
        target.add_metric([testid, plan.scenario], plan.target_tps)
        slo = GaugeMetricFamily(
            "locust_slo_p95_seconds",
            "Each endpoint's p95 latency objective in the run.",
            labels=["testid", "endpoint"],
        )
        for name in plan.endpoints:
            slo.add_metric([testid, name], plan.p95_ms(name) / 1000)
        # The 1-based index of the plan's stage running now, for the dashboards' annotations.
        stage = GaugeMetricFamily(
            "locust_loadtest_stage", "The plan's stage running now (1-based).", labels=["testid"]
        )
        started = self.started()
        stage.add_metric([testid], plan.stage_at(0 if started is None else time.time() - started))
        workers = GaugeMetricFamily(
            "locust_workers", "Workers connected to the master.", labels=["testid"]
        )
        workers.add_metric([testid], len(getattr(runner, "clients", {}) or {}))
        yield from (users, target, slo, workers, stage)

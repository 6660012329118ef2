"""The servers' own view of a run's window: per-route rate, latency and 5xx from the shop,
resources against their limits, the cache, the DB pool, deadlocks and the strategy in use.

Counters are read as "grown over the window" from their raw samples (`grown`), not with
`increase()`, which drops the first scrape of a series born inside the window and extrapolates
to the window's edges; nor as the value at the end minus the value at the start, which an
instant query reads up to 5 minutes back, across a restart, from a process that is gone.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field

from lab.report.prometheus import Prometheus, PrometheusError
from signals import dialects
from signals.catalog import SHOP_QUANTILES, route_quantile
from signals.load import latency_quantile, testid_matchers
from signals.promql import selector


def growth(
    points: list[tuple[float, float]], since: float, starts: dict[float, float] | None = None
) -> float:
    """How much one counter series grew after `since`, from its raw samples in time order: from
    its last sample at or before `since` (none: the series was born after it and counts from
    0), every rise, and after a reset the value it rose to from 0. A reset is a drop, or, with
    `starts` (the start time of the process that counted, by sample time: one scrape gives
    both), a new process: its first value may be above the old one's last. Exact up to what
    the scrapes at the edges saw; nothing extrapolated."""
    starts = starts or {}
    last, last_start, total = 0.0, None, 0.0
    for t, v in points:
        start = starts.get(t)
        restarted = start is not None and last_start is not None and start != last_start
        if t > since:
            total += v if restarted or v < last else v - last
        last, last_start = v, start if start is not None else last_start
    return total


# How far before the window a series' last sample may be and still stand for its value at the
# window's start: a few scrapes, and never less than BASELINE_MIN_S, because a scrape delayed on
# a busy machine must not make a counter look newborn (its whole value counted as the run's).
# A drop, or a new process with `starts`, is a reset whatever the distance.
BASELINE_SCRAPES = 2
BASELINE_MIN_S = 30.0


@dataclass(frozen=True)
class Span:
    """The run's window as the queries see it: evaluated at `end`, `seconds` long."""

    end: float
    seconds: int
    run_seconds: float
    scrape_s: float = 5.0
    started: float | None = None  # the run's own start, when known

    @classmethod
    def of_run(cls, started_at: float, ended_at: float, scrape_s: float) -> Span:
        """The run alone, not the graphs' margins (a run right before or after is not ours):
        from a scrape before its start to two after its end, so its last samples are in."""
        end = ended_at + 2 * scrape_s
        seconds = math.ceil(end - (started_at - scrape_s))
        return cls(end=end, seconds=seconds, run_seconds=ended_at - started_at, scrape_s=scrape_s,
                   started=started_at)  # fmt: skip

    @property
    def start(self) -> float:
        return self.end - self.seconds

    @property
    def counted_from(self) -> float:
        """After when a counter's rises are the run's: its start. Nothing of the run happens
        before it, and a scrape in the interval before it may still carry the run before (the
        demo's safe run once counted 74 of the naive run's last orders, scraped from the old
        shop after the switch had begun)."""
        return self.start if self.started is None else self.started

    @property
    def baseline_since(self) -> float:
        """From where a counter's samples are read: its value at the run's start is its last
        sample at or before it, however late the scrape before the run came."""
        return self.counted_from - max(BASELINE_SCRAPES * self.scrape_s, BASELINE_MIN_S)


def grown(
    prom: Prometheus, selector: str, span: Span, *by: str, starts: str = ""
) -> dict[tuple[str, ...], float]:
    """How much the counter series of `selector` grew over `span` (`growth`), summed by the
    labels `by` (one key, `()`, without them); empty when Prometheus has none or refuses.
    `starts`: the series of the counting processes' start times, matched by job and instance
    (SHOP_STARTS for the shop's own counters)."""
    since = span.baseline_since
    try:
        found = prom.samples(selector, since, span.end)
        started = prom.samples(starts, since, span.end) if starts else []
    except PrometheusError:
        return {}
    by_target = {_target(s.labels): dict(s.points) for s in started}
    sums: dict[tuple[str, ...], float] = {}
    for series in found:
        key = tuple(series.labels.get(label, "") for label in by)
        starts_of = by_target.get(_target(series.labels))
        sums[key] = sums.get(key, 0.0) + growth(series.points, span.counted_from, starts_of)
    return sums


def _target(labels: dict[str, str]) -> tuple[str, str]:
    return labels.get("job", ""), labels.get("instance", "")


# The shop's counters are its processes' own: a new process (a restart, a strategy switch)
# starts them again from 0, whatever they read before.
SHOP_STARTS = 'process_start_time_seconds{job="shop"}'


def grown_by(
    prom: Prometheus, selector: str, span: Span, label: str, starts: str = ""
) -> dict[str, float]:
    """`grown` by one label, keyed by its value."""
    return {key[0]: v for key, v in grown(prom, selector, span, label, starts=starts).items()}


def _by(prom: Prometheus, expr: str, at: float, label: str) -> dict[str, float]:
    try:
        return {s.labels.get(label, ""): s.last for s in prom.query(expr, at)}
    except PrometheusError:
        return {}


def _one(prom: Prometheus, expr: str, at: float) -> float | None:
    try:
        return prom.value(expr, at)
    except PrometheusError:
        return None


@dataclass
class RouteView:
    route: str
    requests: float | None
    tps: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    errors_5xx: float | None  # share of the route's requests


def _per_route(prom: Prometheus, span: Span, matchers: str = "") -> dict[str, float]:
    """Requests grown over the span by route, from the app's own counter in its dialect."""
    out: dict[str, float] = {}
    for d in dialects.DIALECTS:
        series = selector(f"{d.histogram}_count", matchers, d.exclude)
        out.update(grown_by(prom, series, span, d.route_label, SHOP_STARTS))
    return out


def route_views(prom: Prometheus, span: Span, routes: list[str]) -> list[RouteView]:
    """Each of `routes` (the target's observed routes) as the app saw it over the span."""
    w = span.seconds
    requests, failed = _per_route(prom, span), _per_route(prom, span, 'status=~"5.."')
    views = []
    for route in routes:
        q = {
            quantile: _one(prom, route_quantile(quantile, route, f"{w}s"), span.end)
            for quantile in SHOP_QUANTILES
        }
        n = requests.get(route)
        views.append(
            RouteView(
                route=route,
                requests=n,
                tps=n / span.run_seconds if n is not None and span.run_seconds else None,
                p50_ms=_ms(q[0.5]),
                p95_ms=_ms(q[0.95]),
                p99_ms=_ms(q[0.99]),
                errors_5xx=(failed.get(route, 0.0) / n) if n else None,
            )
        )
    return views


def client_p50_ms(prom: Prometheus, span: Span, tool: str, testid: str,
                  endpoints: list[dict]) -> dict[str, float]:  # fmt: skip
    """The load tool's median per endpoint (by its key), from its histogram (its summary has
    p95/p99 only)."""
    out = {}
    for e in endpoints:
        run = testid_matchers(tool, testid)
        expr = latency_quantile(tool, 0.5, f"{span.seconds}s", matchers=run, endpoint=e["name"])
        value = _ms(_one(prom, expr, span.end))
        if value is not None:
            out[e["key"]] = value
    return out


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


@dataclass
class Resource:
    """One container (cAdvisor `name`) over the window."""

    name: str
    cpu_cores: float | None = None  # average used
    cpu_limit: float | None = None
    throttled: float | None = None  # share of CFS periods throttled
    memory_max: float | None = None
    memory_limit: float | None = None


def resources(prom: Prometheus, span: Span) -> list[Resource]:
    w, at = span.seconds, span.end
    cpu = grown_by(prom, "container_cpu_usage_seconds_total", span, "name")
    used = {name: seconds / w for name, seconds in cpu.items()}
    limit = _by(
        prom, "max by (name) (container_spec_cpu_quota / container_spec_cpu_period)", at, "name"
    )
    periods = grown_by(prom, "container_cpu_cfs_periods_total", span, "name")
    throttled_periods = grown_by(prom, "container_cpu_cfs_throttled_periods_total", span, "name")
    throttled = {n: k / periods[n] for n, k in throttled_periods.items() if periods.get(n)}
    memory = _by(
        prom, f"max by (name) (max_over_time(container_memory_working_set_bytes[{w}s]))", at, "name"
    )
    memory_limit = _by(prom, "max by (name) (container_spec_memory_limit_bytes)", at, "name")
    names = sorted(set(used) | set(limit) | set(memory))
    return [
        Resource(n, used.get(n), limit.get(n), throttled.get(n), memory.get(n), memory_limit.get(n))
        for n in names
    ]


@dataclass
class ServerView:
    routes: list[RouteView] = field(default_factory=list)
    resources: list[Resource] = field(default_factory=list)
    strategy_orders: dict[str, float] = field(default_factory=dict)
    cache_lookups: float | None = None
    cache_hits: float | None = None
    pool_in_use_max: float | None = None
    pool_capacity: float | None = None
    deadlocks: float | None = None
    lock_waits_max: float | None = None
    mariadb_version: str | None = None

    @property
    def strategy(self) -> str | None:
        """The strategy that took the run's orders (the shop labels each order with it)."""
        ordered = {k: v for k, v in self.strategy_orders.items() if v and k}
        return max(ordered, key=ordered.get) if ordered else None

    @property
    def cache_hit_ratio(self) -> float | None:
        if not self.cache_lookups:
            return None
        return (self.cache_hits or 0.0) / self.cache_lookups


def server_view(prom: Prometheus, span: Span, routes: list[str]) -> ServerView:
    w, at = span.seconds, span.end
    cache = grown_by(prom, "shop_cache_requests_total", span, "result", SHOP_STARTS)
    versions = []
    with contextlib.suppress(PrometheusError):
        versions = prom.query(f"max_over_time(mysql_version_info[{w}s])", at)
    return ServerView(
        routes=route_views(prom, span, routes),
        resources=resources(prom, span),
        strategy_orders=grown_by(prom, "shop_orders_total", span, "strategy", SHOP_STARTS),
        cache_lookups=sum(cache.values()) if cache else None,
        cache_hits=cache.get("hit"),
        pool_in_use_max=_one(prom, dialects.pool_in_use_max(f"{w}s"), at),
        pool_capacity=_one(prom, dialects.pool_capacity(), at),
        deadlocks=grown(prom, "innodb_deadlocks_total", span).get(()),
        lock_waits_max=_one(prom, f"max(max_over_time(innodb_lock_waits[{w}s]))", at),
        mariadb_version=versions[0].labels.get("version") if versions else None,
    )

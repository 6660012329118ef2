"""The catalog: every recorded signal once (name, PromQL, unit, help), grouped into the rule
files `python -m signals.build` writes, and the readers that need a window of their own."""

from __future__ import annotations

from dataclasses import dataclass

from signals import dialects, load
from signals.promql import share
from signals.slo import Slo

SHOP_QUANTILES = (0.5, 0.95, 0.99)
# Windows of the latency SLO's burn-rate alerts (Google SRE workbook, multi-window).
SLO_WINDOWS = ("5m", "30m", "1h", "6h")


@dataclass(frozen=True)
class Signal:
    record: str  # level:metric:operations
    expr: str
    unit: str  # a Grafana unit id
    help: str
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class RuleGroup:
    file: str  # provisioning/prometheus/rules/<file>.rules.yml
    name: str
    about: str  # the file's header comment
    signals: tuple[Signal, ...]
    interval: str | None = None  # None: the global evaluation_interval


def route_quantile(q: float, route: str, window: str) -> str:
    """A quantile of one route's latency over any window (the run report's figures)."""
    return dialects.quantile(q, window, matchers=f'route="{route}"', by="")


def _slow_ratio(slo: Slo, window: str) -> str:
    """Share of the load-tested routes' requests slower than their p95 objective (the bucket at
    the objective; an app whose histogram has no such bucket has no ratio)."""
    fast = "\nor\n".join(
        dialects.buckets("rate", window, matchers=f'route="{route}", le="{seconds:g}"', by="route")
        for route, seconds in slo.p95_s.items()
    )
    total = dialects.requests("rate", window, matchers=f'route=~"{slo.api_routes}"')
    return f"1 - (\n{fast}\n)\n/\n({total})"


def cfs_throttled_ratio(window: str) -> str:
    return (
        f'sum by (name) (rate(container_cpu_cfs_throttled_periods_total{{name!=""}}[{window}]))\n'
        f'/ sum by (name) (rate(container_cpu_cfs_periods_total{{name!=""}}[{window}]))'
    )


def deadlocks_increase(window: str) -> str:
    """Deadlocks the server counted in `window` (increase() copes with a server restart)."""
    return f"sum(increase(innodb_deadlocks_total[{window}]))"


def _slo_p95(slo: Slo) -> str:
    return "\nor\n".join(
        f'label_replace(vector({seconds:g}), "route", "{route}", "", "")'
        for route, seconds in slo.p95_s.items()
    )


def shop_group(slo: Slo) -> RuleGroup:
    """The service's own view, whichever dialect it speaks (signals.dialects)."""
    count = dialects.requests
    return RuleGroup(
        "shop",
        "shop-recording",
        "The service's own view, in any dialect: rate, errors and duration per route (the "
        "route template), orders, cache, pool.",
        (
            Signal("shop:orders_created:rate1m",
                   'sum(rate(shop_orders_total{result=~"created|replayed"}[1m]))', "reqps",
                   "orders created (or replayed) per second: the shop's achieved order TPS"),
            # Every other request signal is this one summed: the dialects' `or` written once.
            Signal("shop:http_requests_by_status:rate1m",
                   count("rate", "1m", by="route, status"), "reqps",
                   "requests per second by route and status", ("route", "status")),
            Signal("shop:http_requests:rate1m",
                   "sum by (route) (shop:http_requests_by_status:rate1m)", "reqps",
                   "requests per second by route", ("route",)),
            Signal("shop:http_requests_2xx:rate1m",
                   'sum by (route) (shop:http_requests_by_status:rate1m{status=~"2.."})', "reqps",
                   "requests per second answered 2xx, by route", ("route",)),
            Signal("shop:http_5xx_ratio:rate1m",
                   share('shop:http_requests_by_status:rate1m{status=~"5.."}',
                         "shop:http_requests_by_status:rate1m", "route"),
                   "percentunit", "share of a route's requests answered 5xx (0 while none)",
                   ("route",)),
            Signal("shop:api_5xx_ratio:rate1m",
                   share(f'shop:http_requests_by_status:rate1m{{route=~"{slo.api_routes}",'
                         'status=~"5.."}',
                         f'shop:http_requests_by_status:rate1m{{route=~"{slo.api_routes}"}}'),
                   "percentunit", "share of the load-tested routes' requests answered 5xx"),
            *(
                Signal(f"shop:http_request_duration_seconds:p{q * 100:g}_1m",
                       dialects.quantile(q, "1m"), "s",
                       f"p{q * 100:g} latency by route, from the app's histogram", ("route",))
                for q in SHOP_QUANTILES
            ),
            *(
                Signal(f"shop:order_duration_seconds:p{q * 100:g}_1m",
                       f"histogram_quantile({q}, sum by (le, strategy) "
                       "(rate(shop_order_duration_seconds_bucket[1m])))", "s",
                       f"p{q * 100:g} time to place an order (retries included), by strategy",
                       ("strategy",))
                for q in SHOP_QUANTILES
            ),
            Signal("shop:cache_hit:ratio_rate1m",
                   'sum(rate(shop_cache_requests_total{result="hit"}[1m]))\n'
                   "/ sum(rate(shop_cache_requests_total[1m]))", "percentunit",
                   "share of popular-list lookups answered from Redis"),
            Signal("shop:db_pool_in_use:ratio", dialects.pool_in_use_ratio(), "percentunit",
                   "share of the app's database pool (SQLAlchemy's size + overflow, or "
                   "HikariCP's maximum; all instances) checked out"),
            # Replicas: every one is a target of the shop job (`instance`); nginx balances them.
            Signal("shop:replicas_up:sum", 'sum(up{job="shop"})', "short",
                   "shop replicas answering Prometheus"),
            Signal("shop:replicas:count", 'count(up{job="shop"})', "short",
                   "shop replicas Prometheus knows of (up or not)"),
            Signal("instance:shop_http_requests:rate1m", count("rate", "1m", by="instance"),
                   "reqps", "requests per second each replica serves", ("instance",)),
            Signal("nginx:http_requests:rate1m", "sum(rate(nginx_http_requests_total[1m]))",
                   "reqps", "requests per second through nginx, the shop's entry point"),
            Signal("nginx:connections_active:sum", "sum(nginx_connections_active)", "short",
                   "client connections open at nginx (reading, writing and idle)"),
            # SHOP_SALES_MODE=async: the daily sales wait in sales_queue for the consumer (job
            # sales). Every consumer reads the same queue: max, not sum. Absent in sync mode.
            Signal("shop:sales_queue_depth:max", "max(shop_sales_queue_depth)", "short",
                   "order lines waiting for the sales consumer (async sales mode)"),
            Signal("shop:sales_queue_lag_seconds:max", "max(shop_sales_queue_lag_seconds)", "s",
                   "age of the oldest order line waiting for the sales consumer: how far the "
                   "daily sales aggregate is behind the orders"),
            Signal("shop:sales_consumer_rows:rate1m",
                   "sum(rate(shop_sales_consumer_rows_total[1m]))", "short",
                   "order lines per second the sales consumer moved into the daily sales"),
        ),
        interval="5s",
    )  # fmt: skip


def slo_group(slo: Slo) -> RuleGroup:
    return RuleGroup(
        "slo",
        "shop-slo-recording",
        "Latency SLO of the load-tested routes, from the target's file (targets/*.yaml): 95 % "
        "of requests within the route's p95 objective, so the error budget is 5 %. A slow "
        "ratio is NaN (never alerts) while the route had no traffic in its window.",
        (
            Signal("shop:slo_p95_seconds", _slo_p95(slo), "s",
                   "the route's p95 latency objective (the target's)", ("route",)),
            *(
                Signal(f"shop:slo_requests_slow:ratio_rate{window}", _slow_ratio(slo, window),
                       "percentunit",
                       f"share of requests slower than the route's SLO over {window}", ("route",))
                for window in SLO_WINDOWS
            ),
        ),
        interval="30s",
    )  # fmt: skip


LOAD = RuleGroup(
    "load",
    "load-recording",
    "What the load tool was asked for and what it got, per run, for either tool: `tool` is k6 "
    "or locust, `testid` names the run, `endpoint` orders or popular, `outcome` ok or error.",
    tuple(Signal(*fields) for fields in load.LOAD_RECORDS),
)

MYSQL = RuleGroup(
    "mysql",
    "mysql-recording",
    "The database's locks: the server's deadlock counter and the lock waits now.",
    (
        Signal("mysql:innodb_deadlocks:rate1m", "sum(rate(innodb_deadlocks_total[1m]))", "short",
               "deadlocks per second by the server's own counter"),
        Signal("mysql:innodb_lock_waits:sum", "sum(innodb_lock_waits)", "short",
               "transactions waiting for a row or table lock now"),
        Signal("mysql:innodb_lock_wait_seconds:max", "max(innodb_lock_wait_seconds_max)", "s",
               "age of the oldest lock wait now"),
    ),
)  # fmt: skip

CONTAINER = RuleGroup(
    "container",
    "container-recording",
    "Each service's CPU and memory against its limits (cAdvisor in compose; natively the cgroup "
    "exporter emits the same names for `shop` and `mysql`): `name` is the service, all its "
    "replicas together; `replica` the container's number where one is shown per replica.",
    (
        Signal("container:cpu_usage_cores:rate1m",
               'sum by (name) (rate(container_cpu_usage_seconds_total{name!=""}[1m]))', "short",
               "CPU cores the service uses", ("name",)),
        Signal("container:cpu_limit_cores",
               'sum by (name) (container_spec_cpu_quota{name!=""}'
               ' / container_spec_cpu_period{name!=""})', "short",
               "the service's CPU limit in cores, all its replicas together (absent without one)",
               ("name",)),
        Signal("container:cpu_of_limit:ratio_rate1m",
               "container:cpu_usage_cores:rate1m / container:cpu_limit_cores", "percentunit",
               "CPU used as a share of the limit", ("name",)),
        Signal("replica:container_cpu_usage_cores:rate1m",
               'sum by (name, replica) (rate(container_cpu_usage_seconds_total{name!=""}[1m]))',
               "short", "CPU cores each replica of the service uses", ("name", "replica")),
        Signal("replica:container_cpu_of_limit:ratio_rate1m",
               "replica:container_cpu_usage_cores:rate1m\n"
               '/ sum by (name, replica) (container_spec_cpu_quota{name!=""}'
               ' / container_spec_cpu_period{name!=""})', "percentunit",
               "CPU each replica uses as a share of its own limit", ("name", "replica")),
        *(
            Signal(f"container:cpu_cfs_throttled:ratio_rate{window}", cfs_throttled_ratio(window),
                   "percentunit", f"share of CFS periods throttled over {window}", ("name",))
            for window in ("1m", "5m")
        ),
        Signal("container:memory_working_set_bytes:max",
               'max by (name) (container_memory_working_set_bytes{name!=""})', "bytes",
               "working-set memory of the service", ("name",)),
        # Without a limit cAdvisor reports 0 (or, on cgroup v1, a huge number): only real ones.
        Signal("container:memory_limit_bytes:max",
               'max by (name) (container_spec_memory_limit_bytes{name!=""} > 0 < 2^50)', "bytes",
               "the service's memory limit (absent without one)", ("name",)),
        Signal("container:memory_of_limit:ratio",
               "container:memory_working_set_bytes:max / container:memory_limit_bytes:max",
               "percentunit", "working set as a share of the memory limit", ("name",)),
    ),
)  # fmt: skip


def groups(slo: Slo) -> tuple[RuleGroup, ...]:
    """Every rule group, for the target whose SLO is `slo`."""
    return (shop_group(slo), slo_group(slo), LOAD, MYSQL, CONTAINER)


def catalog(slo: Slo) -> dict[str, Signal]:
    """Every recorded signal by name."""
    return {signal.record: signal for group in groups(slo) for signal in group.signals}


# Run annotations from `load:stage`: a stage that appears, changes, or disappears. 15 s is three
# evaluations: enough to bridge a missed one, short enough to tell stages apart.
RUN_EVENTS = {
    "run start": "load:stage unless load:stage offset 15s",
    "stage change": "load:stage != load:stage offset 15s",
    "run end": "load:stage offset 15s unless load:stage",
}

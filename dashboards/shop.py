"""The service from the inside: RED per route, orders, database errors, cache, its pool
(SQLAlchemy's or HikariCP's, by dialect), the JVM of a Micrometer app, resources."""

from __future__ import annotations

from dashboards import containers
from dashboards.common import (
    OBJECTIVE,
    ROUTE,
    Panels,
    Query,
    layout,
    limit_line,
    lower_limit,
    override,
    percentiles,
    recorded_route_quantile,
    route_variable,
    row,
    upper_limit,
)

WINDOW = "$__rate_interval"

# RED per route (the histogram's _count: flask_http_request_total has no route label).
REQUESTS_BY_ROUTE = "shop:http_requests:rate1m"
STATUS_BY_ROUTE = "shop:http_requests_by_status:rate1m"
ERROR_RATIO_BY_ROUTE = "shop:http_5xx_ratio:rate1m"
P95_BY_ROUTE = "shop:http_request_duration_seconds:p95_1m"
# Each load-tested route's objective (the target's, in the recording rules).
OBJECTIVES = "shop:slo_p95_seconds"
ROUTE_OBJECTIVE = f'{OBJECTIVES}{{route=~"{ROUTE}"}}'

API_REQUESTS_1M = f"sum(shop:http_requests:rate1m and on (route) {OBJECTIVES})"

# Orders.
ORDERS_CREATED_1M = "shop:orders_created:rate1m"
ORDERS_BY_RESULT = f"sum by (strategy, result) (rate(shop_orders_total[{WINDOW}]))"


def order_quantile(q: float) -> str:
    return f"shop:order_duration_seconds:p{q * 100:g}_1m"


# The order route of the shops' contract (shop/openapi.py): the order series are theirs, and so
# is this route; its objective is the line an order's duration inside the service is read by.
ORDERS_OBJECTIVE = f'{OBJECTIVES}{{route="/api/orders"}}'


# Database.
DB_ERRORS = f"sum by (operation, kind) (rate(shop_db_errors_total[{WINDOW}]))"
DB_RETRIES = f"sum by (operation) (rate(shop_db_retries_total[{WINDOW}]))"
POOL_USE_RATIO = "shop:db_pool_in_use:ratio"  # either pool, whichever the dialect has
# The pool by dialect: SQLAlchemy's (the Flask shop; in use, idle, capacity) and HikariCP's.
POOL = "sum by (state) (shop_db_pool_connections)"
HIKARI = {
    state: f"sum(hikaricp_connections_{state})" for state in ("active", "idle", "pending", "max")
}
# The daily sales off the order path (SHOP_SALES_MODE=async): the queue and its consumer.
SALES_QUEUE_DEPTH = "shop:sales_queue_depth:max"
SALES_QUEUE_LAG = "shop:sales_queue_lag_seconds:max"
SALES_DRAINED = "shop:sales_consumer_rows:rate1m"

# Cache (Redis behind the popular list).
CACHE_BY_RESULT = f"sum by (result) (rate(shop_cache_requests_total[{WINDOW}]))"
CACHE_HIT_RATIO = "shop:cache_hit:ratio_rate1m"
REDIS_COMMANDS = f"sum(rate(redis_commands_processed_total[{WINDOW}]))"
REDIS_MEMORY = "sum(redis_memory_used_bytes)"

# The JVM of a Micrometer app: heap against its maximum, GC pauses, threads, CPU.
HEAP_USED = 'sum(jvm_memory_used_bytes{area="heap"})'
HEAP_COMMITTED = 'sum(jvm_memory_committed_bytes{area="heap"})'
# A pool without a maximum reports -1: the heap's is the sum of those that have one.
HEAP_MAX = 'sum(jvm_memory_max_bytes{area="heap"} > 0)'
GC_PAUSED = f"sum by (gc) (rate(jvm_gc_pause_seconds_sum[{WINDOW}]))"
GC_PAUSES = f"sum by (gc) (rate(jvm_gc_pause_seconds_count[{WINDOW}]))"
THREADS_LIVE = "sum(jvm_threads_live_threads)"
THREADS_BY_STATE = "sum by (state) (jvm_threads_states_threads)"
JVM_CPU = "max(process_cpu_usage)"
GC_OVERHEAD = "max(jvm_gc_overhead)"

# Resources: multiprocess mode exports no process_* series of its own, so the shop's
# container (cAdvisor; natively its cgroup) is where its CPU and memory are measured.
SHOP = 'name="shop"'
CPU = containers.cpu_used(SHOP)
CPU_LIMIT = containers.cpu_limit(SHOP)
MEMORY = containers.memory_used(SHOP)
MEMORY_LIMIT = containers.memory_limit(SHOP)

# Replicas behind nginx: each a target of the shop job (`instance`) and a container (`replica`).
REPLICAS_UP = "shop:replicas_up:sum"
REPLICAS = "shop:replicas:count"
REQUESTS_BY_REPLICA = "instance:shop_http_requests:rate1m"
NGINX_REQUESTS = "nginx:http_requests:rate1m"
NGINX_CONNECTIONS = "nginx:connections_active:sum"
CPU_BY_REPLICA = containers.cpu_of_limit_by_replica(SHOP)


panels = Panels("shop")


def _route_latency():
    return panels.latency(
        f"Route latency: {ROUTE}",
        [*percentiles(recorded_route_quantile), Query(ROUTE_OBJECTIVE, OBJECTIVE)],
        links=("mysql_locks",),
        repeat="route",
    )


def _pools() -> tuple:
    """The app's database pool, one panel per dialect that has one."""
    sqlalchemy = panels.timeseries(
        "DB pool connections (SQLAlchemy)",
        [Query(POOL, "{{state}}")],
        "short",
        overrides=[limit_line("capacity")],
    )
    hikari = panels.timeseries(
        "DB pool connections (HikariCP)",
        [Query(HIKARI["active"], "active"), Query(HIKARI["idle"], "idle"),
         Query(HIKARI["pending"], "threads waiting"), Query(HIKARI["max"], "capacity")],
        "short",
        overrides=[limit_line("capacity")],
    )  # fmt: skip
    return sqlalchemy, hikari


def _jvm() -> tuple:
    """A Micrometer app's runtime: heap, GC pauses, threads, CPU."""
    heap = panels.timeseries(
        "JVM heap used vs max",
        [Query(HEAP_USED, "used"), Query(HEAP_COMMITTED, "committed"), Query(HEAP_MAX, "max")],
        "bytes",
        overrides=[limit_line("max")],
    )
    gc = panels.timeseries(
        "JVM GC pauses",
        [Query(GC_PAUSED, "{{gc}} paused"), Query(GC_PAUSES, "{{gc}} pauses /s")],
        "percentunit",
        overrides=[override(".* pauses /s", matching=True, unit="short", axis="right")],
    )
    threads = panels.timeseries(
        "JVM threads",
        [Query(THREADS_LIVE, "live"), Query(THREADS_BY_STATE, "{{state}}")],
        "short",
    )
    cpu = panels.timeseries(
        "JVM process CPU",
        [Query(JVM_CPU, "process"), Query(GC_OVERHEAD, "GC overhead")],
        "percentunit",
        thresholds=upper_limit(0.9, warn=0.75),
        links=("containers",),
    )
    return heap, gc, threads, cpu


def _panels() -> list:
    api_rate = panels.stat(
        "API requests /s (1m)", [Query(API_REQUESTS_1M)], "reqps", links=("cockpit",)
    )
    created = panels.stat("Orders created /s (1m)", [Query(ORDERS_CREATED_1M)], "reqps")
    hit_ratio = panels.stat(
        "Cache hit ratio",
        [Query(CACHE_HIT_RATIO)],
        "percentunit",
        thresholds=lower_limit(0.8, warn=0.95),
    )
    pool_use = panels.stat(
        "DB pool in use",
        [Query(POOL_USE_RATIO)],
        "percentunit",
        thresholds=upper_limit(0.9, warn=0.75),
    )
    requests = panels.timeseries(
        "Requests by route", [Query(REQUESTS_BY_ROUTE, "{{route}}")], "reqps", stacked=True
    )
    statuses = panels.timeseries(
        "Responses by route and status",
        [Query(STATUS_BY_ROUTE, "{{route}} {{status}}")],
        "reqps",
        stacked=True,
    )
    error_ratio = panels.error_ratio(
        "5xx ratio by route", [Query(ERROR_RATIO_BY_ROUTE, "{{route}}")]
    )
    p95_by_route = panels.latency(
        "p95 by route (1m)",
        [Query(P95_BY_ROUTE, "{{route}}"), Query(OBJECTIVES, f"{{{{route}}}} {OBJECTIVE}")],
    )
    orders = panels.timeseries(
        "Orders by result and strategy",
        [Query(ORDERS_BY_RESULT, "{{strategy}} {{result}}")],
        "reqps",
        stacked=True,
        links=("mysql_locks",),
    )
    order_duration = panels.latency(
        "Order duration",
        [*percentiles(order_quantile, "{{strategy}} "), Query(ORDERS_OBJECTIVE, OBJECTIVE)],
    )
    db_errors = panels.timeseries(
        "DB errors and retries",
        [
            Query(DB_ERRORS, "{{operation}} {{kind}}"),
            Query(DB_RETRIES, "{{operation}} retried"),
        ],
        "short",
        axis_label="per second",
        links=("mysql_locks",),
    )
    sqlalchemy_pool, hikari_pool = _pools()
    sales_queue = panels.timeseries(
        "Daily sales queue (async)",
        [
            Query(SALES_QUEUE_DEPTH, "lines waiting"),
            Query(SALES_DRAINED, "lines drained /s"),
            Query(SALES_QUEUE_LAG, "oldest waiting"),
        ],
        "short",
        overrides=[override("oldest waiting", unit="s", axis="right")],
    )
    cache = panels.timeseries(
        "Cache lookups by result", [Query(CACHE_BY_RESULT, "{{result}}")], "reqps", stacked=True
    )
    redis = panels.timeseries(
        "Redis commands and memory",
        [Query(REDIS_COMMANDS, "commands /s"), Query(REDIS_MEMORY, "memory used")],
        "short",
        overrides=[override("memory used", unit="bytes", axis="right")],
    )
    cpu = panels.timeseries(
        "Shop CPU vs limit",
        [Query(CPU, "used"), Query(CPU_LIMIT, "limit")],
        "short",
        axis_label="cores",
        overrides=[limit_line("limit")],
        links=("containers",),
    )
    memory = panels.timeseries(
        "Shop memory vs limit",
        [Query(MEMORY, "working set"), Query(MEMORY_LIMIT, "limit")],
        "bytes",
        overrides=[limit_line("limit")],
        links=("containers",),
    )
    replicas_up = panels.stat(
        "Replicas up",
        [Query(REPLICAS_UP, "up"), Query(REPLICAS, "of")],
        "short",
        thresholds=lower_limit(1),
        decimals=0,
    )
    by_replica = panels.timeseries(
        "Requests per replica",
        [Query(REQUESTS_BY_REPLICA, "{{instance}}"), Query(NGINX_REQUESTS, "through nginx")],
        "reqps",
    )
    balancer = panels.timeseries("nginx connections", [Query(NGINX_CONNECTIONS, "active")], "short")
    cpu_by_replica = panels.timeseries(
        "Shop CPU per replica",
        [Query(CPU_BY_REPLICA, "replica {{replica}}")],
        "percentunit",
        thresholds=upper_limit(0.9, warn=0.75),
        links=("containers",),
    )
    return layout(
        (4, [(6, api_rate), (6, created), (6, hit_ratio), (6, pool_use)]),
        row("Requests, errors, duration per route"),
        (8, [(12, requests), (12, statuses)]),
        (8, [(12, error_ratio), (12, p95_by_route)]),
        (8, [(24, _route_latency())]),
        row("Orders"),
        (8, [(12, orders), (12, order_duration)]),
        row("Database and cache"),
        (8, [(8, db_errors), (8, sqlalchemy_pool), (8, hikari_pool)]),
        (8, [(8, sales_queue), (8, cache), (8, redis)]),
        row("JVM (Micrometer apps)"),
        (7, [(6, panel) for panel in _jvm()]),
        row("Resources"),
        (7, [(12, cpu), (12, memory)]),
        row("Replicas and balancer"),
        (7, [(4, replicas_up), (8, by_replica), (6, cpu_by_replica), (6, balancer)]),
    )  # fmt: skip


def dashboard():
    return panels.dashboard(
        "The service from the inside: rate, errors and duration per route against its "
        "objective, orders by result and strategy, database errors and retries, the pool "
        "(SQLAlchemy's or HikariCP's), the daily sales queue, the cache, the JVM of a "
        "Micrometer app, CPU and memory.",
        _panels(),
        variables=(route_variable(),),
    )

"""The shop from the inside: RED per route, orders, database errors, cache, pool, resources."""

from __future__ import annotations

from dashboards import containers
from dashboards.common import (
    API_ROUTES,
    ORDERS_ROUTE,
    POPULAR_ROUTE,
    SLO_ERROR_RATE,
    SLO_ORDERS_P95_S,
    SLO_POPULAR_P95_S,
    Query,
    dashboard,
    latency,
    layout,
    limit_line,
    lower_limit,
    override,
    panel_links,
    percentiles,
    route_quantile,
    row,
    stat,
    timeseries,
    upper_limit,
)

WINDOW = "$__rate_interval"
COUNT = "flask_http_request_duration_seconds_count"

# RED per route (the histogram's _count: flask_http_request_total has no route label).
REQUESTS_BY_ROUTE = "shop:http_requests:rate1m"
STATUS_BY_ROUTE = f"sum by (url_rule, status) (rate({COUNT}[{WINDOW}]))"
ERROR_RATIO_BY_ROUTE = "shop:http_5xx_ratio:rate1m"
P95_BY_ROUTE = "shop:http_request_duration_seconds:p95_1m"


API_REQUESTS_1M = f'sum(shop:http_requests:rate1m{{url_rule=~"{API_ROUTES}"}})'

# Orders.
ORDERS_CREATED_1M = "shop:orders_created:rate1m"
ORDERS_BY_RESULT = f"sum by (strategy, result) (rate(shop_orders_total[{WINDOW}]))"


def order_quantile(q: float) -> str:
    return (
        f"histogram_quantile({q}, sum by (le, strategy) "
        f"(rate(shop_order_duration_seconds_bucket[{WINDOW}])))"
    )


# Database.
DB_ERRORS = f"sum by (operation, kind) (rate(shop_db_errors_total[{WINDOW}]))"
DB_RETRIES = f"sum by (operation) (rate(shop_db_retries_total[{WINDOW}]))"
POOL = "sum by (state) (shop_db_pool_connections)"
POOL_USE_RATIO = "shop:db_pool_in_use:ratio"

# Cache (Redis behind the popular list).
CACHE_BY_RESULT = f"sum by (result) (rate(shop_cache_requests_total[{WINDOW}]))"
CACHE_HIT_RATIO = "shop:cache_hit:ratio_rate1m"
REDIS_COMMANDS = f"sum(rate(redis_commands_processed_total[{WINDOW}]))"
REDIS_MEMORY = "sum(redis_memory_used_bytes)"

# Resources: gunicorn's multiprocess mode exports no process_* series, so the shop's
# container (cAdvisor; natively its cgroup) is where its CPU and memory are measured.
SHOP = 'name="shop"'
CPU = containers.cpu_used(SHOP)
CPU_LIMIT = containers.cpu_limit(SHOP)
MEMORY = containers.memory_used(SHOP)
MEMORY_LIMIT = containers.memory_limit(SHOP)


def _route_latency(route: str, slo_s: float):
    return latency(
        f"{route} latency",
        f"p50/p95/p99 of {route} measured inside the shop (from receiving the request to "
        "returning the answer).",
        percentiles(lambda q: route_quantile(q, route)),
        slo_s,
        "Above it: check DB errors and lock waits, the cache hit ratio and CPU below.",
        links=panel_links("mysql_locks"),
    )


def _panels() -> list:
    api_rate = stat(
        "API requests /s (1m)",
        "Requests per second on the orders and popular routes over the last minute. Compare "
        "with the load's target on the cockpit.",
        [Query(API_REQUESTS_1M)],
        "reqps",
        links=panel_links("cockpit"),
    )
    created = stat(
        "Orders created /s (1m)",
        "Orders committed per second over the last minute. Falling while order requests "
        "keep coming: orders are failing, see orders by result.",
        [Query(ORDERS_CREATED_1M)],
        "reqps",
    )
    hit_ratio = stat(
        "Cache hit ratio",
        "Share of popular-list lookups answered from Redis. Red below 80 %: the list is "
        "recomputed in MySQL too often (TTL too short, Redis down or evicting).",
        [Query(CACHE_HIT_RATIO)],
        "percentunit",
        thresholds=lower_limit(0.8, warn=0.95),
    )
    pool_use = stat(
        "DB pool in use",
        "Share of the SQLAlchemy pool (size plus overflow, all workers) checked out now. Red "
        "above 90 %: requests queue for a connection; raise the pool or shorten "
        "transactions (lock waits).",
        [Query(POOL_USE_RATIO)],
        "percentunit",
        thresholds=upper_limit(0.9, warn=0.75),
    )
    requests = timeseries(
        "Requests by route",
        "Requests per second per Flask route (url_rule). A route missing or flat during a "
        "run means the load tool is not reaching it.",
        [Query(REQUESTS_BY_ROUTE, "{{url_rule}}")],
        "reqps",
        stacked=True,
    )
    statuses = timeseries(
        "Responses by route and status",
        "Answers per second by route and status: 2xx success, 409 a business refusal (out "
        "of stock, insufficient points), 503 a deadlock or lock-wait timeout that outlived "
        "the retries, 500 a bug (read the shop log).",
        [Query(STATUS_BY_ROUTE, "{{url_rule}} {{status}}")],
        "reqps",
        stacked=True,
    )
    error_ratio = timeseries(
        "5xx ratio by route",
        "Share of each route's answers that were 5xx. Dashed: the SLO of "
        f"{SLO_ERROR_RATE:.0%}. Above it: DB errors by kind below tell deadlocks, lock-wait "
        "timeouts and lost connections apart.",
        [Query(ERROR_RATIO_BY_ROUTE, "{{url_rule}}")],
        "percentunit",
        thresholds=upper_limit(SLO_ERROR_RATE),
    )
    p95_by_route = timeseries(
        "p95 by route (1m)",
        "95th percentile per route over the last minute (recording rule). The SLOs are "
        f"{SLO_ORDERS_P95_S * 1000:.0f} ms for orders (dashed) and "
        f"{SLO_POPULAR_P95_S * 1000:.0f} ms for the popular list; the two panels below show "
        "each with its own line.",
        [Query(P95_BY_ROUTE, "{{url_rule}}")],
        "s",
        thresholds=upper_limit(SLO_ORDERS_P95_S),
    )
    orders = timeseries(
        "Orders by result and strategy",
        "Order attempts per second by outcome. 'deadlock' and 'lock_wait_timeout' are "
        "orders lost to InnoDB (the naive strategy on hot users); 'out_of_stock' and "
        "'insufficient_points' are business refusals; 'error' needs the shop log.",
        [Query(ORDERS_BY_RESULT, "{{strategy}} {{result}}")],
        "reqps",
        stacked=True,
        links=panel_links("mysql_locks"),
    )
    order_duration = timeseries(
        "Order duration",
        "Time to place an order inside the service (transactions and retries included), "
        f"p50/p95/p99 per strategy. Dashed: the orders SLO of {SLO_ORDERS_P95_S * 1000:.0f} ms. "
        "Far below the route's latency: time goes outside the service (queueing in gunicorn).",
        percentiles(lambda q: order_quantile(q), "{{strategy}} "),
        "s",
        thresholds=upper_limit(SLO_ORDERS_P95_S),
    )
    db_errors = timeseries(
        "DB errors and retries",
        "Database errors per second by operation and kind (deadlock 1213, lock_wait_timeout "
        "1205, disconnect, other), and transactions retried (safe strategy only). Deadlocks "
        "without retries: the naive strategy; disconnects: MySQL restarted or the pool is "
        "stale.",
        [
            Query(DB_ERRORS, "{{operation}} {{kind}}"),
            Query(DB_RETRIES, "{{operation}} retried"),
        ],
        "short",
        axis_label="per second",
        links=panel_links("mysql_locks"),
    )
    pool = timeseries(
        "DB pool connections",
        "Pool connections in use and idle, summed over live workers, against the capacity "
        "(dashed). In use at capacity: requests wait for a connection.",
        [Query(POOL, "{{state}}")],
        "short",
        overrides=[limit_line("capacity")],
    )
    cache = timeseries(
        "Cache lookups by result",
        "Popular-list lookups per second: hit, miss (recomputed in MySQL) and error (Redis "
        "unreachable; MySQL answered). Errors: check Redis; many misses: the TTL is too "
        "short for the traffic.",
        [Query(CACHE_BY_RESULT, "{{result}}")],
        "reqps",
        stacked=True,
    )
    redis = timeseries(
        "Redis commands and memory",
        "Commands per second Redis processed (left) and its used memory (right). Memory "
        "near maxmemory means evictions and more cache misses.",
        [Query(REDIS_COMMANDS, "commands /s"), Query(REDIS_MEMORY, "memory used")],
        "short",
        overrides=[override("memory used", unit="bytes", axis="right")],
    )
    cpu = timeseries(
        "Shop CPU vs limit",
        "CPU cores the shop's gunicorn workers use, against the container's limit (dashed). "
        "At the limit the shop is throttled: latency rises with every extra request.",
        [Query(CPU, "used"), Query(CPU_LIMIT, "limit")],
        "short",
        axis_label="cores",
        overrides=[limit_line("limit")],
        links=panel_links("containers"),
    )
    memory = timeseries(
        "Shop memory vs limit",
        "Working-set memory of the shop's container against its limit (dashed). Growing "
        "steadily during a soak: a leak; near the limit: OOM kills follow.",
        [Query(MEMORY, "working set"), Query(MEMORY_LIMIT, "limit")],
        "bytes",
        overrides=[limit_line("limit")],
        links=panel_links("containers"),
    )
    return layout(
        (4, [(6, api_rate), (6, created), (6, hit_ratio), (6, pool_use)]),
        row("Requests, errors, duration per route"),
        (8, [(8, requests), (8, statuses), (8, error_ratio)]),
        (8, [(8, p95_by_route),
             (8, _route_latency(ORDERS_ROUTE, SLO_ORDERS_P95_S)),
             (8, _route_latency(POPULAR_ROUTE, SLO_POPULAR_P95_S))]),
        row("Orders"),
        (8, [(12, orders), (12, order_duration)]),
        row("Database and cache"),
        (8, [(12, db_errors), (12, pool)]),
        (8, [(12, cache), (12, redis)]),
        row("Resources"),
        (7, [(12, cpu), (12, memory)]),
    )  # fmt: skip


dashboard = dashboard(
    "shop",
    "The shop from the inside: rate, errors and duration per route, orders by result and "
    "strategy, database errors and retries, the pool, the cache, CPU and memory.",
    _panels(),
)

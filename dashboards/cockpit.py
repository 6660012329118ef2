"""The cockpit: the one screen to watch during a load run, from offered load down to the box."""

from __future__ import annotations

from dashboards import containers, mysql_locks
from dashboards.common import (
    API_ROUTES,
    BAD,
    OK,
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
    override,
    panel_links,
    route_quantile,
    row,
    stat,
    steps,
    testid_variable,
    timeseries,
    upper_limit,
)

RUN = 'testid=~"$testid"'
WINDOW = "$__rate_interval"

# Load: what the tool offered, what the shop answered, and the run's TARGET_TPS.
OFFERED = f"load:offered_tps:rate1m{{{RUN}}}"
ANSWERED = f'sum(shop:http_requests:rate1m{{url_rule=~"{API_ROUTES}"}})'
ANSWERED_2XX = f'sum(shop:http_requests_2xx:rate1m{{url_rule=~"{API_ROUTES}"}})'
RUN_TARGET = f"max(load:target_tps{{{RUN}}})"

# Latency: the shop's own histogram (every tool) and the tool's client-side view.
P95_1M = "shop:http_request_duration_seconds:p95_1m"
SHOP_5XX_RATIO = "shop:api_5xx_ratio:rate1m"
TOOL_FAILED_RATIO = f"load:error_ratio:rate1m{{{RUN}}}"


# Locks: the shop's view of deadlocks next to the server's (the rest as on the locks dashboard).
SHOP_DEADLOCK_ERRORS_PER_MIN = f'sum(rate(shop_db_errors_total{{kind="deadlock"}}[{WINDOW}])) * 60'

# The shop and MySQL containers (cAdvisor; natively the cgroup exporter).
SERVICES = 'name=~"shop|mysql"'

# Alerts firing now by name; one "none" row when there are none, so the stat is never blank.
FIRING = (
    'count by (alertname) (ALERTS{alertstate="firing"})'
    ' or on () label_replace(vector(0), "alertname", "none", "", "")'
)


def _shop_and_client_p95(route: str, endpoint: str) -> list[Query]:
    client = f'load:request_duration_seconds:p95_1m{{{RUN},endpoint="{endpoint}"}}'
    return [
        Query(route_quantile(0.95, route), "shop p95"),
        Query(route_quantile(0.99, route), "shop p99"),
        Query(client, "{{tool}} p95"),
    ]


def _panels() -> list:
    answered = stat(
        "Answered /s (1m)",
        "Requests per second the shop answered on its two load-tested routes over the last "
        "minute, any status. Compare with the run's target below: when it stays under the "
        "offered rate the shop is saturated; look at locks, errors and CPU further down.",
        [Query(ANSWERED)],
        "reqps",
    )
    orders_p95 = stat(
        "Orders p95 (1m)",
        f"95th percentile of POST {ORDERS_ROUTE} measured by the shop over the last minute. "
        f"Red above the SLO of {SLO_ORDERS_P95_S * 1000:.0f} ms: look for lock waits and "
        "deadlocks (MySQL InnoDB locks) or CPU throttling (containers).",
        [Query(f'{P95_1M}{{url_rule="{ORDERS_ROUTE}"}}')],
        "s",
        thresholds=upper_limit(SLO_ORDERS_P95_S, warn=SLO_ORDERS_P95_S * 0.75),
        links=panel_links("shop", "mysql_locks"),
    )
    popular_p95 = stat(
        "Popular p95 (1m)",
        f"95th percentile of GET {POPULAR_ROUTE} measured by the shop over the last minute. "
        f"Red above the SLO of {SLO_POPULAR_P95_S * 1000:.0f} ms: check the cache hit ratio "
        "and the shop's CPU.",
        [Query(f'{P95_1M}{{url_rule="{POPULAR_ROUTE}"}}')],
        "s",
        thresholds=upper_limit(SLO_POPULAR_P95_S, warn=SLO_POPULAR_P95_S * 0.75),
        links=panel_links("shop"),
    )
    errors = stat(
        "5xx ratio (1m)",
        "Share of the two routes' answers that were 5xx over the last minute. Red above the "
        f"SLO of {SLO_ERROR_RATE:.0%}: on the naive strategy these are mostly deadlock victims "
        "(503); otherwise read the DB errors by kind on the shop dashboard.",
        [Query(SHOP_5XX_RATIO)],
        "percentunit",
        thresholds=upper_limit(SLO_ERROR_RATE, warn=SLO_ERROR_RATE / 2),
        links=panel_links("shop"),
    )
    deadlocks = stat(
        "Deadlocks in range",
        "InnoDB deadlocks the server counted over the time range shown. Any is red: open the "
        "MySQL InnoDB locks dashboard to see the tables, indexes and statements involved.",
        [Query(mysql_locks.DEADLOCKS_IN_RANGE, instant=True)],
        "short",
        thresholds=upper_limit(1),
        decimals=0,
        links=panel_links("mysql_locks"),
    )
    alerts = stat(
        "Firing alerts",
        "Prometheus alerts firing now, one value per alert name ('none' when quiet). Red "
        "means an alert fires: its runbook link in Alertmanager says what to do.",
        [Query(FIRING, "{{alertname}}", instant=True)],
        "short",
        thresholds=upper_limit(1),
        text_mode="value_and_name",
        decimals=0,
    )
    tps = timeseries(
        "Offered vs answered TPS",
        "What the load tool offered (k6: iterations started plus dropped; Locust: users, one "
        "request per second each), what the shop answered (all and 2xx) and the run's "
        "TARGET_TPS (dashed). Offered below target: the generator lacks VUs (dropped "
        "iterations on the k6 dashboard). Answered below offered: the shop cannot keep up; "
        "check latency, locks and CPU below.",
        [
            Query(OFFERED, "offered ({{tool}})"),
            Query(ANSWERED, "answered"),
            Query(ANSWERED_2XX, "answered 2xx"),
            Query(RUN_TARGET, "target"),
        ],
        "reqps",
        overrides=[limit_line("target")],
        links=panel_links("load", "k6", "locust"),
    )
    orders_latency = latency(
        "Orders latency vs SLO",
        f"POST {ORDERS_ROUTE}: p95 and p99 as the shop measures them and p95 as the load tool "
        "sees it (client side: network and queueing included).",
        _shop_and_client_p95(ORDERS_ROUTE, "orders"),
        SLO_ORDERS_P95_S,
        "Above it: lock waits and deadlocks first, then CPU throttling.",
        links=panel_links("shop", "mysql_locks"),
    )
    popular_latency = latency(
        "Popular latency vs SLO",
        f"GET {POPULAR_ROUTE}: p95 and p99 as the shop measures them and p95 as the load tool "
        "sees it.",
        _shop_and_client_p95(POPULAR_ROUTE, "popular"),
        SLO_POPULAR_P95_S,
        "Above it: a cold or failing cache (shop dashboard) or a CPU-starved shop.",
        links=panel_links("shop"),
    )
    error_rate = timeseries(
        "Error rate vs SLO",
        "Share of failed requests: 5xx answers counted by the shop, and failures counted by "
        "the load tool (unexpected status, no answer). Dashed: the SLO of "
        f"{SLO_ERROR_RATE:.0%}. Above it: read the DB errors by kind on the shop dashboard; "
        "deadlocks point to the naive order strategy on hot users.",
        [
            Query(SHOP_5XX_RATIO, "shop 5xx"),
            Query(TOOL_FAILED_RATIO, "{{tool}} failed"),
        ],
        "percentunit",
        thresholds=upper_limit(SLO_ERROR_RATE),
        links=panel_links("shop"),
    )
    deadlock_rate = timeseries(
        "Deadlocks per minute",
        "InnoDB deadlocks per minute by the server's own counter, and the orders the shop saw "
        "fail with a deadlock. Any deadlock is a red flag for the order path: the MySQL "
        "InnoDB locks dashboard shows which tables, indexes and statements collide.",
        [
            Query(mysql_locks.DEADLOCKS_PER_MIN, "server counter"),
            Query(SHOP_DEADLOCK_ERRORS_PER_MIN, "shop deadlock errors"),
        ],
        "opm",
        thresholds=steps((None, OK), (0.5, BAD)),
        links=panel_links("mysql_locks"),
    )
    lock_waits = timeseries(
        "Lock waits now",
        "Transactions waiting for a row or table lock at each scrape, and the age of the "
        "oldest wait (right axis). Waits that pile up or grow old serialise the order path; "
        "one that reaches innodb_lock_wait_timeout ends as a 503. The MySQL InnoDB locks "
        "dashboard shows who blocks whom.",
        [
            Query(mysql_locks.LOCK_WAITS, "waiting transactions"),
            Query(mysql_locks.OLDEST_WAIT, "oldest wait"),
        ],
        "short",
        overrides=[override("oldest wait", unit="s", axis="right")],
        links=panel_links("mysql_locks"),
    )
    cpu = timeseries(
        "Shop and MySQL CPU vs limit",
        "CPU cores used by the shop and MySQL containers and their CPU limit (dashed: the "
        "compose file's cpus). Used at the limit means the container is throttled and "
        "latency climbs: add CPUs or instances, or cut the work per request.",
        [
            Query(containers.cpu_used(SERVICES), "{{name}} used"),
            Query(containers.cpu_limit(SERVICES), "{{name}} limit"),
        ],
        "short",
        axis_label="cores",
        overrides=[limit_line("shop limit"), limit_line("mysql limit")],
        links=panel_links("containers"),
    )
    memory = timeseries(
        "Shop and MySQL memory vs limit",
        "Working-set memory of the shop and MySQL containers and their memory limit "
        "(dashed). Near the limit the kernel reclaims cache, then kills (OOM): check the "
        "containers dashboard's OOM events and the pool sizes.",
        [
            Query(containers.memory_used(SERVICES), "{{name}} used"),
            Query(containers.memory_limit(SERVICES), "{{name}} limit"),
        ],
        "bytes",
        overrides=[limit_line("shop limit"), limit_line("mysql limit")],
        links=panel_links("containers"),
    )
    return layout(
        (4, [(4, answered), (4, orders_p95), (4, popular_p95), (4, errors), (4, deadlocks),
             (4, alerts)]),
        row("Load and latency"),
        (9, [(12, tps), (6, orders_latency), (6, popular_latency)]),
        row("Errors and locks"),
        (8, [(8, error_rate), (8, deadlock_rate), (8, lock_waits)]),
        row("Resources against their limits"),
        (8, [(12, cpu), (12, memory)]),
    )  # fmt: skip


dashboard = dashboard(
    "cockpit",
    "The one screen during a load run: offered vs answered TPS against the target, latency "
    "and errors against the SLO, deadlocks and lock waits, CPU and memory against the limits.",
    _panels(),
    variables=(testid_variable("load:requests_total:sum"),),
    refresh="5s",
    since="now-15m",
)

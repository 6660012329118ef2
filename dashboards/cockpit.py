"""The cockpit: the one screen to watch during a load run, from offered load down to the box."""

from __future__ import annotations

from dashboards import containers, mysql_locks
from dashboards.common import (
    API_ROUTES,
    BAD,
    LOAD_SLO,
    OK,
    ROUTES,
    Panels,
    Query,
    layout,
    limit_line,
    override,
    recorded_route_quantile,
    row,
    steps,
    testid_variable,
)

RUN = 'testid=~"$testid"'
WINDOW = "$__rate_interval"

# Load: what the tool offered, what the shop answered, and the run's TARGET_TPS.
OFFERED = f"load:offered_tps:rate1m{{{RUN}}}"
ANSWERED = f'sum(shop:http_requests:rate1m{{route=~"{API_ROUTES}"}})'
ANSWERED_2XX = f'sum(shop:http_requests_2xx:rate1m{{route=~"{API_ROUTES}"}})'
RUN_TARGET = f"max(load:target_tps{{{RUN}}})"

# Errors: the shop's own 5xx share (every tool) and the tool's client-side view.
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


panels = Panels("cockpit")
# Where to look when an endpoint is slow: its p95 and latency panels link there.
CAUSES = {"orders": ("shop", "mysql_locks"), "popular": ("shop",)}


def _p95_now(endpoint: str):
    return panels.latency_stat(
        f"{endpoint.capitalize()} p95 (1m)",
        [Query(recorded_route_quantile(0.95, ROUTES[endpoint]))],
        LOAD_SLO.p95_s[ROUTES[endpoint]],
        links=CAUSES[endpoint],
    )


def _latency(endpoint: str):
    route = ROUTES[endpoint]
    client = f'load:request_duration_seconds:p95_1m{{{RUN},endpoint="{endpoint}"}}'
    return panels.latency(
        f"{endpoint.capitalize()} latency vs SLO",
        [
            Query(recorded_route_quantile(0.95, route), "shop p95"),
            Query(recorded_route_quantile(0.99, route), "shop p99"),
            Query(client, "{{tool}} p95"),
        ],
        LOAD_SLO.p95_s[ROUTES[endpoint]],
        links=CAUSES[endpoint],
    )


def _panels() -> list:
    answered = panels.stat("Answered /s (1m)", [Query(ANSWERED)], "reqps")
    errors = panels.error_ratio_stat("5xx ratio (1m)", [Query(SHOP_5XX_RATIO)], links=("shop",))
    deadlocks = panels.count_stat(
        "Deadlocks in range",
        [Query(mysql_locks.DEADLOCKS_IN_RANGE, instant=True)],
        links=("mysql_locks",),
    )
    alerts = panels.count_stat(
        "Firing alerts",
        [Query(FIRING, "{{alertname}}", instant=True)],
        text_mode="value_and_name",
    )
    tps = panels.timeseries(
        "Offered vs answered TPS",
        [
            Query(OFFERED, "offered ({{tool}})"),
            Query(ANSWERED, "answered"),
            Query(ANSWERED_2XX, "answered 2xx"),
            Query(RUN_TARGET, "target"),
        ],
        "reqps",
        overrides=[limit_line("target")],
        links=("load", "k6", "locust"),
    )
    error_rate = panels.error_ratio(
        "Error rate vs SLO",
        [Query(SHOP_5XX_RATIO, "shop 5xx"), Query(TOOL_FAILED_RATIO, "{{tool}} failed")],
        links=("shop",),
    )
    deadlock_rate = panels.timeseries(
        "Deadlocks per minute",
        [
            Query(mysql_locks.DEADLOCKS_PER_MIN, "server counter"),
            Query(SHOP_DEADLOCK_ERRORS_PER_MIN, "shop deadlock errors"),
        ],
        "opm",
        thresholds=steps((None, OK), (0.5, BAD)),
        links=("mysql_locks",),
    )
    lock_waits = panels.timeseries(
        "Lock waits now",
        [
            Query(mysql_locks.LOCK_WAITS, "waiting transactions"),
            Query(mysql_locks.OLDEST_WAIT, "oldest wait"),
        ],
        "short",
        overrides=[override("oldest wait", unit="s", axis="right")],
        links=("mysql_locks",),
    )
    cpu = panels.timeseries(
        "Shop and MySQL CPU vs limit",
        containers.cpu_vs_limit(SERVICES),
        "short",
        axis_label="cores",
        overrides=containers.LIMIT_LINES,
        links=("containers",),
    )
    memory = panels.timeseries(
        "Shop and MySQL memory vs limit",
        containers.memory_vs_limit(SERVICES),
        "bytes",
        overrides=containers.LIMIT_LINES,
        links=("containers",),
    )
    return layout(
        (4, [(4, answered), (4, _p95_now("orders")), (4, _p95_now("popular")), (4, errors),
             (4, deadlocks), (4, alerts)]),
        row("Load and latency"),
        (9, [(12, tps), (6, _latency("orders")), (6, _latency("popular"))]),
        row("Errors and locks"),
        (8, [(8, error_rate), (8, deadlock_rate), (8, lock_waits)]),
        row("Resources against their limits"),
        (8, [(12, cpu), (12, memory)]),
    )  # fmt: skip


dashboard = panels.dashboard(
    "The one screen during a load run: offered vs answered TPS against the target, latency "
    "and errors against the SLO, deadlocks and lock waits, CPU and memory against the limits.",
    _panels(),
    variables=(testid_variable("load:requests_total:sum"),),
    refresh="5s",
    since="now-15m",
)

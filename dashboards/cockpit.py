"""The cockpit: the one screen to watch during a load run, from offered load down to the box."""

from __future__ import annotations

from dashboards import containers, mysql_locks
from dashboards.common import (
    BAD,
    ENDPOINT,
    OBJECTIVE,
    OK,
    ROUTE,
    Panels,
    Query,
    endpoint_variable,
    layout,
    limit_line,
    override,
    recorded_route_quantile,
    route_variable,
    row,
    steps,
    testid_variable,
)

RUN = 'testid=~"$testid"'
WINDOW = "$__rate_interval"

# The load-tested routes: those with an objective (the target's, in the recording rules).
OBJECTIVES = "shop:slo_p95_seconds"
LOAD_TESTED = f"and on (route) {OBJECTIVES}"

# Load: what the tool offered, what the app answered on the load-tested routes, the run's target.
OFFERED = f"load:offered_tps:rate1m{{{RUN}}}"
ANSWERED = f"sum(shop:http_requests:rate1m {LOAD_TESTED})"
ANSWERED_2XX = f"sum(shop:http_requests_2xx:rate1m {LOAD_TESTED})"
RUN_TARGET = f"max(load:target_tps{{{RUN}}})"

# Each p95 as a share of its own objective: one colour scale for every route and endpoint.
SERVER_P95_OF_OBJECTIVE = f"shop:http_request_duration_seconds:p95_1m / on (route) {OBJECTIVES}"
CLIENT_P95_OF_OBJECTIVE = (
    f"max by (endpoint) (load:request_duration_seconds:p95_1m{{{RUN}}}"
    f" / on (tool, testid, endpoint) load:slo_p95_seconds{{{RUN}}})"
)

# Errors: the app's own 5xx share (every tool) and the tool's client-side view.
SHOP_5XX_RATIO = "shop:api_5xx_ratio:rate1m"
TOOL_FAILED_RATIO = f"load:error_ratio:rate1m{{{RUN}}}"


def client_quantile(q: float) -> str:
    """A latency quantile of the repeated panel's endpoint, as the tool timed it (1m)."""
    return f'load:request_duration_seconds:p{q * 100:g}_1m{{{RUN},endpoint=~"{ENDPOINT}"}}'


CLIENT_OBJECTIVE = f'load:slo_p95_seconds{{{RUN},endpoint=~"{ENDPOINT}"}}'
SERVER_OBJECTIVE = f'{OBJECTIVES}{{route=~"{ROUTE}"}}'

# Locks: the app's view of deadlocks next to the server's (the rest as on the locks dashboard).
SHOP_DEADLOCK_ERRORS_PER_MIN = f'sum(rate(shop_db_errors_total{{kind="deadlock"}}[{WINDOW}])) * 60'

# The shop and MySQL containers (cAdvisor; natively the cgroup exporter).
SERVICES = 'name=~"shop|mysql"'

# Alerts firing now by name; one "none" row when there are none, so the stat is never blank.
FIRING = (
    'count by (alertname) (ALERTS{alertstate="firing"})'
    ' or on () label_replace(vector(0), "alertname", "none", "", "")'
)


panels = Panels("cockpit")


def _panels() -> list:
    answered = panels.stat("Answered /s (1m)", [Query(ANSWERED)], "reqps")
    server_p95 = panels.objective_stat(
        "Server p95 of objective (1m)",
        [Query(SERVER_P95_OF_OBJECTIVE, "{{route}}")],
        links=("shop", "mysql_locks"),
    )
    client_p95 = panels.objective_stat(
        "Client p95 of objective (1m)",
        [Query(CLIENT_P95_OF_OBJECTIVE, "{{endpoint}}")],
        links=("load",),
    )
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
    client_latency = panels.latency(
        f"Latency vs SLO: {ENDPOINT}",
        [
            Query(client_quantile(0.95), "{{tool}} p95"),
            Query(client_quantile(0.99), "{{tool}} p99"),
            Query(CLIENT_OBJECTIVE, f"{{{{tool}}}} {OBJECTIVE}"),
        ],
        links=("load", "shop"),
        repeat="endpoint",
    )
    server_latency = panels.latency(
        f"Server latency vs SLO: {ROUTE}",
        [
            Query(recorded_route_quantile(0.95), "p95"),
            Query(recorded_route_quantile(0.99), "p99"),
            Query(SERVER_OBJECTIVE, OBJECTIVE),
        ],
        links=("shop", "mysql_locks"),
        repeat="route",
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
        (4, [(4, answered), (5, server_p95), (5, client_p95), (4, errors), (3, deadlocks),
             (3, alerts)]),
        row("Load and latency"),
        (8, [(24, tps)]),
        (8, [(24, client_latency)]),
        (8, [(24, server_latency)]),
        row("Errors and locks"),
        (8, [(8, error_rate), (8, deadlock_rate), (8, lock_waits)]),
        row("Resources against their limits"),
        (8, [(12, cpu), (12, memory)]),
    )  # fmt: skip


def dashboard():
    return panels.dashboard(
        "The one screen during a load run: offered vs answered TPS against the target, latency "
        "per endpoint and per route against its objective, errors against the SLO, deadlocks "
        "and lock waits, CPU and memory against the limits.",
        _panels(),
        variables=(
            testid_variable("load:requests_total:sum"),
            endpoint_variable(RUN),
            route_variable(OBJECTIVES),
        ),
        refresh="5s",
        since="now-15m",
    )

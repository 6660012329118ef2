"""Load: one run as k6 or Locust saw it, alike, from the tool-neutral load:* series."""

from __future__ import annotations

from dashboards.common import (
    SLO_ERROR_RATE,
    SLO_ORDERS_P95_S,
    SLO_POPULAR_P95_S,
    Query,
    dashboard,
    latency,
    layout,
    limit_line,
    panel_links,
    percentiles,
    query_variable,
    row,
    share,
    stat,
    testid_variable,
    timeseries,
    upper_limit,
)
from signals.load import TOOLS

RUN = 'tool=~"$tool",testid=~"$testid"'
TOTALS = "load:requests_total:sum"  # counters per run: the highest value in a range is the run

REQUESTS_IN_RUN = f"sum(max_over_time({TOTALS}{{{RUN}}}[$__range]))"
FAILED_IN_RUN = share(
    f'max_over_time({TOTALS}{{{RUN},outcome="error"}}[$__range])',
    f"max_over_time({TOTALS}{{{RUN}}}[$__range])",
)
ACHIEVED = f"load:achieved_tps:rate1m{{{RUN}}}"
OFFERED = f"load:offered_tps:rate1m{{{RUN}}}"
TARGET = f"load:target_tps{{{RUN}}}"
REQUESTS = f"load:requests:rate1m{{{RUN}}}"
FAILED_RATIO = f"load:error_ratio:rate1m{{{RUN}}}"
STAGE = f"load:stage{{{RUN}}}"


def quantile(q: float, endpoint: str) -> str:
    """A latency quantile of one endpoint over the last minute, per tool."""
    return f'load:request_duration_seconds:p{q * 100:g}_1m{{{RUN},endpoint="{endpoint}"}}'


def worst_p95(endpoint: str) -> str:
    return f"max(max_over_time({quantile(0.95, endpoint)}[$__range]))"


def _latency(endpoint: str, route: str, slo_s: float):
    return latency(
        f"{endpoint.capitalize()} latency",
        f"{route} as the load tool timed it (sending to the last byte of the answer), "
        "p50/p95/p99 over the last minute per tool: k6 from native histograms, Locust from its "
        "classic histogram (bucket-interpolated).",
        percentiles(lambda q: quantile(q, endpoint), "{{tool}} "),
        slo_s,
        "Above it while the shop's own p95 is fine: the generator or the network is the "
        "bottleneck; otherwise follow the shop and MySQL InnoDB locks dashboards.",
        links=panel_links("shop", "mysql_locks"),
    )


def _panels() -> list:
    requests = stat(
        "Requests in the run",
        "Requests the load tool sent to the two APIs in the selected run so far, failed ones "
        "included. Far fewer than target TPS times the duration: the tool could not offer the "
        "rate (k6 dropped iterations, Locust users short of CPU) or the run aborted.",
        [Query(REQUESTS_IN_RUN, instant=True)],
        "short",
        decimals=0,
    )
    failed = stat(
        "Failed in the run",
        "Share of the run's requests that failed (unexpected status, bad body, no answer). Red "
        f"above the SLO of {SLO_ERROR_RATE:.0%}: see failures below and the shop's DB errors.",
        [Query(FAILED_IN_RUN, instant=True)],
        "percentunit",
        thresholds=upper_limit(SLO_ERROR_RATE, warn=SLO_ERROR_RATE / 2),
        links=panel_links("shop"),
    )
    orders_p95, popular_p95 = (
        stat(
            f"{endpoint.capitalize()} p95, worst minute",
            f"Highest 1-minute p95 of {request} in the time range, as the tool timed it. Red "
            f"above the SLO of {slo_s * 1000:.0f} ms.",
            [Query(worst_p95(endpoint), instant=True)],
            "s",
            thresholds=upper_limit(slo_s, warn=slo_s * 0.75),
        )
        for endpoint, request, slo_s in (
            ("orders", "POST /api/orders", SLO_ORDERS_P95_S),
            ("popular", "GET /api/products/popular", SLO_POPULAR_P95_S),
        )
    )
    achieved = stat(
        "Achieved /s (1m)",
        "Successful requests per second over the last minute, per tool: what TARGET_TPS asks "
        "for. Compare with the target in the panel below.",
        [Query(ACHIEVED, "{{tool}}")],
        "reqps",
        links=panel_links("cockpit"),
    )
    stage = stat(
        "Stage now",
        "The scenario stage the tool runs now (1-based, as in loadtest/scenarios.json); the "
        "run annotations mark each change. No data: no run is on.",
        [Query(STAGE, "{{tool}}")],
        "short",
        decimals=0,
    )
    tps = timeseries(
        "Offered, achieved and target TPS",
        "Requests per second the tool offered (k6: iterations started plus dropped; Locust: "
        "users at one request/s each), those that succeeded, and the run's TARGET_TPS "
        "(dashed). Offered below target: the generator is short (k6 or Locust dashboard). "
        "Achieved below offered: the shop fails or is too slow.",
        [Query(OFFERED, "{{tool}} offered"), Query(ACHIEVED, "{{tool}} achieved"),
         Query(TARGET, "{{tool}} target")],
        "reqps",
        overrides=[limit_line(f"{tool} target") for tool in TOOLS],
        links=panel_links("k6", "locust"),
    )  # fmt: skip
    requests_rate = timeseries(
        "Requests by endpoint and outcome",
        "Requests per second per tool, endpoint and outcome (ok or error). Errors on orders "
        "with the naive strategy are mostly deadlock victims: see the MySQL InnoDB locks "
        "dashboard.",
        [Query(REQUESTS, "{{tool}} {{endpoint}} {{outcome}}")],
        "reqps",
        stacked=True,
        links=panel_links("mysql_locks"),
    )
    failed_ratio = timeseries(
        "Failed share",
        "Share of the tool's requests that failed over the last minute. Dashed: the SLO of "
        f"{SLO_ERROR_RATE:.0%}. Above it: read the shop's DB errors by kind.",
        [Query(FAILED_RATIO, "{{tool}}")],
        "percentunit",
        thresholds=upper_limit(SLO_ERROR_RATE),
        links=panel_links("shop"),
    )
    stages = timeseries(
        "Scenario stage",
        "The stage index over time, per run: a ramp and its hold are separate stages, so "
        "latency or errors that change with the stage point at the rate, not at chance.",
        [Query(STAGE, "{{tool}} {{testid}}")],
        "short",
    )
    return layout(
        (4, [(4, requests), (4, failed), (4, orders_p95), (4, popular_p95), (4, achieved),
             (4, stage)]),
        row("Rate"),
        (8, [(12, tps), (12, requests_rate)]),
        row("Latency"),
        (8, [(12, _latency("orders", "POST /api/orders", SLO_ORDERS_P95_S)),
             (12, _latency("popular", "GET /api/products/popular", SLO_POPULAR_P95_S))]),
        row("Failures and stages"),
        (8, [(12, failed_ratio), (12, stages)]),
    )  # fmt: skip


dashboard = dashboard(
    "load",
    "One load run (pick the tool and its testid), k6 or Locust alike: offered, achieved and "
    "target TPS, requests by outcome, latency percentiles per endpoint, failures, stages.",
    _panels(),
    variables=(
        query_variable("tool", "tool", f"label_values({TOTALS}, tool)", all_value=".+"),
        testid_variable(TOTALS),
    ),
)

"""Load: one run as k6 or Locust saw it, alike, from the tool-neutral load:* series."""

from __future__ import annotations

from dashboards.common import (
    LOAD_SLO,
    ROUTES,
    Panels,
    Query,
    layout,
    limit_line,
    percentiles,
    query_variable,
    row,
    share,
    testid_variable,
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


panels = Panels("load")


def _worst_p95(endpoint: str):
    return panels.latency_stat(
        f"{endpoint.capitalize()} p95, worst minute",
        [Query(worst_p95(endpoint), instant=True)],
        LOAD_SLO.p95_s[ROUTES[endpoint]],
    )


def _latency(endpoint: str):
    return panels.latency(
        f"{endpoint.capitalize()} latency",
        percentiles(lambda q: quantile(q, endpoint), "{{tool}} "),
        LOAD_SLO.p95_s[ROUTES[endpoint]],
        links=("shop", "mysql_locks"),
    )


def _panels() -> list:
    requests = panels.stat(
        "Requests in the run", [Query(REQUESTS_IN_RUN, instant=True)], "short", decimals=0
    )
    failed = panels.error_ratio_stat(
        "Failed in the run", [Query(FAILED_IN_RUN, instant=True)], links=("shop",)
    )
    achieved = panels.stat(
        "Achieved /s (1m)", [Query(ACHIEVED, "{{tool}}")], "reqps", links=("cockpit",)
    )
    stage = panels.stat("Stage now", [Query(STAGE, "{{tool}}")], "short", decimals=0)
    tps = panels.timeseries(
        "Offered, achieved and target TPS",
        [Query(OFFERED, "{{tool}} offered"), Query(ACHIEVED, "{{tool}} achieved"),
         Query(TARGET, "{{tool}} target")],
        "reqps",
        overrides=[limit_line(f"{tool} target") for tool in TOOLS],
        links=("k6", "locust"),
    )  # fmt: skip
    requests_rate = panels.timeseries(
        "Requests by endpoint and outcome",
        [Query(REQUESTS, "{{tool}} {{endpoint}} {{outcome}}")],
        "reqps",
        stacked=True,
        links=("mysql_locks",),
    )
    failed_ratio = panels.error_ratio(
        "Failed share", [Query(FAILED_RATIO, "{{tool}}")], links=("shop",)
    )
    stages = panels.timeseries("Scenario stage", [Query(STAGE, "{{tool}} {{testid}}")], "short")
    return layout(
        (4, [(4, requests), (4, failed), (4, _worst_p95("orders")), (4, _worst_p95("popular")),
             (4, achieved), (4, stage)]),
        row("Rate"),
        (8, [(12, tps), (12, requests_rate)]),
        row("Latency"),
        (8, [(12, _latency("orders")), (12, _latency("popular"))]),
        row("Failures and stages"),
        (8, [(12, failed_ratio), (12, stages)]),
    )  # fmt: skip


dashboard = panels.dashboard(
    "One load run (pick the tool and its testid), k6 or Locust alike: offered, achieved and "
    "target TPS, requests by outcome, latency percentiles per endpoint, failures, stages.",
    _panels(),
    variables=(
        query_variable("tool", "tool", f"label_values({TOTALS}, tool)", all_value=".+"),
        testid_variable(TOTALS),
    ),
)

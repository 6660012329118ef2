"""Load: one run as k6 or Locust saw it, alike, from the tool-neutral load:* series."""

from __future__ import annotations

from dashboards.common import (
    ENDPOINT,
    OBJECTIVE,
    Panels,
    Query,
    endpoint_variable,
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


def quantile(q: float, endpoint: str = ENDPOINT) -> str:
    """A latency quantile of one endpoint (a matcher's value) over the last minute, per tool."""
    return f'load:request_duration_seconds:p{q * 100:g}_1m{{{RUN},endpoint=~"{endpoint}"}}'


OBJECTIVE_P95 = f'load:slo_p95_seconds{{{RUN},endpoint=~"{ENDPOINT}"}}'
# Each endpoint's worst minute as a share of its objective (the objectives of the runs shown).
WORST_P95_OF_OBJECTIVE = (
    f"max by (endpoint) (max_over_time(load:request_duration_seconds:p95_1m{{{RUN}}}[$__range]))"
    f"\n/ on (endpoint) max by (endpoint) (max_over_time(load:slo_p95_seconds{{{RUN}}}"
    "[$__range]))"
)


panels = Panels("load")


def _latency():
    return panels.latency(
        f"Latency: {ENDPOINT}",
        [*percentiles(quantile, "{{tool}} "), Query(OBJECTIVE_P95, f"{{{{tool}}}} {OBJECTIVE}")],
        links=("shop", "mysql_locks"),
        repeat="endpoint",
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
    worst_p95 = panels.objective_stat(
        "p95 of objective, worst minute",
        [Query(WORST_P95_OF_OBJECTIVE, "{{endpoint}}", instant=True)],
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
        (4, [(4, requests), (4, failed), (8, worst_p95), (4, achieved), (4, stage)]),
        row("Rate"),
        (8, [(12, tps), (12, requests_rate)]),
        row("Latency"),
        (8, [(24, _latency())]),
        row("Failures and stages"),
        (8, [(12, failed_ratio), (12, stages)]),
    )  # fmt: skip


def dashboard():
    return panels.dashboard(
        "One load run (pick the tool and its testid), k6 or Locust alike: offered, achieved and "
        "target TPS, requests by outcome, latency percentiles per endpoint against its "
        "objective, failures, stages.",
        _panels(),
        variables=(
            query_variable("tool", "tool", f"label_values({TOTALS}, tool)", all_value=".+"),
            testid_variable(TOTALS),
            endpoint_variable(RUN),
        ),
    )

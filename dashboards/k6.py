"""k6: what only k6 has, by testid: VUs, dropped iterations, checks, statuses, iterations, data.
Requests, latency and failures of a k6 run are on the load dashboard (tool k6)."""

from __future__ import annotations

from dashboards.common import (
    SLO_ERROR_RATE,
    Query,
    dashboard,
    layout,
    limit_line,
    lower_limit,
    panel_links,
    row,
    stat,
    testid_variable,
    timeseries,
    upper_limit,
)

RUN = 'testid=~"$testid"'
API = f'{RUN},endpoint=~"orders|popular"'  # leaves out the setup requests (id discovery)
WINDOW = "$__rate_interval"

# Whole-run figures: a run's counters start at zero, so their last value in the range is the
# run so far. k6 writes the dropped counter only once it drops one: none written is none dropped.
DROPPED_IN_RUN = f"sum(max_over_time(k6_dropped_iterations_total{{{RUN}}}[$__range])) or vector(0)"
PEAK_VUS = f"max(max_over_time(k6_vus{{{RUN}}}[$__range]))"

VUS = f"sum(k6_vus{{{RUN}}})"
VUS_MAX = f"sum(k6_vus_max{{{RUN}}})"
STATUSES = f"sum by (endpoint, status) (rate(k6_http_reqs_total{{{API}}}[{WINDOW}]))"
CHECKS = f"min by (check) (k6_checks_rate{{{RUN}}})"
ITERATIONS = f"sum by (scenario) (rate(k6_iterations_total{{{RUN}}}[{WINDOW}]))"
DROPPED = f"sum by (scenario) (rate(k6_dropped_iterations_total{{{RUN}}}[{WINDOW}]))"
SENT = f"sum(rate(k6_data_sent_total{{{RUN}}}[{WINDOW}]))"
RECEIVED = f"sum(rate(k6_data_received_total{{{RUN}}}[{WINDOW}]))"


def _panels() -> list:
    dropped = stat(
        "Dropped iterations",
        "Iterations the arrival-rate executor could not start for lack of a free VU. Any is "
        "red: the offered load was lower than planned, so the result understates the load; "
        "raise maxVUs or use a bigger load generator.",
        [Query(DROPPED_IN_RUN, instant=True)],
        "short",
        thresholds=upper_limit(1),
        decimals=0,
        links=panel_links("load"),
    )
    peak_vus = stat(
        "Peak VUs",
        "Most virtual users busy at once. Near the allocated maximum (VUs panel) the "
        "executor is about to drop iterations: the shop answers too slowly for the rate.",
        [Query(PEAK_VUS, instant=True)],
        "short",
        decimals=0,
    )
    vus = timeseries(
        "VUs",
        "Virtual users busy and allocated. With an arrival-rate executor busy VUs grow when "
        "answers slow down (Little's law); reaching the allocated maximum means dropped "
        "iterations.",
        [Query(VUS, "busy"), Query(VUS_MAX, "allocated")],
        "short",
        overrides=[limit_line("allocated")],
    )
    statuses = timeseries(
        "Responses by status",
        "Requests per second by endpoint and HTTP status. 201/200 are success; 409 is a "
        "business refusal (out of stock, points); 503 is a deadlock or lock-wait timeout "
        "the shop gave up on.",
        [Query(STATUSES, "{{endpoint}} {{status}}")],
        "reqps",
        stacked=True,
    )
    checks = timeseries(
        "Checks passed",
        "Share of k6 checks passed per check since the run started (k6 writes a running "
        f"rate). Red below {1 - SLO_ERROR_RATE:.0%}: the answers are wrong, not only slow; "
        "read k6's log in the run's results folder.",
        [Query(CHECKS, "{{check}}")],
        "percentunit",
        thresholds=lower_limit(1 - SLO_ERROR_RATE),
    )
    iterations = timeseries(
        "Iterations started and dropped",
        "Iterations per second started and dropped by the arrival-rate executor. Any dropped "
        "iteration means the offered load fell short of the plan: raise maxVUs or the "
        "generator's resources.",
        [Query(ITERATIONS, "{{scenario}} started"), Query(DROPPED, "{{scenario}} dropped")],
        "short",
        axis_label="per second",
    )
    data = timeseries(
        "Data sent and received",
        "Bytes per second k6 sent and received. Received flat while requests grow: answers "
        "got smaller (errors) or the network is the limit.",
        [Query(SENT, "sent"), Query(RECEIVED, "received")],
        "Bps",
    )
    return layout(
        (4, [(6, dropped), (6, peak_vus)]),
        row("Users and iterations"),
        (8, [(12, vus), (12, iterations)]),
        row("Statuses, checks and data"),
        (8, [(8, statuses), (8, checks), (8, data)]),
    )


dashboard = dashboard(
    "k6",
    "One k6 run (pick its testid): what only k6 has (VUs, dropped iterations, checks, "
    "statuses, iterations and data); requests, latency and failures are on the load dashboard.",
    _panels(),
    variables=(testid_variable("k6_http_reqs_total"),),
)

"""k6: what only k6 has, by testid: VUs, dropped iterations, checks, statuses, iterations, data.
Requests, latency and failures of a k6 run are on the load dashboard (tool k6)."""

from __future__ import annotations

from dashboards.common import (
    Panels,
    Query,
    error_rate,
    layout,
    limit_line,
    lower_limit,
    row,
    testid_variable,
)

RUN = 'testid=~"$testid"'
API = f'{RUN},endpoint!="setup"'  # the target's endpoints: leaves out the id discovery
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


panels = Panels("k6")


def _panels() -> list:
    dropped = panels.count_stat(
        "Dropped iterations", [Query(DROPPED_IN_RUN, instant=True)], links=("load",)
    )
    peak_vus = panels.stat("Peak VUs", [Query(PEAK_VUS, instant=True)], "short", decimals=0)
    vus = panels.timeseries(
        "VUs",
        [Query(VUS, "busy"), Query(VUS_MAX, "allocated")],
        "short",
        overrides=[limit_line("allocated")],
    )
    statuses = panels.timeseries(
        "Responses by status", [Query(STATUSES, "{{endpoint}} {{status}}")], "reqps", stacked=True
    )
    checks = panels.timeseries(
        "Checks passed",
        [Query(CHECKS, "{{check}}")],
        "percentunit",
        thresholds=lower_limit(1 - error_rate()),
    )
    iterations = panels.timeseries(
        "Iterations started and dropped",
        [Query(ITERATIONS, "{{scenario}} started"), Query(DROPPED, "{{scenario}} dropped")],
        "short",
        axis_label="per second",
    )
    data = panels.timeseries(
        "Data sent and received", [Query(SENT, "sent"), Query(RECEIVED, "received")], "Bps"
    )
    return layout(
        (4, [(6, dropped), (6, peak_vus)]),
        row("Users and iterations"),
        (8, [(12, vus), (12, iterations)]),
        row("Statuses, checks and data"),
        (8, [(8, statuses), (8, checks), (8, data)]),
    )


def dashboard():
    return panels.dashboard(
        "One k6 run (pick its testid): what only k6 has (VUs, dropped iterations, checks, "
        "statuses, iterations and data); requests, latency and failures are on the load dashboard.",
        _panels(),
        variables=(testid_variable("k6_http_reqs_total"),),
    )

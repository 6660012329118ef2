"""k6: a run as k6 saw it (remote write), by testid, scenario and endpoint."""

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
    lower_limit,
    panel_links,
    percentiles,
    row,
    share,
    stat,
    testid_variable,
    timeseries,
    upper_limit,
)

RUN = 'testid=~"$testid"'
API = f'{RUN},endpoint=~"orders|popular"'  # leaves out the setup requests (id discovery)
WINDOW = "$__rate_interval"

# Whole-run figures: a run's counters and native histograms start at zero, so their last
# value in the range is the run so far (the same numbers as k6's end-of-test summary).
REQUESTS_IN_RUN = f"sum(max_over_time(k6_http_reqs_total{{{API}}}[$__range]))"
FAILED_IN_RUN = share(
    f'max_over_time(k6_http_reqs_total{{{API},expected_response="false"}}[$__range])',
    f"max_over_time(k6_http_reqs_total{{{API}}}[$__range])",
)


def p95_in_run(endpoint: str) -> str:
    return (
        "histogram_quantile(0.95, sum(increase(k6_http_req_duration_seconds"
        f'{{{RUN},endpoint="{endpoint}"}}[$__range])))'
    )


# k6 writes the dropped counter only once it drops one: none written is none dropped.
DROPPED_IN_RUN = f"sum(max_over_time(k6_dropped_iterations_total{{{RUN}}}[$__range])) or vector(0)"
PEAK_VUS = f"max(max_over_time(k6_vus{{{RUN}}}[$__range]))"

VUS = f"sum(k6_vus{{{RUN}}})"
VUS_MAX = f"sum(k6_vus_max{{{RUN}}})"
REQUEST_RATE = f"sum by (endpoint) (rate(k6_http_reqs_total{{{API}}}[{WINDOW}]))"
TARGET = f"max(k6_target_tps{{{RUN}}})"
FAILED = f'k6_http_reqs_total{{{API},expected_response="false"}}'
FAILED_RATIO = share(
    f"rate({FAILED}[{WINDOW}])", f"rate(k6_http_reqs_total{{{API}}}[{WINDOW}])", by="endpoint"
)
STATUSES = f"sum by (endpoint, status) (rate(k6_http_reqs_total{{{API}}}[{WINDOW}]))"
CHECKS = f"min by (check) (k6_checks_rate{{{RUN}}})"
ITERATIONS = f"sum by (scenario) (rate(k6_iterations_total{{{RUN}}}[{WINDOW}]))"
DROPPED = f"sum by (scenario) (rate(k6_dropped_iterations_total{{{RUN}}}[{WINDOW}]))"
SENT = f"sum(rate(k6_data_sent_total{{{RUN}}}[{WINDOW}]))"
RECEIVED = f"sum(rate(k6_data_received_total{{{RUN}}}[{WINDOW}]))"


def quantile(q: float, endpoint: str, by: str = "scenario") -> str:
    """A latency quantile from k6's native histograms, per `by` label (all together if "")."""
    grouping = f"sum by ({by})" if by else "sum"
    return (
        f"histogram_quantile({q}, {grouping} (rate(k6_http_req_duration_seconds"
        f'{{{RUN},endpoint="{endpoint}"}}[{WINDOW}])))'
    )


def _latency(endpoint: str, route: str, slo_s: float):
    return latency(
        f"{endpoint.capitalize()} latency by scenario",
        f"{route} as k6 timed it (sending to the last byte of the answer), p50/p95/p99 per "
        "scenario, from k6's native histograms.",
        percentiles(lambda q: quantile(q, endpoint), "{{scenario}} "),
        slo_s,
        "Above it while the shop's own p95 is fine: the generator or the network is the "
        "bottleneck; otherwise follow the shop and MySQL InnoDB locks dashboards.",
        links=panel_links("shop", "mysql_locks"),
    )


def _panels() -> list:
    requests = stat(
        "Requests in the run",
        "HTTP requests k6 sent to the two APIs (setup requests left out) in the selected run "
        "so far. Far fewer than target TPS times the duration: iterations were dropped or "
        "the run aborted on a threshold (see its summary).",
        [Query(REQUESTS_IN_RUN, instant=True)],
        "short",
        decimals=0,
    )
    failed = stat(
        "Failed in the run",
        "Share of requests with an unexpected status over the whole run (k6's http_req_failed "
        f"threshold). Red above the SLO of {SLO_ERROR_RATE:.0%}: see the status breakdown "
        "below and the shop's DB errors.",
        [Query(FAILED_IN_RUN, instant=True)],
        "percentunit",
        thresholds=upper_limit(SLO_ERROR_RATE, warn=SLO_ERROR_RATE / 2),
        links=panel_links("shop"),
    )
    orders_p95 = stat(
        "Orders p95 in the run",
        "95th percentile of POST /api/orders over the whole run, as k6 reports it. Red above "
        f"the SLO of {SLO_ORDERS_P95_S * 1000:.0f} ms: the run fails its threshold.",
        [Query(p95_in_run("orders"), instant=True)],
        "s",
        thresholds=upper_limit(SLO_ORDERS_P95_S, warn=SLO_ORDERS_P95_S * 0.75),
    )
    popular_p95 = stat(
        "Popular p95 in the run",
        "95th percentile of GET /api/products/popular over the whole run. Red above the SLO "
        f"of {SLO_POPULAR_P95_S * 1000:.0f} ms: the run fails its threshold.",
        [Query(p95_in_run("popular"), instant=True)],
        "s",
        thresholds=upper_limit(SLO_POPULAR_P95_S, warn=SLO_POPULAR_P95_S * 0.75),
    )
    dropped = stat(
        "Dropped iterations",
        "Iterations the arrival-rate executor could not start for lack of a free VU. Any is "
        "red: the offered load was lower than planned, so the result understates the load; "
        "raise maxVUs or use a bigger load generator.",
        [Query(DROPPED_IN_RUN, instant=True)],
        "short",
        thresholds=upper_limit(1),
        decimals=0,
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
    request_rate = timeseries(
        "Request rate by endpoint",
        "Requests per second k6 sent to each API, and the run's TARGET_TPS (dashed) for both "
        "together. Below target while dropped iterations rise: k6 ran out of VUs.",
        [Query(REQUEST_RATE, "{{endpoint}}"), Query(TARGET, "target")],
        "reqps",
        stacked=True,
        overrides=[limit_line("target")],
        links=panel_links("cockpit"),
    )
    failed_ratio = timeseries(
        "Failed requests by endpoint",
        "Share of each API's requests with an unexpected status. Dashed: the SLO of "
        f"{SLO_ERROR_RATE:.0%}. Orders failing with 503 on the naive strategy are deadlock "
        "victims: see the MySQL InnoDB locks dashboard.",
        [Query(FAILED_RATIO, "{{endpoint}}")],
        "percentunit",
        thresholds=upper_limit(SLO_ERROR_RATE),
        links=panel_links("mysql_locks"),
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
        (4, [(4, requests), (4, failed), (4, orders_p95), (4, popular_p95), (4, dropped),
             (4, peak_vus)]),
        row("Rate and users"),
        (8, [(12, request_rate), (12, vus)]),
        row("Latency"),
        (8, [(12, _latency("orders", "POST /api/orders", SLO_ORDERS_P95_S)),
             (12, _latency("popular", "GET /api/products/popular", SLO_POPULAR_P95_S))]),
        row("Failures and checks"),
        (8, [(8, failed_ratio), (8, statuses), (8, checks)]),
        row("Iterations and data"),
        (7, [(12, iterations), (12, data)]),
    )  # fmt: skip


dashboard = dashboard(
    "k6",
    "One k6 run (pick its testid): requests, VUs, latency percentiles per scenario and "
    "endpoint from native histograms, failures, checks, iterations and data.",
    _panels(),
    variables=(testid_variable("k6_http_reqs_total"),),
)

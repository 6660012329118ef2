"""Locust: a run as Locust saw it (our event-hook exporter), by testid and request name."""

from __future__ import annotations

from dashboards.common import (
    LOCUST_ORDERS,
    LOCUST_POPULAR,
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
    row,
    share,
    stat,
    testid_variable,
    timeseries,
    upper_limit,
)

RUN = 'testid=~"$testid"'
WINDOW = "$__rate_interval"

# Whole-run figures: a run's counters start at zero, so their highest value is the run so far.
REQUESTS_IN_RUN = f"sum(max_over_time(locust_requests_total{{{RUN}}}[$__range]))"
FAILED_IN_RUN = share(
    f"max_over_time(locust_failures_total{{{RUN}}}[$__range])",
    f"max_over_time(locust_requests_total{{{RUN}}}[$__range])",
)
PEAK_USERS = f"max(max_over_time(locust_users{{{RUN}}}[$__range]))"

USERS = f"sum(locust_users{{{RUN}}})"
TARGET = f"max(locust_target_tps{{{RUN}}})"
WORKERS = f"sum(locust_workers{{{RUN}}})"
REQUEST_RATE = f"sum by (name) (rate(locust_requests_total{{{RUN}}}[{WINDOW}]))"
FAILURE_RATE = f"sum by (name) (rate(locust_failures_total{{{RUN}}}[{WINDOW}]))"
FAILED_RATIO = share(
    f"rate(locust_failures_total{{{RUN}}}[{WINDOW}])",
    f"rate(locust_requests_total{{{RUN}}}[{WINDOW}])",
    by="name",
)


def quantile(q: float, name: str) -> str:
    """A response-time quantile of one request name from the exporter's classic histogram."""
    return (
        f"histogram_quantile({q}, sum by (le) (rate(locust_request_duration_seconds_bucket"
        f'{{{RUN},name="{name}"}}[{WINDOW}])))'
    )


def p95_in_run(name: str) -> str:
    return (
        "histogram_quantile(0.95, sum by (le) (max_over_time(locust_request_duration_seconds_bucket"
        f'{{{RUN},name="{name}"}}[$__range])))'
    )


def _latency(name: str, slo_s: float):
    return latency(
        f"{name}: response time",
        f"{name} as Locust timed it, p50/p95/p99 from the histogram (buckets 5 ms .. 10 s, so "
        "values are bucket-interpolated).",
        percentiles(lambda q: quantile(q, name)),
        slo_s,
        "Above it: compare with the shop's own latency to tell the generator from the shop.",
        links=panel_links("shop"),
    )


def _panels() -> list:
    requests = stat(
        "Requests in the run",
        "Requests Locust sent in the selected run so far, failed ones included. Far fewer "
        "than users times seconds: the users could not keep their 1 s pacing (slow answers).",
        [Query(REQUESTS_IN_RUN, instant=True)],
        "short",
        decimals=0,
    )
    failed = stat(
        "Failed in the run",
        f"Share of the run's requests that failed. Red above the SLO of {SLO_ERROR_RATE:.0%}: "
        "see failures by request below and the shop's DB errors.",
        [Query(FAILED_IN_RUN, instant=True)],
        "percentunit",
        thresholds=upper_limit(SLO_ERROR_RATE, warn=SLO_ERROR_RATE / 2),
        links=panel_links("shop"),
    )
    orders_p95 = stat(
        "Orders p95 in the run",
        f"95th percentile of {LOCUST_ORDERS} over the whole run. Red above the SLO of "
        f"{SLO_ORDERS_P95_S * 1000:.0f} ms.",
        [Query(p95_in_run(LOCUST_ORDERS), instant=True)],
        "s",
        thresholds=upper_limit(SLO_ORDERS_P95_S, warn=SLO_ORDERS_P95_S * 0.75),
    )
    popular_p95 = stat(
        "Popular p95 in the run",
        f"95th percentile of {LOCUST_POPULAR} over the whole run. Red above the SLO of "
        f"{SLO_POPULAR_P95_S * 1000:.0f} ms.",
        [Query(p95_in_run(LOCUST_POPULAR), instant=True)],
        "s",
        thresholds=upper_limit(SLO_POPULAR_P95_S, warn=SLO_POPULAR_P95_S * 0.75),
    )
    peak_users = stat(
        "Peak users",
        "Most users running at once; with 1 s constant pacing this is the peak offered "
        "requests per second.",
        [Query(PEAK_USERS, instant=True)],
        "short",
        decimals=0,
    )
    users = timeseries(
        "Users (offered rate) vs target",
        "Users running (each offers one request per second), the run's TARGET_TPS (dashed) "
        "and the connected workers. Users below target: the shape is still ramping or the "
        "generator is short of CPU (add --processes).",
        [Query(USERS, "users"), Query(TARGET, "target"), Query(WORKERS, "workers")],
        "short",
        overrides=[limit_line("target")],
        links=panel_links("cockpit"),
    )
    request_rate = timeseries(
        "Request rate by request",
        "Requests per second Locust sent, per request name. Below the users count: answers "
        "take longer than the 1 s pacing, so the offered load is lower than planned.",
        [Query(REQUEST_RATE, "{{name}}")],
        "reqps",
        stacked=True,
    )
    failures = timeseries(
        "Failures by request",
        "Failed requests per second by request name. Failed orders on the naive strategy "
        "are mostly deadlock victims: see the MySQL InnoDB locks dashboard.",
        [Query(FAILURE_RATE, "{{name}}")],
        "reqps",
        stacked=True,
        links=panel_links("mysql_locks"),
    )
    failed_ratio = timeseries(
        "Failed share by request",
        "Share of each request's traffic that failed. Dashed: the SLO of "
        f"{SLO_ERROR_RATE:.0%}. Above it: read the shop's DB errors by kind.",
        [Query(FAILED_RATIO, "{{name}}")],
        "percentunit",
        thresholds=upper_limit(SLO_ERROR_RATE),
        links=panel_links("shop"),
    )
    return layout(
        (4, [(5, requests), (5, failed), (5, orders_p95), (5, popular_p95), (4, peak_users)]),
        row("Users and rate"),
        (8, [(12, users), (12, request_rate)]),
        row("Response times"),
        (8, [(12, _latency(LOCUST_ORDERS, SLO_ORDERS_P95_S)),
             (12, _latency(LOCUST_POPULAR, SLO_POPULAR_P95_S))]),
        row("Failures"),
        (8, [(12, failures), (12, failed_ratio)]),
    )  # fmt: skip


dashboard = dashboard(
    "locust",
    "One Locust run (pick its testid): users against the target, request rate, failures and "
    "response-time percentiles per request from the histogram.",
    _panels(),
    variables=(testid_variable("locust_requests_total"),),
)

"""The load tools' raw series (k6 remote write, our Locust exporter) and the tool-neutral load
signals built on them: what each tool counts, in one place for both the rules and the verdict.

Tool-neutral labels: `tool` (k6, locust), `testid`, `endpoint` (the target's endpoint names:
orders and popular for the shops) and `outcome` (ok, error) where they apply. k6 tags each request
with `endpoint`; Locust names each request by its endpoint (label `name`).
"""

from __future__ import annotations

from signals.promql import or_zero, selector, share, summed, with_label

TOOLS = ("k6", "locust")
# k6 writes remote-write series and never marks them stale: a finished run's last sample stays
# visible for 5 minutes. A k6 run counts as on while it pushed within this (it pushes every 5 s).
K6_FRESH_S = 30
QUANTILES = (0.5, 0.95, 0.99)

_K6_API = 'endpoint!="setup"'  # leaves out the setup requests (id discovery)
_K6_OUTCOME = {"ok": 'expected_response="true"', "error": 'expected_response="false"'}
_LOCUST_API = ""  # Locust sends the endpoints' requests only


def testid_matchers(tool: str, testid: str) -> str:
    """The matchers of one run's series; Locust's come from its scrape job."""
    return f'testid="{testid}"' if tool == "k6" else f'job="locust",testid="{testid}"'


def endpoint_matcher(tool: str, endpoint: str) -> str:
    """The matcher of one endpoint's series: k6 tags them `endpoint`, Locust names them."""
    return f'{"endpoint" if tool == "k6" else "name"}="{endpoint}"'


def _locust_endpoint(expr: str) -> str:
    """Locust's `name` (the endpoint's name) as the tool-neutral `endpoint`."""
    return f'label_replace({expr}, "endpoint", "$1", "name", "(.*)")'


def requests(tool: str, fn: str, window: str, *, matchers: str = "", outcome: str | None = None,
             by: str = "") -> str:  # fmt: skip
    """sum by (`by`) of `fn`(requests[window]) (fn: rate, increase, max_over_time ...) of the
    target's endpoints; `outcome` ok or error or None (all). Absent while no request had that
    outcome."""

    def over(series: str) -> str:
        return f"{fn}({series}[{window}])" if fn else series

    if tool == "k6":
        series = selector("k6_http_reqs_total", matchers, _K6_API, _K6_OUTCOME.get(outcome, ""))
        return summed(over(series), by)
    sent = summed(_locust_endpoint(over(selector("locust_requests_total", matchers, _LOCUST_API))),
                  by)  # fmt: skip
    failed = summed(
        _locust_endpoint(over(selector("locust_failures_total", matchers, _LOCUST_API))), by
    )
    return {None: sent, "error": failed, "ok": f"{sent} - {or_zero(failed, sent)}"}[outcome]


def latency_quantile(tool: str, q: float, window: str, *, matchers: str = "",
                     endpoint: str | None = None, by: str = "") -> str:  # fmt: skip
    """A request-duration quantile in seconds as the tool timed it: k6's native histogram,
    Locust's classic one (bucket-interpolated); of one `endpoint`, or by endpoint (`by` may
    name `endpoint`) over all of them."""
    if tool == "k6":
        one = endpoint_matcher(tool, endpoint) if endpoint else _K6_API
        series = selector("k6_http_req_duration_seconds", matchers, one)
        return f"histogram_quantile({q}, {summed(f'rate({series}[{window}])', by)})"
    one = endpoint_matcher(tool, endpoint) if endpoint else ""
    series = selector("locust_request_duration_seconds_bucket", matchers, one)
    grouping = ", ".join(x for x in (by.replace("endpoint", "name"), "le") if x)
    quantile = f"histogram_quantile({q}, {summed(f'rate({series}[{window}])', grouping)})"
    return _locust_endpoint(quantile) if "endpoint" in by else quantile


def latency_mean(tool: str, window: str, *, matchers: str = "") -> str:
    """The mean request duration in seconds over the target's endpoints, as the tool timed it: the
    histograms' sum over their count (Little's law needs the mean, not a quantile)."""
    if tool == "k6":
        series = selector("k6_http_req_duration_seconds", matchers, _K6_API)
        rated = summed(f"rate({series}[{window}])")
        return f"histogram_sum({rated}) / histogram_count({rated})"
    name = "locust_request_duration_seconds"
    total, count = (
        summed(f"rate({selector(f'{name}_{part}', matchers, _LOCUST_API)}[{window}])")
        for part in ("sum", "count")
    )
    return f"{total} / {count}"


def k6_dropped(window: str, *, matchers: str = "", by: str = "") -> str:
    """Iterations k6 could not start in the window. The counter appears with the first drop:
    a value missing at the window's start counts as 0 (increase() would miss that first burst)."""
    series = selector("k6_dropped_iterations_total", matchers)
    return summed(f"{series} - ({series} offset {window} or {series} * 0)", by)


def k6_fresh(metric: str) -> str:
    """A k6 gauge while its run still pushes (see K6_FRESH_S)."""
    return f"{metric} and (time() - timestamp({metric})) < {K6_FRESH_S}"


def _both(k6: str, locust: str) -> str:
    """One tool-neutral vector: each tool's series with its `tool` label."""
    return f"{with_label(k6, 'tool', 'k6')}\nor\n{with_label(locust, 'tool', 'locust')}"


def _outcomes(tool: str, fn: str, window: str) -> str:
    by = "testid, endpoint"
    ok = with_label(requests(tool, fn, window, outcome="ok", by=by), "outcome", "ok")
    error = with_label(requests(tool, fn, window, outcome="error", by=by), "outcome", "error")
    return f"({ok} or {error})"


# --- recorded: (record, expr, unit, help, labels) -------------------------------------------

TARGET_TPS = _both(
    f"max by (testid, scenario) ({k6_fresh('k6_target_tps')})",
    "max by (testid, scenario) (locust_target_tps)",
)
# Each endpoint's p95 objective in the run, as the tool is judged by it (the SLO line per run).
SLO_P95 = _both(
    f"max by (testid, endpoint) ({k6_fresh('k6_slo_p95_seconds')})",
    "max by (testid, endpoint) (locust_slo_p95_seconds)",
)
STAGE = _both(
    f"max by (testid) ({k6_fresh('k6_loadtest_stage')})", "max by (testid) (locust_loadtest_stage)"
)
REQUESTS_RATE = _both(_outcomes("k6", "rate", "1m"), _outcomes("locust", "rate", "1m"))
# Counters summed per run: their highest value in a range is the run so far.
REQUESTS_TOTAL = _both(_outcomes("k6", "", ""), _outcomes("locust", "", ""))
ACHIEVED_TPS = 'sum by (tool, testid) (load:requests:rate1m{outcome="ok"})'
ERROR_RATIO = share('load:requests:rate1m{outcome="error"}', "load:requests:rate1m", "tool, testid")
OFFERED_TPS = _both(
    # Open model: iterations started plus those dropped for lack of a VU.
    "sum by (testid) (rate(k6_iterations_total[1m])) + "
    + or_zero(
        "sum by (testid) (rate(k6_dropped_iterations_total[1m]))",
        "sum by (testid) (rate(k6_iterations_total[1m]))",
    ),
    "sum by (testid) (locust_users)",  # constant pacing: one request/s per user
)
DROPPED = with_label(k6_dropped("1m", by="testid"), "tool", "k6")


def _latency(q: float) -> str:
    return _both(*(latency_quantile(tool, q, "1m", by="testid, endpoint") for tool in TOOLS))


LOAD_RECORDS = [
    ("load:target_tps", TARGET_TPS, "reqps", "the run's TARGET_TPS while the run is on",
     ("tool", "testid", "scenario")),
    ("load:slo_p95_seconds", SLO_P95, "s",
     "each endpoint's p95 latency objective in the run (the target's, or the scenario's)",
     ("tool", "testid", "endpoint")),
    ("load:stage", STAGE, "short",
     "1-based index of the scenario stage running now (the tools' stage gauge)",
     ("tool", "testid")),
    ("load:requests:rate1m", REQUESTS_RATE, "reqps",
     "requests per second the tool sent to the target's endpoints, by outcome",
     ("tool", "testid", "endpoint", "outcome")),
    ("load:requests_total:sum", REQUESTS_TOTAL, "short",
     "requests the tool sent in the run so far, by outcome",
     ("tool", "testid", "endpoint", "outcome")),
    ("load:achieved_tps:rate1m", ACHIEVED_TPS, "reqps",
     "successful requests per second seen by the tool (all endpoints)", ("tool", "testid")),
    ("load:error_ratio:rate1m", ERROR_RATIO, "percentunit",
     "share of the tool's requests that failed (unexpected status, no answer)",
     ("tool", "testid")),
    ("load:offered_tps:rate1m", OFFERED_TPS, "reqps",
     "requests per second the tool offered (k6: iterations started + dropped; Locust: users)",
     ("tool", "testid")),
    ("load:dropped_iterations:increase1m", DROPPED, "short",
     "iterations k6 could not start in the last minute (no free VU); k6 only",
     ("tool", "testid")),
    *(
        (f"load:request_duration_seconds:p{q * 100:g}_1m", _latency(q), "s",
         f"p{q * 100:g} request duration as the tool timed it, per endpoint",
         ("tool", "testid", "endpoint"))
        for q in QUANTILES
    ),
]  # fmt: skip


# --- read with any window: the load runner's verdict ----------------------------------------


def verdict_queries(tool: str, testid: str, seconds: int,
                    endpoints: tuple[str, ...]) -> dict[str, str]:  # fmt: skip
    """PromQL of one run's figures over the `seconds` before the evaluation time: `rate`
    (successful requests/s), `errors` (failed share), `<endpoint>_p95` (ms) and
    `<endpoint>_errors` (its failed share) for each endpoint, `dropped` (iterations k6 could not
    start; 0 for Locust)."""
    w, m = f"{seconds}s", testid_matchers(tool, testid)

    def failed_share(matchers: str) -> str:
        errors = (
            f"({requests(tool, 'increase', w, matchers=matchers, outcome='error')} or vector(0))"
        )
        return f"{errors} / {requests(tool, 'increase', w, matchers=matchers)}"

    queries = {
        "rate": f"({requests(tool, 'increase', w, matchers=m, outcome='ok')} or vector(0))"
        f" / {seconds}",
        "errors": failed_share(m),
        **{
            f"{endpoint}_p95": f"{latency_quantile(tool, 0.95, w, matchers=m, endpoint=endpoint)}"
            " * 1000"
            for endpoint in endpoints
        },
        **{
            f"{endpoint}_errors": failed_share(f"{m},{endpoint_matcher(tool, endpoint)}")
            for endpoint in endpoints
        },
        "dropped": k6_dropped(w, matchers=m) if tool == "k6" else "vector(0)",
    }
    return queries

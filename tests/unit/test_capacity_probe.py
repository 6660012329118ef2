"""A capacity probe's figures window: its hold when the plan has one, else the whole run, cut
at the tool's stop (issue 25: SCALE=0.1 leaves the probe no hold); its verdict, on the hold."""

from __future__ import annotations

import dataclasses

from lab.capacity.probe import figures_window, judge_probe
from lab.load.run import RunResult, plan_of
from lab.load.scenarios import Window
from lab.load.settings import read_load_settings
from lab.load.verdict import Observations, Verdict


def probe_result(scale: float, started: float, ended: float) -> RunResult:
    s = dataclasses.replace(
        read_load_settings({"SHOP_URL": "http://127.0.0.1:1"}), scenario="probe", scale=scale
    )
    plan = plan_of(s, "k6-probe-1", "")
    return RunResult("k6-probe-1", "k6", 0, Verdict(0, []), plan, Window(started, ended))


def test_a_probe_too_short_for_a_hold_reads_its_whole_run():
    result = probe_result(0.1, 1000.0, 1004.0)
    assert result.plan.hold_window(1000.0) is None
    assert figures_window(result, now=2000.0) == Window(999.0, 1004.0)


def test_a_probe_with_a_hold_reads_the_hold():
    result = probe_result(1, 1000.0, 1040.0)
    hold = result.plan.hold_window(1000.0)[0]
    assert figures_window(result, now=2000.0) == hold


def test_an_aborted_probe_is_read_up_to_the_tools_stop():
    result = probe_result(1, 1000.0, 1020.0)
    window = figures_window(result, now=2000.0)
    assert window.end == 1020.0
    assert window.start == result.plan.hold_window(1000.0)[0].start


def test_a_run_that_never_started_has_no_window():
    assert figures_window(RunResult("t", "k6", 2, Verdict(2, [], "down")), now=1.0) is None


def judged(hold: dict | None, thresholds: list[dict]) -> list[str]:
    result = probe_result(0.5, 1000.0, 1020.0)
    summary = {"thresholds": thresholds, "duration_s": 20.0}
    observations = Observations(1000.0, 1020.0, hold=hold)
    result = dataclasses.replace(result, summary=summary, observations=observations)
    return list(judge_probe(result, 600.0, {}, "bisect").broken)


RAMP_BURST = [{"name": "http_req_duration{endpoint:popular}: p(95)<50", "pass": False}]
STEADY = {"rate": 600.0, "errors": 0.0, "dropped": 0.0, "orders_p95": 40.0, "popular_p95": 22.1,
          "orders_errors": 0.0, "popular_errors": 0.0}  # fmt: skip


def test_a_probe_is_judged_on_its_hold_not_on_the_ramps_start_up():
    """2026-12-07, 675/s: popular p95 22 ms over the hold, yet k6's p95 over the whole run,
    its start-up burst included, broke 50 ms; the search called the rate broken."""
    assert judged(STEADY, RAMP_BURST) == []


def test_a_hold_over_its_objectives_breaks_whatever_the_tool_said():
    slow = {**STEADY, "popular_p95": 61.0, "orders_errors": 0.02}
    assert judged(slow, []) == [
        "orders errors 2.00 % > 1 % in the hold",
        "popular p95 61 ms >= 50 ms in the hold",
    ]


def test_one_endpoints_errors_break_it_though_the_mix_dilutes_them():
    """Popular failing 1.2 % of the time is 0.6 % of a half-and-half mix, under the 1 %
    objective overall: each endpoint is judged on its own share, as the tools' thresholds do."""
    assert judged({**STEADY, "errors": 0.006, "popular_errors": 0.012}, []) == [
        "popular errors 1.20 % > 1 % in the hold"
    ]


def test_the_tools_checks_of_the_answers_still_count_with_a_hold():
    checks = [{"name": "checks: rate>=0.99", "pass": False}]
    assert judged(STEADY, RAMP_BURST + checks) == ["checks: rate>=0.99"]


def test_without_a_hold_the_tools_thresholds_decide():
    assert judged(None, RAMP_BURST) == ["http_req_duration{endpoint:popular}: p(95)<50"]


def test_a_hold_prometheus_did_not_answer_for_leaves_the_tool_to_decide():
    """Prometheus gone mid-search: the hold's figures are all None, and a probe must not hold
    on figures nobody measured."""
    unanswered = dict.fromkeys(STEADY)
    assert judged(unanswered, RAMP_BURST) == ["http_req_duration{endpoint:popular}: p(95)<50"]
    # One endpoint unmeasured: the tool decides for it alone.
    partly = {**STEADY, "popular_p95": None}
    assert judged(partly, RAMP_BURST) == ["http_req_duration{endpoint:popular}: p(95)<50"]
    locust = [{"name": "GET /api/products/popular: p95 < 50 ms", "pass": False}]
    assert judged(STEADY, locust) == [] and judged(partly, locust) == [locust[0]["name"]]

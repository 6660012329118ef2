"""The verdict as a pure function of recorded runs: plan, summary and Prometheus's answers."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from lab.load.scenarios import plan_from_json
from lab.load.verdict import Observations, judge, settled_at, spike_lines, stress_lines
from stack.settings import REPO

FIXTURES = REPO / "tests" / "fixtures" / "loadtest"


def recorded(name: str):
    plan = plan_from_json((FIXTURES / f"{name}.plan.json").read_text())
    summary = json.loads((FIXTURES / f"{name}.summary.json").read_text())
    obs = Observations.from_dict(json.loads((FIXTURES / f"{name}.observations.json").read_text()))
    return plan, summary, obs


def verdict_of(name: str, rc: int = 0, **changes):
    plan, summary, obs = recorded(name)
    return judge(plan, name.split("-")[0], {**summary, **changes}, rc, obs, results="r")


def test_a_passing_load_run_reports_its_hold_and_deadlocks():
    v = verdict_of("k6-load-naive")
    assert v.exit_code == 0 and v.passed
    text = "\n".join(v.lines)
    assert "InnoDB deadlocks during the run: 1" in text
    assert "during the 26 s hold at 40/s: achieved 40.0/s (99.9 % of offered)" in text
    assert v.lines[-1] == "  verdict: PASS"


def test_a_failed_threshold_fails_the_run():
    failed = [{"name": "http_req_duration{endpoint:orders}: p(95)<200", "pass": False}]
    v = verdict_of("k6-load-naive", rc=99, thresholds=failed, passed=False)
    assert v.exit_code == 1 and "  FAIL  http_req_duration{endpoint:orders}: p(95)<200" in v.lines


def test_locust_run_is_judged_the_same_way():
    v = verdict_of("locust-load")
    assert v.exit_code == 0
    assert any(
        line.startswith("  during the 26 s hold at 20/s: achieved 20.0/s") for line in v.lines
    )


def test_a_run_stopped_before_its_hold_ended_has_no_steady_state_figures():
    v = verdict_of("k6-load-naive", duration_s=10.0)
    assert "  (the run stopped before the end of its hold: no steady-state figures)" in v.lines


@pytest.mark.parametrize(
    ("rc", "changes", "says"),
    [(2, {}, "k6 failed (exit 2, 10 requests): no verdict"),
     (0, {"requests": 0}, "k6 failed (exit 0, 0 requests): no verdict")],
)  # fmt: skip
def test_a_failed_tool_gets_no_verdict(rc, changes, says):
    v = verdict_of("k6-smoke", rc=rc, **changes)
    assert v.exit_code == 2 and v.lines == [] and v.error.startswith(says)


def test_no_summary_is_no_verdict():
    plan, _, obs = recorded("k6-smoke")
    v = judge(plan, "k6", None, 1, obs, results="r")
    assert (v.exit_code, v.error) == (2, "k6 wrote no summary (exit 1); its log: r/k6.log")


def test_stress_reports_every_step_and_that_the_slo_held():
    v = verdict_of("k6-stress")
    steps = [line for line in v.lines if line.startswith("  step ")]
    assert len(steps) == 5 and all(line.endswith("ok") for line in steps)
    assert steps[0].startswith("  step  100 % (   20/s): achieved 19.9/s")
    assert "  SLO held at every step up to 400 % of TARGET_TPS" in v.lines
    assert v.exit_code == 0 and v.lines[-1].startswith("  verdict: REPORTED")


def test_stress_names_the_first_step_that_broke():
    plan, _, obs = recorded("k6-stress")
    steps = [dict(w) for w in obs.steps]
    steps[3]["orders_p95"] = 250.0  # the 300 % step over the 200 ms SLO
    steps[4]["rate"] = 60.0  # 400 %: 60 of 80/s, under 95 %
    lines = stress_lines(plan, steps)
    assert lines[3].endswith("SLO BROKEN: orders p95 250 ms > 200")
    assert lines[4].endswith("SLO BROKEN: achieved 60/s < 95 % of 80/s")
    assert lines[-1] == "SLO broke at the 300 % step (60/s offered)"


def test_spike_recovery_from_the_recorded_series():
    v = verdict_of("k6-spike")
    assert "  recovery: errors back to baseline 0 s after the spike  PASS (limit 30 s)" in v.lines
    assert "  latency: orders p95 back under 200 ms 0 s after the spike" in v.lines


def test_spike_recovery_counts_from_the_end_of_the_spike():
    plan, _, obs = recorded("k6-spike")
    end = plan.spike_window(obs.started).end
    errors = [(t, 0.2 if t < end + 12 else 0.0) for t, _ in obs.spike["errors"]]
    latency = [(t, 900.0 if t < end + 40 else 10.0) for t, _ in obs.spike["orders_p95"]]
    lines = spike_lines(plan, end, {**obs.spike, "errors": errors, "orders_p95": latency})
    assert "recovery: errors back to baseline 12 s after the spike  PASS (limit 30 s)" in lines
    assert lines[-1] == "latency: orders p95 back under 200 ms not within 30 s"
    late = replace(plan, slo={**plan.slo, "recovery_seconds": 10})
    assert "FAIL (limit 10 s)" in spike_lines(late, end, {**obs.spike, "errors": errors})[2]


def test_recovery_needs_a_steady_good_stretch():
    # One good sample inside the spike (t=2) is noise; recovery is at t=5, good through t=10.
    series = [(0, 600), (1, 650), (2, 180), (3, 590), (4, 540), (5, 6), (6, 7), (7, 9), (8, 5),
              (9, 6), (10, 5)]  # fmt: skip
    assert settled_at(series, lambda v: v <= 200) == 5
    assert settled_at(series[:8], lambda v: v <= 200) is None  # not yet 5 s of good


def test_without_prometheus_stress_says_what_it_needs():
    plan, summary, _ = recorded("k6-stress")
    v = judge(plan, "k6", summary, 0, None, results="r")
    assert "  (step / recovery analysis needs Prometheus: run against make local-up)" in v.lines


BROKEN_BOOKS = {
    "passed": False,
    "broken_invariants": {"stock sold = order item quantities, per product": 2},
    "reconciliation": {"passed": True, "acknowledged": 12, "lost": [], "double_charged": [],
                       "unacknowledged": 0},
}  # fmt: skip


@pytest.mark.parametrize("name", ["k6-load-naive", "k6-stress", "k6-spike"])
def test_a_broken_book_fails_any_run_naming_the_invariant(name):
    plan, summary, obs = recorded(name)
    v = judge(plan, "k6", summary, 0, obs, results="r", audit=BROKEN_BOOKS)
    assert v.exit_code == 1 and v.passed is False
    text = "\n".join(v.lines)
    assert "audit: FAIL stock sold = order item quantities, per product (2)" in text
    assert v.lines[-1] == "  verdict: FAIL (audit)"


def test_a_lost_order_fails_the_run_and_balanced_books_pass_it():
    plan, summary, obs = recorded("k6-load-naive")
    lost = {
        **BROKEN_BOOKS,
        "broken_invariants": {},
        "reconciliation": {**BROKEN_BOOKS["reconciliation"], "passed": False, "lost": ["k"]},
    }
    v = judge(plan, "k6", summary, 0, obs, results="r", audit=lost)
    assert v.exit_code == 1 and "reconciliation FAIL: 12 orders acknowledged, 1 lost" in "\n".join(
        v.lines
    )
    ok = {**lost, "passed": True, "reconciliation": {**lost["reconciliation"], "passed": True,
                                                      "lost": []}}  # fmt: skip
    assert judge(plan, "k6", summary, 0, obs, results="r", audit=ok).exit_code == 0


# p95_ms stands for every endpoint's p95 (`<endpoint>_p95` in the windows).
DRIFT = {"shop_memory_bytes": 0.2, "db_connections": 0.25, "p95_ms": 0.5, "p95_floor_ms": 10}


def soak_verdict(first: dict, last: dict):
    plan, summary, obs = recorded("k6-load-naive")
    plan = replace(plan, slo={**plan.slo, "drift": DRIFT})
    obs = replace(obs, drift={"first": first, "last": last})
    return judge(plan, "k6", summary, 0, obs, results="r")


def test_a_flat_soak_passes_with_its_drift_shown():
    flat = {"shop_memory_bytes": 200e6, "db_connections": 12, "orders_p95": 20}
    v = soak_verdict(flat, {**flat, "shop_memory_bytes": 210e6, "orders_p95": 28})
    text = "\n".join(v.lines)
    assert v.exit_code == 0
    assert "drift: ok shop_memory_bytes 2e+08 -> 2.1e+08 (+5.0 %, tolerance +20 %)" in text
    # +40 % p95 is within +50 %; a small absolute rise under the 10 ms floor never fails.
    assert "drift: ok orders_p95 20 -> 28" in text


@pytest.mark.parametrize(
    "name,first,last",
    [("shop_memory_bytes", 200e6, 260e6), ("db_connections", 12, 20), ("orders_p95", 20, 45)],
)
def test_a_rise_beyond_tolerance_fails_the_soak_naming_it(name, first, last):
    base = {"shop_memory_bytes": 200e6, "db_connections": 12, "orders_p95": 20}
    v = soak_verdict({**base, name: first}, {**base, name: last})
    assert v.exit_code == 1
    assert any(line.startswith(f"  drift: FAIL {name}") for line in v.lines)
    assert v.lines[-1] == "  verdict: FAIL (drift)"


def test_a_p95_rise_under_the_floor_is_noise_not_drift():
    base = {"shop_memory_bytes": 200e6, "db_connections": 12, "orders_p95": 4}
    assert soak_verdict(base, {**base, "orders_p95": 9}).exit_code == 0  # +125 %, +5 ms

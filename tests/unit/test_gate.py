"""The gate's pure parts: its knobs, what failed by name, the verdict line, the Markdown
summary, the A/B's judgement against the noise of its own A/A passes, the run history record,
and the CLI's bad input as one line."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from lab.gate import ab, cli, shops, worktree
from lab.gate.compare import (
    IMPROVEMENT,
    METRICS,
    REGRESSION,
    UNDETECTABLE,
    Metric,
    aa_noise,
    compare,
    compare_all,
    order,
)
from lab.gate.perf_gate import GateResult, GateTimeout, Step, deadline, failures, history_record
from lab.gate.settings import (
    AB_PASSES,
    AB_SCALE,
    GATE_BUDGET_S,
    GATE_SCALE,
    GATE_TPS,
    AbSettings,
    GateSettings,
    GateSettingsError,
    parse_env_pairs,
)
from lab.gate.summary import ab_markdown, demoted, gate_markdown
from lab.load.run import RunResult, plan_of
from lab.load.settings import LoadSettingsError, read_load_settings
from lab.load.verdict import Observations, Verdict
from stack import services
from stack.settings import REPO, read_stack_settings

FIXTURES = REPO / "tests" / "fixtures" / "loadtest"
SUMMARY = json.loads((FIXTURES / "k6-load-naive.summary.json").read_text())
BALANCED = {
    "passed": True,
    "broken_invariants": {},
    "reconciliation": {"passed": True, "lost": [], "double_charged": []},
}


def failing(summary: dict, *names: str) -> dict:
    return {
        **summary,
        "passed": False,
        "thresholds": [{**t, "pass": t["name"] not in names} for t in summary["thresholds"]],
    }


# --- knobs ---------------------------------------------------------------------------------------


def test_gate_defaults_are_the_short_load():
    s = GateSettings.from_env({})
    assert (s.target_tps, s.scale, s.tool) == (GATE_TPS, GATE_SCALE, "k6")
    assert s.budget_s == GATE_BUDGET_S
    assert s.screenshot is True
    assert s.results_root == REPO / "results"
    assert s.trend.history == REPO / "results" / "history.jsonl"


def test_gate_takes_the_load_knobs_and_never_a_foreign_shop(tmp_path):
    env = {
        "TARGET_TPS": "200",
        "SCALE": "0.1",
        "GATE_BUDGET": "240",
        "GATE_SCREENSHOT": "0",
        "RESULTS_ROOT": str(tmp_path),
        "SHOP_URL": "http://127.0.0.1:1",
        "PROMETHEUS_URL": "http://127.0.0.1:2",
        "SHOP_DATABASE_URL": "mysql+pymysql://x/y",
        "HOT_USERS": "3",
    }
    s = GateSettings.from_env(env)
    assert (s.target_tps, s.scale, s.budget_s, s.screenshot) == (200, 0.1, 240, False)
    assert s.results_root == tmp_path
    assert s.trend.history == tmp_path / "history.jsonl"
    assert s.environ["HOT_USERS"] == "3"
    assert not {"SHOP_URL", "PROMETHEUS_URL", "SHOP_DATABASE_URL", "RESULTS_ROOT"} & set(s.environ)


def test_ab_needs_a_base_and_reads_its_knobs():
    with pytest.raises(GateSettingsError, match="BASE"):
        AbSettings.from_env({})
    s = AbSettings.from_env(
        {"BASE": "main", "AB_PASSES": "3", "AB_HEAD_ENV": "SHOP_DEBUG_DELAY_MS=20 SHOP_WORKERS=2"}
    )
    assert (s.base, s.passes, s.target_tps, s.scale) == ("main", 3, GATE_TPS, AB_SCALE)
    assert AbSettings.from_env({"BASE": "main"}).passes == AB_PASSES
    assert s.head_env == {"SHOP_DEBUG_DELAY_MS": "20", "SHOP_WORKERS": "2"}
    assert s.base_env == {}


@pytest.mark.parametrize("raw", ["SHOP_DEBUG_DELAY_MS", "=20", "1X=2", "A-B=1"])
def test_a_bad_env_pair_is_refused(raw):
    with pytest.raises(GateSettingsError, match="AB_HEAD_ENV"):
        parse_env_pairs("AB_HEAD_ENV", raw)


@pytest.mark.parametrize("passes", ["1", "11", "two"])
def test_ab_passes_are_bounded(passes):
    with pytest.raises(GateSettingsError, match="AB_PASSES"):
        AbSettings.from_env({"BASE": "main", "AB_PASSES": passes})


# --- what failed, by name ------------------------------------------------------------------------


def test_a_passing_run_fails_nothing():
    assert failures(SUMMARY, BALANCED, 0, "") == []


def test_each_failed_threshold_is_named():
    summary = failing(
        SUMMARY, "http_req_duration{endpoint:popular}: p(95)<50", "dropped_iterations: count<=0"
    )
    assert failures(summary, BALANCED, 1, "") == [
        "dropped_iterations: count<=0",
        "http_req_duration{endpoint:popular}: p(95)<50",
    ]


def test_an_abort_and_broken_books_are_named():
    summary = {
        **failing(SUMMARY, "http_req_duration{endpoint:orders}: p(95)<200"),
        "aborted": ["http_req_duration{endpoint:orders}: p(95)<200"],
    }
    audit = {
        "passed": False,
        "broken_invariants": {"payment_per_order": 2},
        "reconciliation": {"passed": False, "lost": ["k1"], "double_charged": []},
    }
    assert failures(summary, audit, 1, "") == [
        "http_req_duration{endpoint:orders}: p(95)<200",
        "aborted early: http_req_duration{endpoint:orders}: p(95)<200",
        "audit: payment_per_order (2)",
        "audit: reconciliation (1 lost, 0 double-charged)",
    ]


def test_no_verdict_says_why():
    assert failures(None, None, 2, "the shop at http://x is not ready") == [
        "no verdict: the shop at http://x is not ready"
    ]


def result_of(*steps: Step, error: str = "", exit_code: int | None = None) -> GateResult:
    codes = [s.exit_code for s in steps]
    code = exit_code if exit_code is not None else (2 if error else int(any(codes)))
    settings = {"tool": "k6", "target_tps": 100.0, "scale": 0.15, "budget_s": 300.0}
    return GateResult(code, steps, Path("/tmp/gate-x"), 81.4, settings, error, git_commit="abc1234")


SMOKE = Step("smoke", "k6-smoke-1", 0, (), ("  verdict: PASS",), figures={"requests": 10})


def test_the_verdict_line_names_every_failed_threshold():
    load = Step(
        "load",
        "k6-load-1",
        1,
        ("http_req_duration{endpoint:popular}: p(95)<50", "audit: stock_negative (1)"),
    )
    line = result_of(SMOKE, load).verdict_line()
    assert line == (
        "gate: FAIL (81 s): load: http_req_duration{endpoint:popular}: p(95)<50; "
        "load: audit: stock_negative (1)"
    )


def test_the_verdict_line_of_a_pass_and_of_no_verdict():
    load = Step("load", "k6-load-1", 0, ())
    assert result_of(SMOKE, load).verdict_line().startswith("gate: PASS (81 s): smoke and load")
    none = result_of(SMOKE, error="the gate's budget ran out (120 s left for the runs)")
    assert none.exit_code == 2
    assert none.verdict_line() == (
        "gate: NO VERDICT (81 s): the gate's budget ran out (120 s left for the runs)"
    )


def test_summary_markdown_has_the_verdict_the_runs_and_the_report(tmp_path):
    report = tmp_path / "report.md"
    report.write_text("# shoplab report: k6-load-1\n\n## What ran\n\n- k6 load\n")
    load = Step(
        "load",
        "k6-load-1",
        1,
        ("http_req_duration{endpoint:popular}: p(95)<50",),
        ("  FAIL  http_req_duration{endpoint:popular}: p(95)<50",),
        figures={
            "requests": 5400,
            "achieved_tps": 96.2,
            "hold_tps": 99.8,
            "error_rate": 0.0,
            "orders_p95_ms": 120.4,
            "popular_p95_ms": 118.0,
        },
    )
    result = GateResult(
        1, (SMOKE, load), tmp_path, 80, result_of().settings, report={"md": str(report)}
    )
    md = gate_markdown(result)
    assert md.startswith("# shoplab gate: FAIL\n")
    assert "- `load: http_req_duration{endpoint:popular}: p(95)<50`" in md
    assert "| load | `k6-load-1` | FAIL | 5,400 | 96.2 /s | 99.8 /s | 120.4 ms | 118.0 ms |" in md
    assert "## shoplab report: k6-load-1" in md and "### What ran" in md
    assert "```text\n  FAIL  http_req_duration{endpoint:popular}: p(95)<50\n```" in md


def test_demoted_moves_every_heading_one_level_down():
    assert demoted("# a\ntext # not\n## b") == "## a\ntext # not\n### b"


def test_the_deadline_interrupts_the_body():
    started = time.monotonic()
    with pytest.raises(GateTimeout), deadline(1):
        while time.monotonic() - started < 30:
            time.sleep(0.05)
    assert time.monotonic() - started < 30
    assert issubclass(GateTimeout, KeyboardInterrupt)  # stops what Ctrl-C stops


def test_the_deadline_gives_an_enclosing_alarm_back_what_was_left_of_it():
    """pytest-timeout (or any caller) may have an alarm running: the gate's own deadline must
    not cancel it."""
    import signal

    fired = []
    previous = signal.signal(signal.SIGALRM, lambda *_: fired.append(True))
    try:
        signal.setitimer(signal.ITIMER_REAL, 60)
        with deadline(30):
            assert signal.getitimer(signal.ITIMER_REAL)[0] <= 30  # the inner one runs
        left = signal.getitimer(signal.ITIMER_REAL)[0]
        assert 30 < left <= 60, left  # the outer one, not cancelled (0), not the inner one
        assert fired == []
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# --- the A/B's judgement -------------------------------------------------------------------------

P95 = Metric("p", "p95", "ms", False, 5.0)
RATE = Metric("rate", "rate", "reqps", True)


def test_same_build_twice_is_no_difference_and_says_what_it_could_detect():
    c = compare(P95, [20.0, 22.0, 21.0, 20.5], [21.0, 20.0, 22.5, 21.0])
    assert c.verdict == UNDETECTABLE
    assert c.low < 1 < c.high
    assert 0 < c.detectable < 0.5
    assert c.passes == (4, 4)


def test_the_noise_floor_is_the_spread_of_one_build_against_itself():
    s, df = aa_noise([10.0, 10.0], [20.0, 20.0])
    assert (s, df) == (0.0, 2)
    s, df = aa_noise([10.0, 12.0, 11.0], [30.0, 33.0, 30.0])
    assert df == 4 and 0.05 < s < 0.15  # a few percent, whatever the builds' own levels


def test_a_slower_head_is_a_regression_with_its_interval():
    c = compare(P95, [20.0, 22.0, 21.0, 20.0], [41.0, 43.0, 42.0, 40.0])
    assert c.verdict == REGRESSION
    assert c.ratio == pytest.approx(2.0, rel=0.03)
    assert 1 < c.low < c.ratio < c.high
    assert c.interval().startswith("x2.0")
    # The change it found is larger than what it said it could detect.
    assert c.ratio - 1 > c.detectable


def test_a_faster_head_is_an_improvement_not_a_failure():
    assert compare(P95, [60.0, 64.0, 62.0], [20.0, 21.0, 20.5]).verdict == IMPROVEMENT
    assert compare(RATE, [100.0, 99.0, 100.5], [120.0, 121.0, 119.0]).verdict == IMPROVEMENT


def test_a_disturbed_pass_widens_the_noise_so_the_run_says_less_never_more():
    quiet = compare(P95, [40.0, 42.0, 40.0, 41.0], [48.0, 50.0, 49.0, 48.0])
    disturbed = compare(P95, [40.0, 42.0, 120.0, 41.0], [48.0, 50.0, 49.0, 48.0])
    assert quiet.verdict == REGRESSION
    assert disturbed.verdict == UNDETECTABLE
    assert disturbed.detectable > quiet.detectable


def test_a_few_ms_are_never_news():
    # 3 ms -> 6 ms doubles, clearly, but by less than the 5 ms floor.
    assert compare(P95, [3.0, 3.1, 3.0], [6.0, 6.1, 6.0]).verdict == UNDETECTABLE


def test_a_rate_a_hair_lower_at_a_fixed_offered_rate_is_no_news():
    rate = METRICS[0]
    assert compare(rate, [50.01, 50.0, 50.02], [49.9, 49.91, 49.9]).verdict == UNDETECTABLE


def test_a_lower_rate_is_a_regression_and_a_missing_one_is_not_judged():
    assert compare(RATE, [100.0, 99.5, 100.2], [90.0, 91.0, 90.5]).verdict == REGRESSION
    assert compare(RATE, [100.0, 99.5, 100.2], [99.0, 100.0, 99.8]).verdict == UNDETECTABLE
    assert compare(RATE, [100.0, 99.5], [None, None]).verdict == "n/a"
    assert compare(RATE, [100.0], [99.0]).verdict == "n/a"  # one pass: no A/A noise


def test_a_and_a_flag_nothing_at_the_stated_rate():
    # 400 A/A runs of four metrics with 15 % lognormal noise per pass: the family-wise rate
    # (1 %) bounds how many flag anything; a fixed seed keeps the test's answer fixed.
    import random

    rng = random.Random(29)
    flagged = 0
    for _ in range(400):
        passes = [(b, {m.name: 10 * rng.lognormvariate(0, 0.15) for m in METRICS})
                  for b in order(4)]  # fmt: skip
        flagged += any(c.verdict != UNDETECTABLE for c in compare_all(passes))
    assert flagged <= 8  # 2 %: the 1 % rate with room for chance


def test_the_builds_take_turns_abba():
    assert order(3) == ["base", "head", "head", "base", "base", "head"]


def test_compare_all_splits_the_interleaved_passes_by_build():
    values = {m.name: 10.0 for m in METRICS}
    wobble = {m.name: 10.4 for m in METRICS}
    slower = {**values, "orders_p95_ms": 40.0}
    slower2 = {**wobble, "orders_p95_ms": 41.0}
    passes = [("base", values), ("head", slower), ("head", slower2), ("base", wobble)]
    verdicts = {c.name: c.verdict for c in compare_all(passes)}
    assert verdicts == {
        "rate": UNDETECTABLE,
        "orders_p50_ms": UNDETECTABLE,
        "popular_p50_ms": UNDETECTABLE,
        "orders_p95_ms": REGRESSION,
        "popular_p95_ms": UNDETECTABLE,
        "cpu_ms_per_request": UNDETECTABLE,
    }


def test_pass_values_take_the_hold_rate_and_cpu_per_request():
    summary = {**SUMMARY, "requests": 2000, "achieved_tps": 80.0}
    obs = Observations(started=0, ended=60, hold={"rate": 99.0})
    plan = plan_of(read_load_settings({"SHOP_URL": "http://127.0.0.1:9"}), "k6-load-1", "")
    run = RunResult("k6-load-1", "k6", 0, Verdict(0, []), plan, summary=summary, observations=obs)
    values = ab.pass_values(run, cpu_s=6.0)
    assert values["rate"] == 99.0
    assert values["cpu_ms_per_request"] == pytest.approx(3.0)
    assert values["orders_p95_ms"] == SUMMARY["endpoints"]["POST /api/orders"]["p95_ms"]
    medians = ab.pass_values(run, 6.0, {"orders_p50_ms": 7.5, "popular_p50_ms": 0.6})
    assert (medians["orders_p50_ms"], medians["popular_p50_ms"]) == (7.5, 0.6)
    assert values["orders_p50_ms"] is None  # no Prometheus: not measured
    no_prometheus = ab.pass_values(RunResult("t", "k6", 0, Verdict(0, []), plan, summary=summary),
                                   None)  # fmt: skip
    assert (no_prometheus["rate"], no_prometheus["cpu_ms_per_request"]) == (80.0, None)
    assert (
        no_prometheus["popular_p95_ms"]
        == SUMMARY["endpoints"]["GET /api/products/popular"]["p95_ms"]
    )


def test_ab_markdown_and_line_state_the_bound_first_then_name_the_regression():
    base = {m.name: 10.0 for m in METRICS}
    base2 = {m.name: 10.5 for m in METRICS}
    passes = (
        ab.Pass("base", "t1", 0, base, speed_index=18.0, others_cores=0.1),
        ab.Pass("head", "t2", 0, {**base, "popular_p95_ms": 40.0}),
        ab.Pass("head", "t3", 0, {**base2, "popular_p95_ms": 41.0}),
        ab.Pass("base", "t4", 0, base2),
    )
    comparisons = tuple(compare_all([(p.build, p.values) for p in passes]))
    result = ab.AbResult(1, comparisons, passes, "1111111", "2222222", Path("/tmp/ab-x"), 400,
                         {"base": "HEAD", "passes": 2})  # fmt: skip
    assert result.verdict_line().startswith(
        "ab: REGRESSION (400 s): GET /api/products/popular p95 x3.9"
    )
    assert result.detectable_line().startswith("ab: smallest change this run could detect (99 %")
    md = ab_markdown(result)
    assert md.startswith("# shoplab A/B: REGRESSION\n\n`ab: smallest change")
    assert md.index("smallest change") < md.index("ab: REGRESSION")
    assert "| GET /api/products/popular p95 | 10.2 ms | 40.5 ms | x3.9" in md
    assert md.count("| head | `") == 2
    assert "| 18 | 0.1 |" in md  # the machine beside each pass


def test_no_difference_is_said_at_this_noise():
    values = {m.name: 10.0 for m in METRICS}
    other = {m.name: 11.0 for m in METRICS}
    turns = (("base", values), ("head", other), ("head", values), ("base", other))
    passes = tuple(ab.Pass(b, "t", 0, v) for b, v in turns)
    comparisons = tuple(compare_all([(p.build, p.values) for p in passes]))
    result = ab.AbResult(0, comparisons, passes, "1", "2", Path("/tmp/ab-x"), 10,
                         {"base": "HEAD", "passes": 2})  # fmt: skip
    assert result.verdict_line().startswith("ab: NO DIFFERENCE DETECTABLE AT THIS NOISE (10 s)")
    assert ab_markdown(result).startswith("# shoplab A/B: NO DIFFERENCE DETECTABLE AT THIS NOISE")


# --- the run history ------------------------------------------------------------------------------


def test_the_gate_remembers_the_load_runs_key_figures():
    step = Step("load", "k6-load-1", 1, ("x",), figures={
        "achieved_tps": 49.0, "hold_tps": 50.1, "orders_p95_ms": 30.0, "popular_p95_ms": 4.0,
        "cpu_ms_per_request": 2.5, "requests": 100})  # fmt: skip
    rec = history_record(step, GateSettings.from_env({}), "abc123456789", 18.25)
    assert rec.source == "gate" and rec.commit == "abc123456789" and rec.testid == "k6-load-1"
    assert rec.figures == {"rate": 50.1, "orders_p95_ms": 30.0, "popular_p95_ms": 4.0,
                           "cpu_ms_per_request": 2.5}  # fmt: skip
    assert rec.speed_index == 18.25
    assert rec.settings["target_tps"] == GATE_TPS


# --- the A/B's shops -----------------------------------------------------------------------------


def shop_command(tmp_path: Path) -> list[str]:
    s = read_stack_settings({"LOCAL_STATE_DIR": str(tmp_path)})
    return services.native_command(services.NativeProcess(services.SERVICES["shop"]), s)


def test_extra_env_comes_after_the_rows_own_so_it_wins(tmp_path):
    command = shops.with_env(shop_command(tmp_path), {"SHOP_DEBUG_DELAY_MS": "20"})
    assignments = [part for part in command[1:] if shops._ASSIGNMENT.match(part)]
    assert command[0] == "env"
    assert command[1 : len(assignments) + 1] == assignments  # all before the program
    assert assignments[-1] == "SHOP_DEBUG_DELAY_MS=20"
    assert shops.with_env(["gunicorn"], {"A": "1"}) == ["env", "A=1", "gunicorn"]
    assert shops.with_env(["gunicorn"], {}) == ["gunicorn"]


def test_the_base_shop_runs_its_own_files_and_the_shared_venv(tmp_path):
    command = shop_command(tmp_path)
    # The module resolves in the tree the shop starts in (cwd and PYTHONPATH: start_shop).
    assert command[-5:-1] == [sys.executable, "-m", "shop.serve", "--bind"]
    moved = shops.in_tree([*command, str(REPO / "shop" / "x.conf")], Path("/tmp/b"))
    assert moved[-1] == "/tmp/b/shop/x.conf"
    assert not any(part.startswith(str(REPO / "shop")) for part in moved)


def test_a_base_from_before_shop_serve_is_refused_in_one_line(tmp_path):
    (tmp_path / "shop").mkdir()
    with pytest.raises(shops.ShopStartError, match=r"predates shop/serve\.py"):
        shops.require_server(tmp_path, "base")
    (tmp_path / "shop" / "serve.py").write_text("")
    shops.require_server(tmp_path, "base")


def test_a_base_that_names_no_commit_is_refused():
    with pytest.raises(worktree.WorktreeError, match="BASE='no-such-ref-x' is not a commit"):
        worktree.resolve("no-such-ref-x")
    assert len(worktree.resolve("HEAD")) == 40


# --- the CLI -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "env", "line"),
    [
        (["bogus"], {}, "gate: usage: python -m lab.gate [ab]"),
        ([], {"TARGET_TPS": "x"}, "gate: TARGET_TPS='x' is not a number"),
        (["ab"], {}, "ab: BASE is not set"),
        (["ab"], {"BASE": "no-such-ref-x"}, "ab: BASE='no-such-ref-x' is not a commit"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, env, line, capsys):
    assert cli.main(argv, env) == 2
    err = capsys.readouterr().err
    assert err.startswith(line)
    assert err.count("\n") == 1


# --- the load runner's knob the A/B needs --------------------------------------------------------

GIVEN_SHOP = {"SHOP_URL": "http://127.0.0.1:9/", "LOCUST_METRICS_PORT": "20000", "SCENARIO": "load"}


@pytest.mark.parametrize(("raw", "aborts"), [("", True), ("0", False), ("1", True)])
def test_abort_on_fail_overrides_the_scenarios(raw, aborts):
    s = read_load_settings({**GIVEN_SHOP, "ABORT_ON_FAIL": raw})
    assert plan_of(s, "t", "/tmp").abort_on_fail is aborts
    smoke = read_load_settings({**GIVEN_SHOP, "SCENARIO": "smoke", "ABORT_ON_FAIL": raw})
    assert plan_of(smoke, "t", "/tmp").abort_on_fail is (raw == "1")


def test_a_bad_abort_on_fail_is_one_line():
    with pytest.raises(LoadSettingsError, match=r"^ABORT_ON_FAIL='maybe' is not a flag \("):
        read_load_settings(GIVEN_SHOP, ["--abort-on-fail", "maybe"])


def test_the_smallest_detectable_change_is_never_below_what_the_metric_would_name():
    rate = compare(METRICS[0], [50.0, 50.0, 50.01], [50.0, 50.01, 50.0])
    assert rate.detectable == pytest.approx(0.02)  # no noise, but 2 % is the rate's floor
    p50 = compare(METRICS[1], [4.0, 4.01, 4.0], [4.0, 4.0, 4.01])
    assert p50.detectable == pytest.approx(2.0 / 4.003, rel=1e-3)  # 2 ms of a 4 ms median

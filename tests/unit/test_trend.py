"""The run history and its change points: Apache Otava finds a planted 15 % step at its commit
and nothing else; flat history is "no change"; the file appends and reads back line by line;
`make trend`'s page and its bad input."""

from __future__ import annotations

import json
import random

import pytest

from lab.report import trend as trend_cli
from lab.trend import history
from lab.trend.changes import MIN_RUNS, detect
from lab.trend.settings import TrendSettings

STEP_AT = 10


def gate_history(step: float = 0.0, runs: int = 20, noise: float = 0.02, seed: int = 29):
    """`runs` gate records whose orders p95 moves by `step` from run STEP_AT on (commit c10),
    every figure with `noise` (a share) of run-to-run noise."""
    rng = random.Random(seed)
    records = []
    for i in range(runs):
        level = 1 + step if i >= STEP_AT else 1
        figures = {
            "rate": 50 * rng.gauss(1, noise),
            "orders_p95_ms": 20 * level * rng.gauss(1, noise),
            "popular_p95_ms": 4 * rng.gauss(1, noise),
            "cpu_ms_per_request": 3 * rng.gauss(1, noise),
        }
        records.append(history.record("gate", figures, commit=f"c{i:02d}", timestamp=1e9 + 60 * i,
                                      speed_index=18.0))  # fmt: skip
    return history.History(tuple(records))


@pytest.mark.parametrize("seed", [29, 30, 31])
def test_a_planted_15_percent_step_is_found_at_its_commit_and_nowhere_else(seed):
    trend = detect(gate_history(step=0.15, seed=seed))
    assert [(c.figure, c.commit, c.previous_commit) for c in trend.changes] == [
        ("orders_p95_ms", "c10", "c09")
    ]
    change = trend.changes[0]
    assert change.kind == "regression"
    assert change.change == pytest.approx(0.15, abs=0.03)
    assert "regression of +1" in trend.verdict() and "at commit c10" in trend.verdict()


def test_a_faster_build_is_an_improvement():
    trend = detect(gate_history(step=-0.15))
    assert [(c.commit, c.kind) for c in trend.changes] == [("c10", "improvement")]


def test_a_flat_history_is_no_change():
    trend = detect(gate_history(step=0.0))
    assert trend.changes == ()
    assert trend.verdict().startswith("no change (20 gate runs")


def test_a_short_series_is_drawn_but_not_judged():
    trend = detect(gate_history(step=0.5, runs=MIN_RUNS - 1))
    assert trend.changes == ()
    assert "gate orders_p95_ms" in trend.too_short
    assert len(trend.lines) == 4


def test_sources_are_judged_apart():
    h = gate_history(step=0.0)
    capacity = [history.record("capacity", {"capacity_tps": 300.0 * (0.8 if i >= 6 else 1)},
                               commit=f"n{i}", timestamp=2e9 + i) for i in range(12)]  # fmt: skip
    trend = detect(history.History(h.records + tuple(capacity)))
    assert [(c.source, c.figure, c.commit) for c in trend.changes] == [
        ("capacity", "capacity_tps", "n6")
    ]
    assert trend.runs == {"capacity": 12, "gate": 20}


def test_the_history_appends_one_line_per_run_and_reads_back(tmp_path):
    path = tmp_path / "sub" / "history.jsonl"
    for rec in gate_history(runs=3).records:
        history.append(path, rec)
    with open(path, "a") as out:
        out.write("not json\n\n")
    back = history.read(path)
    assert len(back.records) == 3 and back.skipped == 1
    assert back.records[0] == gate_history(runs=3).records[0]
    assert json.loads(path.read_text().splitlines()[0])["commit"] == "c00"
    assert history.read(tmp_path / "none.jsonl").records == ()


def test_an_unknown_figure_is_refused():
    with pytest.raises(ValueError, match="not a history figure: p99"):
        history.record("gate", {"p99": 1.0}, commit=None)


def test_trend_knobs(tmp_path):
    s = TrendSettings.from_env({"RESULTS_ROOT": str(tmp_path)})
    assert s.history == tmp_path / "history.jsonl"
    s = TrendSettings.from_env({"HISTORY_FILE": "/tmp/h.jsonl", "TREND_MIN_CHANGE": "0.1"})
    assert (s.history.as_posix(), s.min_change) == ("/tmp/h.jsonl", 0.1)


def test_make_trend_draws_the_figures_and_names_the_change(tmp_path, capsys):
    path = tmp_path / "history.jsonl"
    for rec in gate_history(step=0.15).records:
        history.append(path, rec)
    assert trend_cli.main([], {"RESULTS_ROOT": str(tmp_path)}) == 0
    out = capsys.readouterr().out
    assert "trend: gate POST /api/orders p95: regression of +1" in out
    page = (tmp_path / "trend.html").read_text()
    assert page.count('data-graph="1"') == 4  # rate, two p95s, CPU per request
    assert "c10 +1" in page  # the change point's mark names its commit
    saved = json.loads((tmp_path / "trend.json").read_text())
    assert saved["changes"][0]["commit"] == "c10"


@pytest.mark.parametrize(
    ("argv", "env", "line"),
    [
        (["x"], {}, "trend: usage:"),
        ([], {"TREND_PVALUE": "nope"}, "trend: TREND_PVALUE='nope' is not a number"),
        ([], {"HISTORY_FILE": "/nonexistent/h.jsonl"}, "trend: no history at /nonexistent/h.jsonl"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, env, line, capsys):
    assert trend_cli.main(argv, env) == 2
    err = capsys.readouterr().err
    assert err.startswith(line) and err.count("\n") == 1


def test_a_jump_on_the_last_run_alone_is_tentative_not_a_change():
    h = gate_history(step=0.0)
    last = h.records[-1]
    tripled = {**last.figures, "popular_p95_ms": 3 * last.figures["popular_p95_ms"]}
    jumped = history.Record(last.timestamp, "c19", "gate", tripled)
    trend = detect(history.History((*h.records[:-1], jumped)))
    assert [(c.figure, c.commit, c.tentative) for c in trend.changes] == [
        ("popular_p95_ms", "c19", True)
    ]
    assert trend.verdict().startswith("no change (20 gate runs")
    assert "tentative, on its last run alone: gate GET /api/products/popular p95" in trend.verdict()


def test_a_change_between_runs_of_one_commit_says_the_code_did_not_change():
    h = gate_history(step=0.15)
    same = tuple(history.Record(r.timestamp, "abc", r.source, r.figures) for r in h.records)
    [change] = detect(history.History(same)).changes
    assert "the same commit as the run before: the code did not change there" in change.sentence()

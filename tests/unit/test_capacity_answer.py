"""The answer of one `make capacity`: searches judged together, the headline search, the
speed index beside the answer, capacity.json (and its copy beside the headline's run), the
history line, and the CLI's bad input as one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lab.capacity import __main__ as cli
from lab.capacity import scaling, speed
from lab.capacity.answer import CapacityAnswer, CapacityResult, remember, write_answer
from lab.capacity.bottleneck import Limit
from lab.capacity.runs import judge_runs
from lab.capacity.search import Probe, SearchResult
from lab.trend.history import read


def search(capacity: float | None, index: float, run: int, folder: Path) -> CapacityResult:
    probes = [Probe(rate=capacity or 100.0, held=capacity is not None, testid=f"k6-probe-{run}"),
              Probe(rate=(capacity or 100.0) * 1.5, held=False, broken=("p95",))]  # fmt: skip
    result = SearchResult(probes, capacity, (capacity or 100.0) * 1.5, True, "converged")
    samples = [speed.SpeedSample(0.0, index, index), speed.SpeedSample(1.0, index * 1.1, index)]
    return CapacityResult(folder.name, result, [], folder, {}, samples, run)


def answer(folder: Path, capacities, indexes) -> CapacityAnswer:
    searches = [
        search(c, i, n, folder) for n, (c, i) in enumerate(zip(capacities, indexes, strict=True), 1)
    ]
    a = CapacityAnswer(folder.name, searches, folder, {"runs": len(searches)}, 200.0)
    a.runs[None] = judge_runs(capacities, [s.speed_index for s in searches])
    a.scalability = scaling.model([], a.runs[None].median_tps, None, 200.0)
    return a


def test_one_search_answers_with_the_machine_speed_beside_it(tmp_path):
    a = answer(tmp_path, [300.0], [18.0])
    first = a.answer().splitlines()[0]
    assert first.startswith("max sustainable rate 300/s, broke at 450/s")
    assert "machine speed index 18.90 (moved 10 % over 2 samples)" in first


def test_three_searches_answer_with_the_median_search_as_headline(tmp_path):
    a = answer(tmp_path, [300.0, 280.0, 310.0], [18.0, 17.0, 18.5])
    assert a.headline.search.capacity == 300.0
    assert a.answer().splitlines()[0].startswith("median 300/s of 3 searches (280 to 310/s")
    saved = a.as_dict()
    assert saved["capacity_tps"] == 300.0
    assert len(saved["searches"]) == 3 and saved["runs"]["None"]["within"] is True
    assert saved["speed_workload"] == speed.WORKLOAD


def test_capacity_json_is_written_beside_the_headlines_run_too(tmp_path):
    folder = tmp_path / "capacity-k6-x"
    folder.mkdir()
    (tmp_path / "k6-probe-1").mkdir()
    a = answer(folder, [300.0], [18.0])
    write_answer(a)
    assert json.loads((folder / "capacity.json").read_text())["capacity_tps"] == 300.0
    assert (tmp_path / "k6-probe-1" / "capacity.json").read_text() == (
        folder / "capacity.json"
    ).read_text()


def test_the_median_answer_joins_the_run_history(tmp_path):
    a = answer(tmp_path, [300.0, 280.0, 310.0], [18.0, 17.0, 18.5])
    remember(a, tmp_path / "history.jsonl")
    [rec] = read(tmp_path / "history.jsonl").records
    assert rec.source == "capacity" and rec.figures == {"capacity_tps": 300.0}
    assert rec.speed_index == pytest.approx(18.9)  # the median of the searches' medians


@pytest.mark.parametrize(
    ("argv", "env", "line"),
    [
        (["--runs", "0"], {}, "capacity: RUNS='0' is out of range"),
        (["--budget"], {}, "capacity: argument --budget: expected one argument"),
        (["--budget=abc"], {}, "capacity: BUDGET='abc' is not a number"),
        (["--bogus", "1"], {}, "capacity: unrecognized arguments: --bogus 1"),
        ([], {"BUDGET": "soon"}, "capacity: BUDGET='soon' is not a number"),
        ([], {"LOCAL_SHOP_REPLICAS": "1,two"}, "capacity: LOCAL_SHOP_REPLICAS='1,two'"),
        (["--scale", "-1"], {}, "capacity: SCALE='-1'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, env, line, capsys):
    assert cli.main(argv, env) == 2
    err = capsys.readouterr().err
    assert err.startswith(line) and err.count("\n") == 1


def test_the_spread_of_several_searches_comes_with_the_median_searchs_limit(tmp_path):
    a = answer(tmp_path, [300.0, 280.0, 310.0], [18.0, 17.0, 18.5])
    a.searches[0].limits = [Limit("machine_cpu", "the machine's CPU", 1.2, "99 % busy")]
    assert a.answer().splitlines()[0].endswith("; the limit: the machine's CPU: 99 % busy")

"""`make gate` as its library runs it, on its own native stack: it FAILS naming the threshold when
the shop is slowed on purpose (the debug delay), writes its results and its deck, and leaves
nothing it started running. That it passes on the shop as it is, CI proves every run: `.ci/run`
runs `make gate` after `make test`.

Short runs to keep the suite's cost small: 20 TPS, SCALE 0.06 (a 4 s ramp, an 18 s hold), no
screenshot."""

from __future__ import annotations

import json
import os
from pathlib import Path

import psutil
import pytest

from lab.gate import GateResult, GateSettings, run
from lab.trend.history import read

pytestmark = pytest.mark.integration

KNOBS = {"TARGET_TPS": "20", "SCALE": "0.06", "GATE_SCREENSHOT": "0", "GATE_BUDGET": "240"}
POPULAR_P95 = "http_req_duration{endpoint:popular}: p(95)<50"


def gate(results: Path, **env: str) -> GateResult:
    settings = GateSettings.from_env({**os.environ, **KNOBS, "RESULTS_ROOT": str(results), **env})
    before = children()
    result = run(settings, lambda line: print(f"gate: {line}"))
    print(result.verdict_line())
    # The stack and the load tools went down with the gate (the session's servers stay).
    assert children() - before == set()
    return result


def children() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


def written(result: GateResult) -> tuple[dict, str]:
    return (
        json.loads((result.results / "gate.json").read_text()),
        (result.results / "summary.md").read_text(),
    )


def test_gate_fails_a_slowed_shop_and_names_the_threshold(harness_root):
    # 120 ms before every API request: orders stay under their 200 ms p95, popular (50 ms) not.
    result = gate(harness_root / "gate-slow", LOCAL_SHOP_DEBUG_DELAY_MS="120")
    assert result.exit_code == 1, result.verdict_line()
    assert [s.name for s in result.steps] == ["smoke", "load"]
    assert result.steps[0].exit_code == 0  # the smoke's limits are 1 s
    assert f"load: {POPULAR_P95}" in result.failed
    assert "load: http_req_duration{endpoint:orders}: p(95)<200" not in result.failed
    assert result.verdict_line().startswith("gate: FAIL (")
    assert POPULAR_P95 in result.verdict_line()
    data, summary = written(result)
    assert data["passed"] is False and f"load: {POPULAR_P95}" in data["failed"]
    assert f"- `load: {POPULAR_P95}`" in summary
    load = result.steps[-1]
    assert load.figures["requests"] > 0
    assert Path(result.report["md"]).exists() and Path(result.report["html"]).exists()
    assert f"## shoplab report: {load.testid}" in summary  # the deck's Markdown, in the summary
    # The load run's key figures joined the run history, and its deck draws it.
    [rec] = read(harness_root / "gate-slow" / "history.jsonl").records
    assert (rec.source, rec.testid, rec.commit) == ("gate", load.testid, result.git_commit)
    assert rec.figures["popular_p95_ms"] > 50 and rec.speed_index > 0
    assert data["trend"].startswith("no change (1 gate runs")
    assert "Recent history and change points" in Path(result.report["html"]).read_text()

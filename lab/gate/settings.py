"""The knobs of `make gate` and `make ab`, parsed and validated once, with `knobs`:
`GateSettings.from_env`, `AbSettings.from_env`. The load knobs themselves (TARGET_TPS, SCALE,
TOOL, ...) are the load runner's: they are checked by `LoadSettings.from_env`, so a bad one
reads the same everywhere. Pure: the caller passes the mapping."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import knobs
from lab.load.settings import LoadSettings, LoadSettingsError, read_load_settings
from lab.results import results_root
from lab.trend.settings import TrendSettings

# The gate's short load: the `load` scenario at SCALE 0.15 ramps 9 s, holds 45 s at TARGET_TPS
# and ramps down 2 s. TARGET_TPS defaults to a quarter of the mission's 200: a shared 2-core
# runner holds it beside the stack and k6, and the thresholds are latencies, which a slower
# build breaks at any rate (the mission's rate: `TARGET_TPS=200 make gate` on a quiet box).
GATE_TPS = 50
GATE_SCALE = 0.15
GATE_BUDGET_S = 300
# The A/B's passes: more and shorter than the gate's run (SCALE 0.1: a 30 s hold), since its
# noise floor is read from how the passes of one build differ: four each give six degrees of
# freedom to the A/A noise.
AB_PASSES = 4
AB_SCALE = 0.1
# Knobs whose value would point the gate's runs at somebody else's shop or Prometheus: the gate
# and the A/B always measure the stack they start themselves.
FOREIGN = ("SHOP_URL", "PROMETHEUS_URL", "SHOP_DATABASE_URL", "RESULTS_ROOT")


class GateSettingsError(ValueError):
    """A knob with a bad value; the message is one line naming the variable."""


def _load_knobs(env: Mapping[str, str], scale: float) -> dict[str, str]:
    """The environment the runs inherit: the caller's, less what points elsewhere, with the
    gate's defaults for the rate and the scale."""
    own = {k: v for k, v in env.items() if k not in FOREIGN}
    return {
        **own,
        "TARGET_TPS": knobs.text(env, "TARGET_TPS", str(GATE_TPS)),
        "SCALE": knobs.text(env, "SCALE", str(scale)),
    }


def _checked(knobs_: Mapping[str, str]) -> LoadSettings:
    try:
        return read_load_settings({**knobs_, "SCENARIO": "load"})
    except LoadSettingsError as exc:
        raise GateSettingsError(str(exc)) from None


@dataclass(frozen=True)
class GateSettings:
    target_tps: float
    scale: float
    tool: str
    budget_s: float  # the whole gate, stack up to stack down
    screenshot: bool  # the deck's report.png (headless Chromium) besides .html and .md
    results_root: Path  # results/gate-<stamp>/ goes here
    trend: TrendSettings  # the run history the gate appends to (HISTORY_FILE), its detection
    environ: Mapping[str, str]  # what the stack and the load runs inherit

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> GateSettings:
        load_knobs = _load_knobs(env, GATE_SCALE)
        load = _checked(load_knobs)
        results = results_root(env)
        try:
            budget = knobs.number(env, "GATE_BUDGET", GATE_BUDGET_S, lo=60, hi=7200)
            screenshot = knobs.flag(env, "GATE_SCREENSHOT", True)
            trend = TrendSettings.from_env(env)
        except knobs.KnobError as exc:
            raise GateSettingsError(str(exc)) from None
        return cls(load.target_tps, load.scale, load.tool, budget, screenshot, results, trend,
                   load_knobs)  # fmt: skip

    def as_dict(self) -> dict:
        return {
            "target_tps": self.target_tps,
            "scale": self.scale,
            "tool": self.tool,
            "budget_s": self.budget_s,
        }


def parse_env_pairs(name: str, raw: str) -> dict[str, str]:
    """`K=V K2=V2` (AB_HEAD_ENV) as a mapping; a word without `=` or a bad name is refused."""
    pairs = {}
    for word in raw.split():
        key, sep, value = word.partition("=")
        if not sep or not key.replace("_", "").isalnum() or key[0].isdigit():
            raise GateSettingsError(f"{name}: {word!r} is not NAME=value")
        pairs[key] = value
    return pairs


@dataclass(frozen=True)
class AbSettings:
    base: str  # a git ref: the build the working tree is compared with
    passes: int  # load runs per build, in ABBA order: base, head, head, base, ...
    head_env: Mapping[str, str]  # extra environment for the head's shop only (AB_HEAD_ENV)
    base_env: Mapping[str, str]  # and for the base's (AB_BASE_ENV)
    target_tps: float
    scale: float
    tool: str
    results_root: Path
    environ: Mapping[str, str]

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AbSettings:
        base = knobs.text(env, "BASE")
        if not base:
            raise GateSettingsError("BASE is not set: the git ref to compare with (BASE=main)")
        load_knobs = _load_knobs(env, AB_SCALE)
        load = _checked(load_knobs)
        try:
            passes = knobs.whole(env, "AB_PASSES", AB_PASSES, lo=2, hi=10)
        except knobs.KnobError as exc:
            raise GateSettingsError(str(exc)) from None
        return cls(
            base=base,
            passes=passes,
            head_env=parse_env_pairs("AB_HEAD_ENV", knobs.text(env, "AB_HEAD_ENV")),
            base_env=parse_env_pairs("AB_BASE_ENV", knobs.text(env, "AB_BASE_ENV")),
            target_tps=load.target_tps,
            scale=load.scale,
            tool=load.tool,
            results_root=results_root(env),
            environ=load_knobs,
        )

    def as_dict(self) -> dict:
        return {
            "base": self.base,
            "passes": self.passes,
            "head_env": dict(self.head_env),
            "base_env": dict(self.base_env),
            "target_tps": self.target_tps,
            "scale": self.scale,
            "tool": self.tool,
        }

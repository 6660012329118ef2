"""The knobs of `make gate` and `make ab`, parsed and validated once: `GateSettings.from_env`,
`AbSettings.from_env`. The load knobs themselves (TARGET_TPS, SCALE, TOOL, ...) are the load
runner's: they are checked by `LoadSettings.from_env`, so a bad one reads the same everywhere."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from lab.load.settings import REPO, LoadSettings, LoadSettingsError, read_load_settings

# The gate's short load: the `load` scenario at SCALE 0.15 ramps 9 s, holds 45 s at TARGET_TPS
# and ramps down 2 s. TARGET_TPS defaults to a quarter of the mission's 200: a shared 2-core
# runner holds it beside the stack and k6, and the thresholds are latencies, which a slower
# build breaks at any rate (the mission's rate: `TARGET_TPS=200 make gate` on a quiet box).
GATE_TPS = 50
GATE_SCALE = 0.15
GATE_BUDGET_S = 300
AB_PASSES = 2
# Knobs whose value would point the gate's runs at somebody else's shop or Prometheus: the gate
# and the A/B always measure the stack they start themselves.
FOREIGN = ("SHOP_URL", "PROMETHEUS_URL", "SHOP_DATABASE_URL", "RESULTS_ROOT")


class GateSettingsError(ValueError):
    """A knob with a bad value; the message is one line naming the variable."""


def _text(env: Mapping[str, str], name: str, default: str) -> str:
    raw = env.get(name, "")
    return raw if raw != "" else default


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = _text(env, name, str(default))
    try:
        value = float(raw)
    except ValueError:
        raise GateSettingsError(f"{name}={raw!r} is not a number of seconds") from None
    if not math.isfinite(value) or not 60 <= value <= 7200:
        raise GateSettingsError(f"{name}={raw!r} must be between 60 and 7200 seconds")
    return value


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = _text(env, name, "1" if default else "0")
    if raw not in ("0", "1"):
        raise GateSettingsError(f"{name}={raw!r} is not 0 or 1")
    return raw == "1"


def _whole(env: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = _text(env, name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise GateSettingsError(f"{name}={raw!r} is not a whole number") from None
    if not lo <= value <= hi:
        raise GateSettingsError(f"{name}={raw!r} must be between {lo} and {hi}")
    return value


def _load_knobs(env: Mapping[str, str]) -> dict[str, str]:
    """The environment the runs inherit: the caller's, less what points elsewhere, with the
    gate's defaults for the rate and the scale."""
    own = {k: v for k, v in env.items() if k not in FOREIGN}
    return {
        **own,
        "TARGET_TPS": _text(env, "TARGET_TPS", str(GATE_TPS)),
        "SCALE": _text(env, "SCALE", str(GATE_SCALE)),
    }


def _checked(knobs: Mapping[str, str]) -> LoadSettings:
    try:
        return read_load_settings({**knobs, "SCENARIO": "load"})
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
    environ: Mapping[str, str]  # what the stack and the load runs inherit

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> GateSettings:
        knobs = _load_knobs(env)
        load = _checked(knobs)
        return cls(
            target_tps=load.target_tps,
            scale=load.scale,
            tool=load.tool,
            budget_s=_seconds(env, "GATE_BUDGET", GATE_BUDGET_S),
            screenshot=_flag(env, "GATE_SCREENSHOT", True),
            results_root=Path(_text(env, "RESULTS_ROOT", str(REPO / "results"))),
            environ=knobs,
        )

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
    passes: int  # load runs per build, interleaved base, head, base, head, ...
    head_env: Mapping[str, str]  # extra environment for the head's shop only (AB_HEAD_ENV)
    base_env: Mapping[str, str]  # and for the base's (AB_BASE_ENV)
    target_tps: float
    scale: float
    tool: str
    results_root: Path
    environ: Mapping[str, str]

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AbSettings:
        base = _text(env, "BASE", "")
        if not base:
            raise GateSettingsError("BASE is not set: the git ref to compare with (BASE=main)")
        knobs = _load_knobs(env)
        load = _checked(knobs)
        return cls(
            base=base,
            passes=_whole(env, "AB_PASSES", AB_PASSES, 2, 10),
            head_env=parse_env_pairs("AB_HEAD_ENV", env.get("AB_HEAD_ENV", "")),
            base_env=parse_env_pairs("AB_BASE_ENV", env.get("AB_BASE_ENV", "")),
            target_tps=load.target_tps,
            scale=load.scale,
            tool=load.tool,
            results_root=Path(_text(env, "RESULTS_ROOT", str(REPO / "results"))),
            environ=knobs,
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

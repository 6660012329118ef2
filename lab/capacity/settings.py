"""The knobs of `make capacity`, parsed once: `CapacitySettings.from_env(mapping)`.

BUDGET (seconds per search), RUNS (searches, interleaved with the machine speed index), and
LOCAL_SHOP_REPLICAS as a list (`1,2,3`: one search set per replica count, the native stack
restarted with each). The load knobs (TOOL, TARGET_TPS, SCALE, ...) are the load runner's,
checked by `LoadSettings.from_env` with the first replica count in place of the list.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import knobs
from lab.load.scenarios import load_scenarios
from lab.load.settings import LoadSettings, LoadSettingsError, resolve_target
from lab.trend.settings import history_file
from stack.settings import DEFAULTS_FILE, MAX_REPLICAS, read_env_file
from targets import Target, TargetError

BUDGET_S = 600.0
MAX_RUNS = 9


class CapacitySettingsError(ValueError):
    """A bad knob; the message is one line naming it."""


def replica_counts(env: Mapping[str, str]) -> tuple[int, ...]:
    """LOCAL_SHOP_REPLICAS as a list of distinct counts, in the order given (`2` or `1,2,3`)."""
    raw = knobs.text(env, "LOCAL_SHOP_REPLICAS")
    if not raw:
        return ()
    counts: list[int] = []
    for part in raw.split(","):
        try:
            if not part.strip():
                raise knobs.KnobError("an empty count")
            count = knobs.whole({"n": part}, "n", 0, lo=1, hi=MAX_REPLICAS)
        except knobs.KnobError:
            raise CapacitySettingsError(
                f"LOCAL_SHOP_REPLICAS={raw!r} is not a whole number or a list like 1,2,3 "
                f"(each from 1 to {MAX_REPLICAS})"
            ) from None
        if count in counts:
            raise CapacitySettingsError(f"LOCAL_SHOP_REPLICAS={raw!r} names {count} twice")
        counts.append(count)
    return tuple(counts)


@dataclass(frozen=True)
class CapacitySettings:
    load: LoadSettings  # TOOL, STRATEGY, TARGET_TPS (the first rate), SCALE, HOT_USERS ...
    budget_s: float = BUDGET_S  # per search
    runs: int = 1
    # Replica counts to sweep, the native stack restarted with each; () for the stack as it runs.
    replicas: tuple[int, ...] = ()
    history: Path | None = None  # the run history a search without a sweep appends its answer to

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str],
        scenarios: Mapping[str, dict],
        stack_defaults: Mapping[str, str],
        target: Target,
    ) -> CapacitySettings:
        """The knobs of `env`; `scenarios`, `stack_defaults` and `target` as
        `LoadSettings.from_env` takes them (read by the caller: `read_capacity_settings`)."""
        try:
            budget = knobs.number(env, "BUDGET", BUDGET_S, positive=True, hi=24 * 3600)
            runs = knobs.whole(env, "RUNS", 1, lo=1, hi=MAX_RUNS)
        except knobs.KnobError as exc:
            raise CapacitySettingsError(str(exc)) from None
        counts = replica_counts(env)
        first = {"LOCAL_SHOP_REPLICAS": str(counts[0])} if counts else {}
        try:
            load = LoadSettings.from_env({**env, **first}, scenarios, stack_defaults, target)
        except LoadSettingsError as exc:
            raise CapacitySettingsError(str(exc)) from None
        if len(counts) > 1 and not load.native:
            raise CapacitySettingsError(
                "LOCAL_SHOP_REPLICAS with several counts needs the native stack: unset SHOP_URL"
            )
        # One count is the stack as it runs; several are a sweep.
        sweep = counts if len(counts) > 1 else ()
        return cls(load, budget, runs, sweep, history_file(env, load.results_root))

    def as_dict(self) -> dict:
        load = self.load
        return {
            "tool": load.tool,
            "strategy": load.strategy,
            "scale": load.scale,
            "hot_users": load.hot_users,
            "budget_s": self.budget_s,
            "runs": self.runs,
            "replicas": list(self.replicas),
            "start_tps": load.target_tps,
        }


def read_capacity_settings(env: Mapping[str, str]) -> CapacitySettings:
    """The caller's side of from_env: the scenarios file, the stack's defaults and the target's
    file read here."""
    defaults = read_env_file(DEFAULTS_FILE)
    try:
        target = resolve_target(env, defaults)
    except TargetError as exc:
        raise CapacitySettingsError(str(exc)) from None
    return CapacitySettings.from_env(env, load_scenarios(), defaults, target)

"""`make capacity`: the search over probes, the limiting resource, capacity.json and the answer."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from lab.capacity.bottleneck import Limit, rank_limits
from lab.capacity.probe import run_probe
from lab.capacity.search import Probe, SearchPlan, SearchResult, find_capacity
from lab.load.scenarios import load_scenarios, scaled_seconds
from lab.load.settings import LoadSettings

# Per probe besides its stages: k6 set-up and id discovery, the last remote write, the reads,
# the audit, and the pause before the next probe.
PROBE_OVERHEAD_S = 20
COOLDOWN_S = 3
COOLDOWN_BROKEN_S = 15


@dataclass(frozen=True)
class CapacitySettings:
    load: LoadSettings  # TOOL, STRATEGY, TARGET_TPS (the first rate), SCALE, HOT_USERS ...
    budget_s: float = 600.0

    @property
    def probe_s(self) -> float:
        stages = load_scenarios()["probe"]["stages"]
        return sum(scaled_seconds(s["seconds"], self.load.scale) for s in stages) + PROBE_OVERHEAD_S


@dataclass
class CapacityResult:
    testid: str
    search: SearchResult
    limits: list[Limit]  # ranked, at the first break above the capacity
    results: Path
    settings: dict

    @property
    def limit(self) -> Limit | None:
        saturated = [limit for limit in self.limits if limit.saturated]
        return saturated[0] if saturated else (self.limits[0] if self.limits else None)

    def answer(self) -> str:
        s = self.search
        if s.stopped == "no_verdict":
            return f"no verdict: {s.probes[-1].broken[0].removeprefix('no verdict: ')}"
        if s.stopped == "generator":
            last = s.probes[-1]
            return (
                f"the load generator saturated at {last.rate:g}/s before the shop did "
                f"({last.broken[-1]}); the shop held {s.capacity or 0:g}/s: no shop capacity "
                "can be named past that (run the tool elsewhere or with PROCESSES=)"
            )
        if s.capacity is None:
            lowest = min((p.rate for p in s.probes), default=0)
            return f"no rate held the SLO (lowest tried {lowest:g}/s)"
        tail = "" if s.confirmed else " (not confirmed: the budget ran out or it wavered)"
        if s.stopped == "unstable":
            tail = " (unstable above it: a higher rate held once, then broke on confirmation)"
        bracket = f", broke at {s.ceiling:g}/s" if s.ceiling else " (no break found)"
        why = ""
        if self.limit is not None and s.ceiling:
            what = "the limit" if self.limit.saturated else "nothing saturated; nearest"
            why = f"; {what}: {self.limit.title}: {self.limit.evidence}"
        return f"max sustainable rate {s.capacity:g}/s{tail}{bracket}{why}{self.disturbance()}"

    def disturbance(self) -> str:
        """Said when probes broke beside busy neighbours: the figure may not repeat."""
        seen = [p.evidence.get("neighbour_cpu_cores") or 0.0 for p in self.search.disturbed]
        if not seen:
            return ""
        return (f"; {len(seen)} of {len(self.search.probes)} probes broke while other processes "
                f"used up to {max(seen):.2f} cores: on a quieter machine the figure may be "
                "higher")  # fmt: skip

    def as_dict(self) -> dict:
        return {
            "testid": self.testid,
            "capacity_tps": self.search.capacity,
            "ceiling_tps": self.search.ceiling,
            "confirmed": self.search.confirmed,
            "stopped": self.search.stopped,
            "answer": self.answer(),
            "limit": asdict(self.limit) if self.limit else None,
            "limits": [asdict(limit) for limit in self.limits],
            "probes": [asdict(p) for p in self.search.probes],
            "settings": self.settings,
        }


def probe_row(p: Probe) -> str:
    e = p.evidence
    state = "held" if p.held else "BROKE: " + "; ".join(p.broken)
    return (f"{p.phase:8s} {p.rate:8.1f}/s  achieved {_f(e.get('achieved_tps'), '/s')}  "
            f"orders p95 {_f(e.get('orders_p95_ms'), ' ms')}  popular p95 "
            f"{_f(e.get('popular_p95_ms'), ' ms')}  shop CPU {_f(e.get('shop_cpu_cores'), '')}  "
            f"others {_f(e.get('neighbour_cpu_cores'), '')}  {state}")  # fmt: skip


def _f(v, unit: str) -> str:
    return "n/a" if v is None else f"{v:.1f}{unit}"


def find(settings: CapacitySettings, say: Callable[[str], None] = lambda _: None) -> CapacityResult:
    load = settings.load
    testid = f"capacity-{load.tool}-{time.strftime('%Y%m%d-%H%M%S')}"
    results = load.results_root / testid
    results.mkdir(parents=True, exist_ok=True)
    plan = SearchPlan(start=load.target_tps, budget_s=settings.budget_s, probe_s=settings.probe_s)
    say(f"{testid}: {load.tool}, strategy {load.strategy or 'as running'}, first rate "
        f"{plan.start:g}/s, x{plan.factor:g} until a break, then bisection to 5 % or "
        f"{plan.abs_tolerance:g}/s, then a confirmation")  # fmt: skip
    say(
        f"budget {settings.budget_s:.0f} s, ~{settings.probe_s:.0f} s per probe "
        f"(SCALE {load.scale:g}): at most {int(settings.budget_s // settings.probe_s)} probes"
    )
    count = [0]

    last: list[Probe] = []

    def probe(rate: float, phase: str) -> Probe:
        if last:
            # An overloaded shop drains its queue after the tool stops: a probe started into
            # that backlog would break on the last one's debt, not on its own rate.
            time.sleep(COOLDOWN_BROKEN_S if not last[-1].held else COOLDOWN_S)
        count[0] += 1
        say(f"probe {count[0]} ({phase}): {rate:g}/s ...")
        last.append(run_probe(load, rate, phase))
        return last[-1]

    def progress(p: Probe, so_far: SearchResult) -> None:
        say(probe_row(p))

    search = find_capacity(probe, plan, on_probe=progress)
    at = search.break_above_capacity
    limits = rank_limits(at.evidence) if at else []
    result = CapacityResult(testid, search, limits, results, {
        "tool": load.tool, "strategy": load.strategy, "scale": load.scale,
        "hot_users": load.hot_users, "budget_s": settings.budget_s, "start_tps": plan.start,
    })  # fmt: skip
    (results / "capacity.json").write_text(json.dumps(result.as_dict(), indent=2) + "\n")
    return result

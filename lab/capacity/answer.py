"""`make capacity`: the searches (RUNS, replica counts), each probe beside a machine speed
sample, the limiting resource, the scalability model, capacity.json and the answer."""

from __future__ import annotations

import dataclasses
import json
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from lab.capacity import scaling, speed
from lab.capacity.bottleneck import Limit, rank_limits
from lab.capacity.probe import run_probe
from lab.capacity.runs import RunsVerdict, judge_runs
from lab.capacity.search import Probe, SearchPlan, SearchResult, find_capacity
from lab.capacity.settings import CapacitySettings
from lab.load.scenarios import MIN_HOLD_S, load_scenarios, scaled_seconds
from lab.load.settings import LoadSettings
from lab.trend.history import append, record
from stack.revision import git_commit

Say = Callable[[str], None]
# Per probe besides its stages: k6 set-up and id discovery, the last remote write, the reads,
# the audit, the speed sample, and the pause before the next probe.
PROBE_OVERHEAD_S = 20
COOLDOWN_S = 3
COOLDOWN_BROKEN_S = 15


def probe_seconds(load: LoadSettings, scenarios: dict) -> float:
    stages = scenarios["probe"]["stages"]
    return sum(scaled_seconds(s["seconds"], load.scale) for s in stages) + PROBE_OVERHEAD_S


@dataclass
class CapacityResult:
    """One search: its probes, the limit at its first break above the capacity, and the
    machine speed samples taken beside its probes."""

    testid: str
    search: SearchResult
    limits: list[Limit]  # ranked, at the first break above the capacity
    results: Path
    settings: dict
    speed: list[speed.SpeedSample] = field(default_factory=list)
    run: int = 1
    replicas: int | None = None  # the replica count of a sweep; None: the stack as it ran

    @property
    def limit(self) -> Limit | None:
        saturated = [limit for limit in self.limits if limit.saturated]
        return saturated[0] if saturated else (self.limits[0] if self.limits else None)

    @property
    def others_cores(self) -> float:
        """The median CPU other processes took during the search's probes (cores)."""
        seen = [p.evidence.get("neighbour_cpu_cores") for p in self.search.probes]
        known = [c for c in seen if c is not None]
        return statistics.median(known) if known else 0.0

    @property
    def speed_index(self) -> float | None:
        """The median of the search's speed samples (None: none taken)."""
        return statistics.median(s.index for s in self.speed) if self.speed else None

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
            return f"no rate held the SLO (lowest tried {lowest:g}/s){self.machine()}"
        tail = "" if s.confirmed else " (not confirmed: the budget ran out or it wavered)"
        if s.stopped == "unstable":
            tail = " (unstable above it: a higher rate held once, then broke on confirmation)"
        bracket = f", broke at {s.ceiling:g}/s" if s.ceiling else " (no break found)"
        return (
            f"max sustainable rate {s.capacity:g}/s{tail}{bracket}{self.why()}"
            f"{self.disturbance()}{self.machine()}"
        )

    def why(self) -> str:
        """The limit at the first break above the capacity, with its evidence."""
        if self.limit is None or not self.search.ceiling:
            return ""
        what = "the limit" if self.limit.saturated else "nothing saturated; nearest"
        return f"; {what}: {self.limit.title}: {self.limit.evidence}"

    def machine(self) -> str:
        """The machine speed index beside the answer, and how far it moved during the search."""
        if not self.speed:
            return ""
        moved = speed.change(self.speed)
        return (
            f"; machine speed index {self.speed_index:.2f} (moved {moved * 100:.0f} % over "
            f"{len(self.speed)} samples)"
        )

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
            "run": self.run,
            "replicas": self.replicas,
            "capacity_tps": self.search.capacity,
            "ceiling_tps": self.search.ceiling,
            "confirmed": self.search.confirmed,
            "stopped": self.search.stopped,
            "answer": self.answer(),
            "limit": asdict(self.limit) if self.limit else None,
            "limits": [asdict(limit) for limit in self.limits],
            "speed_index": self.speed_index,
            "speed_change": speed.change(self.speed),
            "speed": [s.as_dict() for s in self.speed],
            "probes": [asdict(p) for p in self.search.probes],
            "settings": self.settings,
        }


@dataclass
class CapacityAnswer:
    """Every search of one `make capacity`, judged together, with the scalability model."""

    testid: str
    searches: list[CapacityResult]
    results: Path
    settings: dict
    target_tps: float
    runs: dict[int | None, RunsVerdict] = field(default_factory=dict)  # per replica count
    scalability: scaling.Scalability | None = None

    def median_search(self, count: int | None) -> CapacityResult:
        """Of the searches at replica count `count`, the one whose answer is the median."""
        mine = [s for s in self.searches if s.replicas == count]
        held = sorted((s for s in mine if s.search.capacity is not None),
                      key=lambda s: s.search.capacity)  # fmt: skip
        return held[(len(held) - 1) // 2] if held else mine[-1]

    @property
    def headline(self) -> CapacityResult:
        """The median search of the first replica count: its probes, limit and deck stand for
        the whole."""
        return self.median_search(self.searches[0].replicas)

    def answer(self) -> str:
        lines = []
        for count, verdict in self.runs.items():
            at = "" if count is None else f"{count} replica(s): "
            searches = [s for s in self.searches if s.replicas == count]
            if len(searches) == 1:
                lines.append(at + searches[0].answer())
            else:
                lines.append(at + verdict.sentence() + self.median_search(count).why())
        if self.scalability is not None:
            lines += self.scalability.sentences()
        return "\n".join(lines)

    def as_dict(self) -> dict:
        head = self.headline
        median = self.runs.get(head.replicas)
        return {
            **head.as_dict(),
            "testid": self.testid,
            "capacity_tps": median.median_tps if median else head.search.capacity,
            "answer": self.answer(),
            "speed_workload": speed.WORKLOAD,
            "runs": {str(k): v.as_dict() for k, v in self.runs.items()},
            "searches": [s.as_dict() for s in self.searches],
            "scalability": self.scalability.as_dict() if self.scalability else None,
            "target_tps": self.target_tps,
            "settings": self.settings,
        }


def probe_row(p: Probe) -> str:
    e = p.evidence
    state = "held" if p.held else "BROKE: " + "; ".join(p.broken)
    p95s = "".join(f"{key.removesuffix('_p95_ms')} p95 {_f(v, ' ms')}  "
                   for key, v in e.items() if key.endswith("_p95_ms"))  # fmt: skip
    return (f"{p.phase:8s} {p.rate:8.1f}/s  achieved {_f(e.get('achieved_tps'), '/s')}  "
            f"{p95s}shop CPU {_f(e.get('shop_cpu_cores'), '')}  "
            f"others {_f(e.get('neighbour_cpu_cores'), '')}  "
            f"speed {_f(e.get('speed_index'), '')}  {state}")  # fmt: skip


def _f(v, unit: str) -> str:
    return "n/a" if v is None else f"{v:.1f}{unit}"


def search_once(
    load: LoadSettings,
    budget_s: float,
    results: Path,
    say: Say,
    *,
    run: int = 1,
    replicas: int | None = None,
    scenarios: dict,
) -> CapacityResult:
    """One search: probes from TARGET_TPS, each after a machine speed sample."""
    plan = SearchPlan(start=load.target_tps, budget_s=budget_s,
                      probe_s=probe_seconds(load, scenarios))  # fmt: skip
    samples: list[speed.SpeedSample] = []
    last: list[Probe] = []
    where = f"run {run}" + ("" if replicas is None else f", {replicas} replica(s)")

    def probe(rate: float, phase: str) -> Probe:
        if last:
            # An overloaded shop drains its queue after the tool stops: a probe started into
            # that backlog would break on the last one's debt, not on its own rate.
            time.sleep(COOLDOWN_BROKEN_S if not last[-1].held else COOLDOWN_S)
        samples.append(speed.measure(f"{where} probe {len(last) + 1}"))
        say(f"{where} probe {len(last) + 1} ({phase}): {rate:g}/s, machine speed index "
            f"{samples[-1].index:.2f} ...")  # fmt: skip
        outcome = run_probe(load, rate, phase)
        last.append(dataclasses.replace(
            outcome, evidence={**outcome.evidence, "speed_index": samples[-1].index}
        ))  # fmt: skip
        return last[-1]

    search = find_capacity(probe, plan, on_probe=lambda p, _: say(probe_row(p)))
    samples.append(speed.measure(f"{where} end"))
    at = search.break_above_capacity
    return CapacityResult(
        results.name, search, rank_limits(at.evidence) if at else [], results,
        {"tool": load.tool, "strategy": load.strategy, "scale": load.scale,
         "hot_users": load.hot_users, "budget_s": budget_s, "start_tps": plan.start},
        samples, run, replicas,
    )  # fmt: skip


def find(
    settings: CapacitySettings,
    say: Say = lambda _: None,
    restart: Callable[[LoadSettings, int, Say], LoadSettings] | None = None,
) -> CapacityAnswer:
    """Every search of `settings`: RUNS of them per replica count (the stack restarted with each
    count by `restart`), then their judgement and the model; capacity.json in the results."""
    load = settings.load
    testid = f"capacity-{load.tool}-{time.strftime('%Y%m%d-%H%M%S')}"
    results = load.results_root / testid
    results.mkdir(parents=True, exist_ok=True)
    scenarios = load_scenarios()
    probe_s = probe_seconds(load, scenarios)
    counts: tuple[int | None, ...] = settings.replicas or (None,)
    say(f"{testid}: {load.tool}, strategy {load.strategy or 'as running'}, first rate "
        f"{load.target_tps:g}/s, x1.5 until a break, then bisection to 5 %, then a "
        f"confirmation; {settings.runs} search(es)"
        + (f" at each of {', '.join(map(str, settings.replicas))} replicas"
           if settings.replicas else ""))  # fmt: skip
    say(f"budget {settings.budget_s:.0f} s per search, ~{probe_s:.0f} s per probe (SCALE "
        f"{load.scale:g}): about {int(settings.budget_s // probe_s)} probes each; a machine "
        f"speed sample before each probe ({speed.WORKLOAD})")  # fmt: skip
    hold = scenarios["probe"]["stages"][-1]["seconds"]
    if (held_s := scaled_seconds(hold, load.scale)) < MIN_HOLD_S:
        enough = math.ceil(MIN_HOLD_S / hold * 100) / 100
        say(f"SCALE {load.scale:g} holds each rate {held_s} s, too short to measure (figures "
            f"n/a below): k6's thresholds alone say held or broke; SCALE {enough:g} or more "
            f"measures them")  # fmt: skip
    searches: list[CapacityResult] = []
    for count in counts:
        at = load
        if count is not None:
            if restart is None:
                raise ValueError("a replica sweep needs a way to restart the stack")
            at = restart(load, count, say)
        for run in range(1, settings.runs + 1):
            say(f"search {len(searches) + 1} of {len(counts) * settings.runs}"
                + ("" if count is None else f" ({count} replica(s))"))  # fmt: skip
            searches.append(search_once(at, settings.budget_s, results, say, run=run,
                                        replicas=count, scenarios=scenarios))  # fmt: skip
            say(f"search {len(searches)}: {searches[-1].answer()}")
    answer = CapacityAnswer(testid, searches, results, settings.as_dict(), load.target_tps)
    for count in counts:
        mine = [s for s in searches if s.replicas == count]
        answer.runs[count] = judge_runs(
            [s.search.capacity for s in mine],
            [s.speed_index for s in mine],
            others=[s.others_cores for s in mine],
        )
    head = answer.headline
    same = [p for s in searches if s.replicas == head.replicas for p in s.search.probes]
    answer.scalability = scaling.model(
        same, answer.runs[head.replicas].median_tps, head.search.ceiling, load.target_tps,
        {c: answer.runs[c].median_tps for c in settings.replicas},
        {s.replicas: s.limit.title for s in searches if s.replicas and s.limit},
    )  # fmt: skip
    write_answer(answer)
    if settings.history is not None and not settings.replicas:
        remember(answer, settings.history)
    return answer


def remember(answer: CapacityAnswer, path: Path) -> None:
    """The answer (the median of the searches) as one line of the run history: a sweep's
    answers are of several shops, and are not."""
    verdict = answer.runs[None]
    if verdict.median_tps is None:
        return
    append(path, record("capacity", {"capacity_tps": verdict.median_tps}, commit=git_commit(),
                        testid=answer.testid, speed_index=verdict.index_median,
                        settings=answer.settings))  # fmt: skip


def write_answer(answer: CapacityAnswer) -> None:
    """capacity.json in the search's folder, and beside the headline's confirmation run (where
    its deck is written, so `make report` of that run shows the capacity too)."""
    text = json.dumps(answer.as_dict(), indent=2) + "\n"
    (answer.results / "capacity.json").write_text(text)
    held = [p for p in answer.headline.search.probes if p.held]
    if held:
        folder = answer.results.parent / held[-1].testid
        if folder.is_dir():
            (folder / "capacity.json").write_text(text)

"""One capacity probe: a `probe` scenario run at a rate, judged for the search.

A probe is judged on its hold, the steady part at the offered rate: each endpoint's p95 and the
error share as the tool timed them there (Prometheus), dropped iterations within a small share
of the offered ones, the achieved rate at least 95 % of the offered one, and the tool's checks
of the answers. The tool's latency and error thresholds span the whole run, the ramp's start-up
included (a new connection per virtual user, a burst a steady rate never sees): they decide
only for an endpoint the hold did not measure (a run stopped early, Prometheus not answering).
The probe's own results folder keeps the tool's whole-run verdict.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Mapping

from lab.capacity.bottleneck import generator_saturated
from lab.capacity.evidence import read_figures
from lab.capacity.search import Probe
from lab.load.run import RunResult, run
from lab.load.scenarios import Plan, Window
from lab.load.settings import LoadSettings
from signals.client import Prometheus
from signals.slo import GENERATOR_DROPPED_SHARE

ACHIEVED_SHARE = 0.95


def judge_probe(result: RunResult, rate: float, figures: dict, phase: str) -> Probe:
    """The search's view of one finished run (pure, given the run and its figures)."""
    summary = result.summary or {}
    hold = (result.observations.hold if result.observations else None) or {}
    window = result.plan.hold_window(result.window.start) if result.plan and result.window else None
    hold_s = window[0].seconds if window else summary.get("duration_s", 0)
    broken: list[str] = []
    if result.exit_code == 2 or not summary:
        broken.append(f"no verdict: {result.verdict.error or 'the tool failed'}")
    broken += tool_breaks(result, hold) + hold_breaks(result.plan, hold)
    offered = rate * max(1.0, hold_s)
    dropped = hold.get("dropped") or 0.0
    dropped_ratio = dropped / offered if offered else 0.0
    if dropped_ratio > GENERATOR_DROPPED_SHARE:
        broken.append(f"{dropped:.0f} iterations dropped ({dropped_ratio * 100:.1f} %)")
    achieved = hold.get("rate")
    if achieved is not None and achieved < ACHIEVED_SHARE * rate:
        broken.append(f"achieved {achieved:.0f}/s < 95 % of {rate:.0f}/s")
    audit_file = result.results / "audit.json" if result.results else None
    if audit_file is not None and audit_file.exists():
        audit = json.loads(audit_file.read_text())
        if not audit["passed"]:
            broken.append("audit: " + (", ".join(audit["broken_invariants"]) or "orders lost"))
    if result.summary and summary.get("aborted"):
        broken.append("aborted early: " + "; ".join(summary["aborted"]))
    wall = (result.window.end - result.window.start) if result.window else 0.0
    figures = {
        **figures,
        "dropped_ratio": dropped_ratio,
        "generator_cpu_cores": (result.generator_cpu_s / wall)
        if result.generator_cpu_s and wall
        else None,
        "generator_processes": 1.0,
        "neighbour_cpu_cores": (result.neighbours.neighbour_cores + result.neighbours.steal_cores)
        if result.neighbours
        else None,
    }
    saturated = generator_saturated(figures) if broken else None
    return Probe(
        rate=rate,
        held=not broken,
        broken=tuple(broken) + ((f"load generator: {saturated}",) if saturated else ()),
        generator_saturated=saturated is not None,
        # A break while other processes took a tenth of the box may be theirs, not the rate's.
        disturbed=bool(broken) and result.neighbours is not None and result.neighbours.disturbed,
        no_verdict=result.exit_code == 2 and not summary,
        seconds=wall,
        phase=phase,
        testid=result.testid,
        evidence={
            "achieved_tps": achieved,
            **{
                f"{e}_p95_ms": hold.get(f"{e}_p95")
                for e in (result.plan.endpoints if result.plan else ())
            },
            "errors": hold.get("errors"),
            **figures,
        },
    )


def measured(plan: Plan | None, hold: Mapping, endpoint: str) -> bool:
    """Whether the hold measured `endpoint`'s latency and errors (Prometheus answered for it)."""
    return (
        plan is not None
        and hold.get("rate") is not None
        and all(hold.get(f"{endpoint}_{figure}") is not None for figure in ("p95", "errors"))
    )


def tool_breaks(result: RunResult, hold: Mapping) -> list[str]:
    """The tool's failed thresholds that still decide: its checks of the answers, and the
    latency and error thresholds of each endpoint the hold did not measure (all of them when no
    hold was observed: a run stopped early, no Prometheus). Dropped iterations are judged on the
    hold, apart."""
    summary, plan = result.summary or {}, result.plan
    judged_on_hold = (
        [(e, plan.keys[e]) for e in plan.endpoints if measured(plan, hold, e)] if plan else []
    )

    def decides(name: str) -> bool:
        if name.startswith("dropped_iterations"):
            return False
        # k6 tags a threshold {endpoint:NAME}; Locust names it by the endpoint's key.
        return not any(f"{{endpoint:{e}}}" in name or name.startswith(f"{key}:")
                       for e, key in judged_on_hold)  # fmt: skip

    return [
        t["name"] for t in summary.get("thresholds", []) if not t["pass"] and decides(t["name"])
    ]


def hold_breaks(plan: Plan | None, hold: Mapping) -> list[str]:
    """Each endpoint's latency and error objectives over the hold, for the endpoints it
    measured, each broken one readable."""
    broken = []
    for endpoint in plan.endpoints if plan else ():
        if not (plan.mix.get(endpoint, 0) > 0 and measured(plan, hold, endpoint)):
            continue
        p95, errors, limit = (
            hold[f"{endpoint}_p95"],
            hold[f"{endpoint}_errors"],
            plan.p95_ms(endpoint),
        )
        if p95 >= limit:
            broken.append(f"{endpoint} p95 {p95:.0f} ms >= {limit:g} ms in the hold")
        if errors > plan.slo["error_rate"]:
            broken.append(f"{endpoint} errors {errors * 100:.2f} % > "
                          f"{plan.slo['error_rate'] * 100:g} % in the hold")  # fmt: skip
    return broken


def run_probe(settings: LoadSettings, rate: float, phase: str, say=lambda _: None) -> Probe:
    """Run the `probe` scenario at `rate` and judge it."""
    s = dataclasses.replace(settings, scenario="probe", target_tps=rate)
    result = run(s, say)
    figures: dict = {}
    window = figures_window(result, time.time())
    if s.prometheus_url and window is not None:
        figures = read_figures(
            Prometheus(s.prometheus_url), window.start, window.end, s.tool, result.testid
        )
    return judge_probe(result, rate, figures, phase)


def figures_window(result: RunResult, now: float) -> Window | None:
    """Where a probe's server-side figures are read: its hold, cut at the tool's stop (a probe
    run with ABORT_ON_FAIL=1 stops at its first broken threshold), so they say what the server
    did under the load and not in the quiet after it; None for a run that never started."""
    if result.plan is None or result.window is None:
        return None
    hold = result.plan.hold_window(result.window.start)
    # A Window, not a pair: at SCALE 0.1 a probe's hold is too short to count as one.
    span = hold[0] if hold else result.window
    end = min(span.end, result.window.end, now)
    return Window(min(span.start, end - 5), end)

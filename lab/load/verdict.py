"""The verdict of a run, as a pure function of its plan, the tool's summary and what Prometheus
said about it (`Observations`): the verdict block's lines and the exit code.

Thresholds are the tools' own, read from the summary both write. What needs a time series (the
stress step where the SLO broke, the spike's recovery, deadlocks during the run) comes in as
values and series already fetched (`lab.load.run.observe`), so the same verdict can be rebuilt
from a recorded run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field

from lab.load.neighbours import NeighbourCpu
from lab.load.scenarios import Plan

# A window's client signals (lab.load.queries.CLIENT_SIGNALS and `<endpoint>_p95`) -> value,
# None for no data.
ClientWindow = Mapping[str, float | None]
Series = list[tuple[float, float]]
# Seconds a good stretch must last to count as a recovery.
SETTLE_S = 5


@dataclass(frozen=True)
class Observations:
    """What Prometheus answered about one run (saved as results/<testid>/observations.json)."""

    started: float  # the load's start (epoch seconds), the plan's time zero
    ended: float
    deadlocks: float | None = None
    hold: dict | None = None  # ClientWindow of the steady part of load and soak
    steps: list[dict] = field(default_factory=list)  # stress: a ClientWindow per step
    # baseline, during (ClientWindows), errors and the primary endpoint's <name>_p95 (Series)
    spike: dict | None = None
    drift: dict | None = None  # soak: {"first": {...}, "last": {...}} tenths of the hold

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping) -> Observations:
        spike = data.get("spike")
        if spike:
            series = [k for k in spike if k not in ("baseline", "during")]
            spike = {**spike, **{k: [tuple(p) for p in spike[k]] for k in series}}
        return cls(**{**data, "spike": spike})


@dataclass(frozen=True)
class Verdict:
    exit_code: int  # 0 PASS (or reported), 1 FAIL, 2 no verdict
    lines: list[str]  # the verdict block; empty when there is no verdict
    error: str = ""  # why there is no verdict
    passed: bool | None = None


def pct(v: float | None) -> float | None:
    return None if v is None else v * 100


def fmt(v: float | None, unit: str) -> str:
    return "n/a" if v is None else f"{v:.1f}{unit}"


def p95s(plan: Plan, w: ClientWindow) -> str:
    """`orders p95 12.0 ms, popular p95 3.1 ms`: each endpoint's p95 in the window."""
    return ", ".join(f"{name} p95 {fmt(w.get(f'{name}_p95'), ' ms')}" for name in plan.endpoints)


def slo_broken(plan: Plan, w: ClientWindow) -> list[str]:
    slo, broken = plan.slo, []
    for name in plan.endpoints:
        value, limit = w.get(f"{name}_p95"), plan.p95_ms(name)
        if value is not None and value > limit:
            broken.append(f"{name} p95 {value:.0f} ms > {limit:g}")
    if w["errors"] is not None and w["errors"] > slo["error_rate"]:
        broken.append(f"errors {w['errors'] * 100:.1f} % > {slo['error_rate'] * 100:g} %")
    if w["dropped"] and w["dropped"] > slo["dropped"]:
        broken.append(f"{w['dropped']:.0f} dropped iterations")
    return broken


def stress_lines(plan: Plan, steps: list[ClientWindow]) -> list[str]:
    """Each step's achieved rate, p95s and errors; the first step where the SLO broke."""
    lines, first_broken = [], None
    for step, w in zip(plan.stress_steps(0), steps, strict=True):
        broken = slo_broken(plan, w)
        if w["rate"] is not None and w["rate"] < 0.95 * step.rate:
            broken.append(f"achieved {w['rate']:.0f}/s < 95 % of {step.rate:.0f}/s")
        if broken and first_broken is None:
            first_broken = step
        state = "SLO BROKEN: " + "; ".join(broken) if broken else "ok"
        lines.append(
            f"step {step.fraction * 100:4.0f} % ({step.rate:5.0f}/s): "
            f"achieved {fmt(w['rate'], '/s')}, {p95s(plan, w)}, "
            f"errors {fmt(pct(w['errors']), ' %')}  " + state
        )
    if first_broken is None:
        top = plan.stages[-1].fraction * 100
        lines.append(f"SLO held at every step up to {top:.0f} % of TARGET_TPS")
    else:
        lines.append(f"SLO broke at the {first_broken.fraction * 100:.0f} % step "
                     f"({first_broken.rate:.0f}/s offered)")  # fmt: skip
    return lines


def settled_at(series: Series, ok: Callable[[float], bool], hold: float = SETTLE_S) -> float | None:
    """The first time from which `ok` holds for `hold` seconds on end: a single good sample in
    the middle of the spike (5 s windows over samples pushed every second are noisy) is not a
    recovery."""
    start = None
    for t, v in series:
        if not ok(v):
            start = None
            continue
        start = t if start is None else start
        if t - start >= hold:
            return start
    return None


def spike_horizon(plan: Plan) -> float:
    """Seconds after the spike within which errors and latency must have recovered."""
    return 60 * max(plan.scale, 0.5)


def spike_lines(plan: Plan, spike_end: float, spike: Mapping) -> list[str]:
    """Baseline against the spike; seconds until errors are back at baseline and the primary
    endpoint's p95 back under its SLO, counted from `spike_end`."""
    base, during = spike["baseline"], spike["during"]
    limit = plan.slo["recovery_seconds"]
    horizon = spike_horizon(plan)
    baseline_errors = base["errors"] or 0.0
    recovered_at = settled_at(spike["errors"], lambda v: v <= baseline_errors + 0.01)
    lines = [
        f"baseline: errors {fmt(pct(base['errors']), ' %')}, "
        f"{plan.primary} p95 {fmt(base[f'{plan.primary}_p95'], ' ms')}",
        f"spike:    achieved {fmt(during['rate'], '/s')}, "
        f"errors {fmt(pct(during['errors']), ' %')}, "
        f"{plan.primary} p95 {fmt(during[f'{plan.primary}_p95'], ' ms')}",
    ]
    if recovered_at is None:
        lines.append(f"errors did NOT recover to baseline within {horizon:.0f} s")
    else:
        took = max(0.0, recovered_at - spike_end)
        verdict = "PASS" if took <= limit else "FAIL"
        lines.append(f"recovery: errors back to baseline {took:.0f} s after the spike  "
                     f"{verdict} (limit {limit} s)")  # fmt: skip
    slo_ms = plan.p95_ms(plan.primary)
    back = settled_at(spike[f"{plan.primary}_p95"], lambda v: v <= slo_ms)
    when = f"{max(0.0, back - spike_end):.0f} s after the spike" if back else None
    lines.append(f"latency: {plan.primary} p95 back under {slo_ms:g} ms "
                 f"{when or f'not within {horizon:.0f} s'}")  # fmt: skip
    return lines


def no_verdict(tool: str, summary: Mapping | None, rc: int, log: str) -> str | None:
    """Why a run gets no verdict (no summary, the tool failed), or None."""
    if summary is None:
        return f"{tool} wrote no summary (exit {rc}); its log: {log}"
    if rc not in (0, 99) or not summary["requests"]:
        return (
            f"{tool} failed (exit {rc}, {summary['requests']} requests): no verdict; its log: {log}"
        )
    return None


def judge(
    plan: Plan,
    tool: str,
    summary: Mapping | None,
    rc: int,
    obs: Observations | None,
    *,
    results: str,
    generator_cpu_s: float | None = None,
    wall_s: float = 1.0,
    audit: Mapping | None = None,
    neighbours: NeighbourCpu | None = None,
) -> Verdict:
    """The verdict block of a run; `obs` None when the run had no Prometheus. The generator's
    CPU seconds are set against the `wall_s` seconds of the load. `audit` (audit.run's
    AuditResult.as_dict(), None when there was no database to audit): a broken book FAILs the
    run whatever the latency."""
    error = no_verdict(tool, summary, rc, f"{results}/{tool}.log")
    if error:
        return Verdict(2, [], error)
    out = [f"===== {tool} {plan.scenario} verdict (testid {plan.testid}) ====="]
    for t in sorted(summary["thresholds"], key=lambda t: t["name"]):
        out.append(f"  {'PASS' if t['pass'] else 'FAIL'}  {t['name']}")
    if summary.get("aborted"):
        out.append(f"  ABORTED early (abortOnFail): {'; '.join(summary['aborted'])}")
    out.append(f"  achieved {summary['achieved_tps']:.1f}/s (successful) of {plan.target_tps:g} "
               f"target over {summary['duration_s']:.0f} s; {summary['requests']} requests, "
               f"errors {summary['error_rate'] * 100:.2f} %")  # fmt: skip
    if generator_cpu_s is not None:
        seconds = max(1.0, wall_s)
        per_request_ms = generator_cpu_s / summary["requests"] * 1000
        out.append(
            f"  load generator CPU: {generator_cpu_s:.1f} s over {seconds:.0f} s "
            f"({generator_cpu_s / seconds:.2f} cores), {per_request_ms:.2f} ms per request"
        )
    if neighbours is not None:
        tail = ": DISTURBED, the figures may not repeat" if neighbours.disturbed else ""
        out.append(f"  the rest of the machine: {neighbours.describe()}{tail}")
    for name in plan.keys.values():
        e = summary["endpoints"].get(name) or {"count": 0, "p95_ms": None, "p99_ms": None}
        out.append(f"  {name:28s} n={e['count'] or 0:<7} p95 {fmt(e['p95_ms'], ' ms'):>10}  "
                   f"p99 {fmt(e['p99_ms'], ' ms'):>10}")  # fmt: skip
    reports = plan.report in ("steps", "recovery")
    if obs is not None:
        out += [f"  {line}" for line in prometheus_lines(plan, summary, obs)]
    elif reports:
        out.append("  (step / recovery analysis needs Prometheus: run against make local-up)")
    drifted = drift_failures(plan, obs)
    out += [f"  {line}" for line in drift_lines(plan, obs, drifted)]
    out += [f"  {line}" for line in audit_lines(audit)]
    books_ok = audit is None or bool(audit["passed"])
    out.append(f"  results: {results}")
    if reports and books_ok:
        out.append("  verdict: REPORTED (stress and spike runs report; they do not pass or fail)")
        return Verdict(0, out)
    passed = bool(summary["passed"]) and books_ok and not drifted
    why = [w for w, bad in (("drift", drifted), ("audit", not books_ok)) if bad]
    out.append(
        f"  verdict: {'PASS' if passed else 'FAIL'}" + (f" ({', '.join(why)})" if why else "")
    )
    return Verdict(0 if passed else 1, out, passed=passed)


def drift_measures(plan: Plan) -> list[tuple[str, float, float]]:
    """(measure, tolerated rise as a share, floor of the rise) per drift check of the soak:
    scenarios.json's `slo.drift` names the service's memory, MariaDB's connections and `p95_ms`,
    which stands for every endpoint's p95 (`<endpoint>_p95`, with `p95_floor_ms`)."""
    tolerances = plan.slo.get("drift") or {}
    out = []
    for name, tolerance in tolerances.items():
        if name == "p95_ms":
            floor = tolerances.get("p95_floor_ms", 0)
            out += [(f"{endpoint}_p95", tolerance, floor) for endpoint in plan.endpoints]
        elif not name.endswith("_floor_ms"):
            out.append((name, tolerance, 0))
    return out


def drift_failures(plan: Plan, obs: Observations | None) -> list[str]:
    """The soak's measures that rose, last tenth of the hold against the first, beyond the
    tolerance of scenarios.json (`slo.drift`, a share; p95 also by at least a floor in ms)."""
    if obs is None or not obs.drift:
        return []
    first, last = obs.drift["first"], obs.drift["last"]
    failed = []
    for name, tolerance, floor in drift_measures(plan):
        if first.get(name) is None or last.get(name) is None:
            continue
        rise = last[name] - first[name]
        if first[name] > 0 and rise / first[name] > tolerance and rise > floor:
            failed.append(name)
    return failed


def drift_lines(plan: Plan, obs: Observations | None, failed: list[str]) -> list[str]:
    measures = drift_measures(plan)
    if not measures:
        return []
    if obs is None or not obs.drift:
        return ["drift: not measured (needs Prometheus and a whole hold)"]
    first, last = obs.drift["first"], obs.drift["last"]
    out = []
    for name, tolerance, _floor in measures:
        a, b = first.get(name), last.get(name)
        if a is None or b is None:
            out.append(f"drift: {name} n/a")
            continue
        rise = (b - a) / a * 100 if a else 0.0
        state = "FAIL" if name in failed else "ok"
        out.append(f"drift: {state} {name} {a:.4g} -> {b:.4g} ({rise:+.1f} %, "
                   f"tolerance +{tolerance * 100:g} %), first vs last tenth")  # fmt: skip
    return out


def audit_lines(audit: Mapping | None) -> list[str]:
    if audit is None:
        return ["audit: skipped (no database URL for this shop: set SHOP_DATABASE_URL)"]
    out = [f"audit: FAIL {name} ({count})" for name, count in audit["broken_invariants"].items()]
    if not audit["broken_invariants"]:
        out.append("audit: the books balance (every invariant holds)")
    r = audit.get("reconciliation")
    if r:
        state = "ok" if r["passed"] else "FAIL"
        out.append(f"audit: reconciliation {state}: {r['acknowledged']} orders acknowledged, "
                   f"{len(r['lost'])} lost, {len(r['double_charged'])} double-charged, "
                   f"{r['unacknowledged']} stored but never acknowledged")  # fmt: skip
    return out


def prometheus_lines(plan: Plan, summary: Mapping, obs: Observations) -> list[str]:
    """What only Prometheus knows: deadlocks, the hold's achieved rate, steps, recovery."""
    lines = []
    if obs.deadlocks is not None:
        lines.append(f"InnoDB deadlocks during the run: {obs.deadlocks:.0f}")
    hold = plan.hold_window(obs.started)
    if hold and plan.report == "thresholds":
        window, stage = hold
        if obs.started + summary["duration_s"] < window.end or obs.hold is None:
            lines.append("(the run stopped before the end of its hold: no steady-state figures)")
        else:
            w = obs.hold
            share = pct(w["rate"] / stage.rate) if w["rate"] is not None else None
            lines.append(f"during the {window.seconds:.0f} s hold at {stage.rate:.0f}/s: "
                         f"achieved {fmt(w['rate'], '/s')} ({fmt(share, ' %')} of offered), "
                         f"{p95s(plan, w)}")  # fmt: skip
    if plan.report == "steps":
        lines += stress_lines(plan, obs.steps)
    elif plan.report == "recovery" and obs.spike:
        lines += spike_lines(plan, plan.spike_window(obs.started).end, obs.spike)
    return lines

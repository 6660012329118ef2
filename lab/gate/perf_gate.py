"""`make gate`, start to verdict: `run(settings) -> GateResult`.

Its own native stack on free loopback ports in a temporary folder (never a user's `make
local-up`, never the test suite's), a k6 smoke, then the short `load` run through the load
runner's library, each with its thresholds and the audit; the load run's deck; the stack down
whatever happened (a failure, Ctrl-C, the budget running out). PASS only when every threshold
and the audit passed. Progress goes to a `say` callback; results/gate-<stamp>/ gets gate.json
and summary.md (Markdown for a CI job summary).
"""

from __future__ import annotations

import json
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path

from lab.capacity import speed
from lab.capacity.evidence import cpu_seconds
from lab.gate.settings import GateSettings
from lab.load import run as loadtest
from lab.load.run import RunResult
from lab.load.settings import read_load_settings
from lab.report.prometheus import Prometheus as ReportPrometheus
from lab.trend.changes import Trend, detect
from lab.trend.history import Record, append, read, record
from signals.client import Prometheus
from stack.processes import free_port
from stack.revision import git_commit
from stack.runner import StackStartError, native_stack
from stack.settings import StackSettings, ephemeral_env

Say = Callable[[str], None]
# What stopping the stack may take at most (runner.down's own bound), kept out of the budget
# the steps may use.
STACK_DOWN_S = 35
SMOKE_SCALE = 1  # the smoke is 10 requests over 5 s whatever the load's SCALE


class GateTimeout(KeyboardInterrupt):
    """The gate's budget ran out. A KeyboardInterrupt on purpose: what stops cleanly on Ctrl-C
    (the load tool's process group in loadtest.tools, the stack in runner.running) stops the
    same way when the time is up."""


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """GateTimeout in the body after `seconds` (SIGALRM: the main thread only; elsewhere the
    body runs unbounded and the caller's own timeout must do)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(_signum, _frame):
        raise GateTimeout(f"the gate's budget ran out ({seconds:.0f} s left for the runs)")

    previous = signal.signal(signal.SIGALRM, expire)
    outer, _ = signal.setitimer(signal.ITIMER_REAL, max(1.0, seconds))
    began = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer:  # an enclosing alarm (pytest-timeout's) keeps what was left of its time
            signal.setitimer(signal.ITIMER_REAL, max(0.001, outer - (time.monotonic() - began)))


@dataclass(frozen=True)
class Step:
    """One run of the gate (smoke or load) as the verdict needs it."""

    name: str
    testid: str | None
    exit_code: int  # the load runner's: 0 PASS, 1 FAIL, 2 no verdict
    failed: tuple[str, ...]  # each failed threshold or book, by name
    lines: tuple[str, ...] = ()  # the run's verdict block
    results: str | None = None
    figures: dict = field(default_factory=dict)  # achieved, p95s, errors: the summary table


@dataclass(frozen=True)
class GateResult:
    exit_code: int  # 0 PASS, 1 FAIL (a threshold or the audit), 2 no verdict
    steps: tuple[Step, ...]
    results: Path  # results/gate-<stamp>/
    seconds: float
    settings: dict
    error: str = ""  # why there is no verdict
    report: dict = field(default_factory=dict)  # format -> path of the load run's deck
    report_error: str = ""
    git_commit: str | None = None
    trend: str = ""  # the run history's verdict once this run joined it

    @property
    def passed(self) -> bool:
        return self.exit_code == 0

    @property
    def failed(self) -> list[str]:
        return [f"{s.name}: {name}" for s in self.steps for name in s.failed]

    def verdict_line(self) -> str:
        took = f"{self.seconds:.0f} s"
        if self.error:
            return f"gate: NO VERDICT ({took}): {self.error}"
        if self.passed:
            s = self.settings
            ran = f"{s['tool']}, {s['target_tps']:g} TPS, SCALE {s['scale']:g}"
            return f"gate: PASS ({took}): smoke and load ({ran}) held every threshold and the audit"
        return f"gate: FAIL ({took}): " + "; ".join(self.failed)

    def as_dict(self) -> dict:
        return {
            "passed": self.passed,
            "exit_code": self.exit_code,
            "verdict": self.verdict_line(),
            "failed": self.failed,
            "error": self.error,
            "seconds": round(self.seconds, 1),
            "settings": self.settings,
            "git_commit": self.git_commit,
            "steps": [asdict(s) for s in self.steps],
            "report": self.report,
            "report_error": self.report_error,
            "trend": self.trend,
            "results": str(self.results),
        }


def failures(summary: Mapping | None, audit: Mapping | None, exit_code: int, error: str) -> list:
    """What failed in one run, each by its name: the tool's thresholds, an early abort, the
    books and the reconciliation of the audit; why there is no verdict."""
    if exit_code == 2 or summary is None:
        return [f"no verdict: {error or 'the load tool wrote no summary'}"]
    out = [
        t["name"] for t in sorted(summary["thresholds"], key=lambda t: t["name"]) if not t["pass"]
    ]
    if summary.get("aborted"):
        out.append("aborted early: " + "; ".join(summary["aborted"]))
    if audit is not None:
        out += [f"audit: {name} ({n})" for name, n in audit["broken_invariants"].items()]
        r = audit.get("reconciliation")
        if r and not r["passed"]:
            out.append(
                f"audit: reconciliation ({len(r['lost'])} lost, "
                f"{len(r['double_charged'])} double-charged)"
            )
    if exit_code == 1 and not out:
        out.append("verdict FAIL (see its block)")  # drift: soak only, never the gate's runs
    return out


def endpoint_p95s(result: RunResult) -> dict[str, float | None]:
    """`<endpoint>_p95_ms` of each endpoint of the run's target, as the tool's summary has it
    (by the endpoint's key, `POST /api/orders`)."""
    endpoints = (result.summary or {}).get("endpoints", {})
    keys = result.plan.keys if result.plan else {}
    return {f"{name}_p95_ms": endpoints.get(key, {}).get("p95_ms") for name, key in keys.items()}


def figures(result: RunResult) -> dict:
    """The run's headline figures from the tool's summary (the hold's rate from Prometheus)."""
    summary = result.summary or {}
    hold = (result.observations.hold if result.observations else None) or {}
    return {
        "requests": summary.get("requests"),
        "achieved_tps": summary.get("achieved_tps"),
        "hold_tps": hold.get("rate"),
        "error_rate": summary.get("error_rate"),
        **endpoint_p95s(result),
    }


def cpu_ms_per_request(prom: Prometheus, result: RunResult) -> float | None:
    """The shop's CPU per request over the run: its cgroup's CPU seconds (all its processes) over
    the requests the tool sent; None without the cgroup series or a summary."""
    requests_ = (result.summary or {}).get("requests")
    if result.window is None or not requests_:
        return None
    cpu_s = cpu_seconds(prom, "shop", result.window.start, result.window.end)
    return None if cpu_s is None else cpu_s / requests_ * 1000


def step_of(name: str, result: RunResult, cpu_ms: float | None = None) -> Step:
    audit = None
    if result.results and (result.results / "audit.json").exists():
        audit = json.loads((result.results / "audit.json").read_text())
    failed = failures(result.summary, audit, result.exit_code, result.verdict.error)
    return Step(
        name,
        result.testid,
        result.exit_code,
        tuple(failed),
        tuple(result.verdict.lines),
        str(result.results) if result.results else None,
        {**figures(result), "cpu_ms_per_request": cpu_ms},
    )


def stack_env(settings_env: Mapping[str, str], state: Path) -> dict[str, str]:
    """A stack of the gate's own: every port free, its state in `state`, the small shop."""
    return ephemeral_env(state, free_port, settings_env)


def load_step(
    env: Mapping[str, str],
    out: Path,
    scenario: str,
    knobs: Mapping[str, str],
    say: Say,
    prom: Prometheus | None = None,
) -> Step:
    """One run; with `prom` (the stack's), the shop's CPU per request among its figures."""
    settings = read_load_settings({**env, **knobs, "SCENARIO": scenario, "RESULTS_ROOT": str(out)})
    result = loadtest.run(settings, lambda line: say(f"{scenario}: {line}"))
    step = step_of(scenario, result, cpu_ms_per_request(prom, result) if prom else None)
    for line in result.verdict.lines:
        say(line)
    return step


def history_record(step: Step, s: GateSettings, commit: str | None, speed_index: float) -> Record:
    """The load run's key figures as one line of the run history (pure)."""
    f = step.figures
    rate = f.get("hold_tps") if f.get("hold_tps") is not None else f.get("achieved_tps")
    return record(
        "gate",
        {"rate": rate, "orders_p95_ms": f.get("orders_p95_ms"),
         "popular_p95_ms": f.get("popular_p95_ms"),
         "cpu_ms_per_request": f.get("cpu_ms_per_request")},
        commit=commit, testid=step.testid or "", speed_index=round(speed_index, 3),
        settings=s.as_dict(),
    )  # fmt: skip


def write_deck(
    out: Path, testid: str, stack: StackSettings, screenshot: bool, history: Trend | None = None
) -> tuple:
    """The load run's deck (report.html, .md, .json, .png) with the run history beside it: its
    paths, or why it is missing. A deck that cannot be made is said; it does not change the
    gate's verdict."""
    from lab.report.__main__ import make_report
    from lab.report.prometheus import PrometheusError

    prom = ReportPrometheus(stack.url("LOCAL_PROMETHEUS_PORT"))
    try:
        made = make_report(
            out,
            testid,
            prom,
            exporter_url=stack.url("LOCAL_INNODB_EXPORTER_PORT"),
            with_screenshot=screenshot,
            history=history,
        )
    except (PrometheusError, OSError, ValueError) as exc:
        return {}, str(exc).splitlines()[0]
    return {fmt: str(path) for fmt, path in made.paths.items()}, made.screenshot_error or ""


def remember(step: Step, s: GateSettings, commit: str | None, index: float, say: Say):
    """The load run's figures appended to the run history (a run with a verdict only), and the
    history's trend since; None when the run had no verdict."""
    if step.exit_code == 2:
        return None
    t = s.trend
    append(t.history, history_record(step, s, commit, index))
    trend = detect(read(t.history), t.pvalue, t.min_change)
    say(f"history: appended to {t.history}; trend: {trend.verdict()}")
    return trend


def run(
    s: GateSettings, say: Say = lambda _: None, stack: StackSettings | None = None
) -> GateResult:
    """The gate for GateSettings `s`. Ctrl-C stops the runs and the stack, then propagates.
    `stack`: a native stack that runs already (the e2e tests' shared one) to measure instead of
    starting one; it is left running."""
    started = time.monotonic()
    commit = git_commit()
    out = s.results_root / f"gate-{time.strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True, exist_ok=True)
    say(f"results: {out}")
    steps: list[Step] = []
    error, report, report_error, trend = "", {}, "", None
    knobs = {"TARGET_TPS": f"{s.target_tps:g}", "SCALE": f"{s.scale:g}"}
    with tempfile.TemporaryDirectory(prefix="shoplab-gate-") as tmp:
        if stack is None:
            env = stack_env(s.environ, Path(tmp) / "stack")
            stack_up = native_stack(env)
        else:
            env, stack_up = {**s.environ, **stack.values}, nullcontext(stack)
        try:
            with stack_up as running:
                left = s.budget_s - (time.monotonic() - started) - STACK_DOWN_S
                with deadline(left):
                    smoke_knobs = {**knobs, "SCALE": f"{SMOKE_SCALE:g}"}
                    steps.append(load_step(env, out, "smoke", smoke_knobs, say))
                    if steps[-1].exit_code == 0:
                        index = speed.measure("gate").index
                        prom = Prometheus(running.url("LOCAL_PROMETHEUS_PORT"))
                        steps.append(load_step(env, out, "load", knobs, say, prom))
                        trend = remember(steps[-1], s, commit, index, say)
                        say("report: the load run's deck")
                        report, report_error = write_deck(
                            out, steps[-1].testid, running, s.screenshot, trend
                        )
                    else:
                        say("load: skipped (the smoke failed)")
        except StackStartError as exc:
            error = f"{exc}: see its logs above"
        except GateTimeout as exc:
            error = str(exc)
    described = ("native, own free ports, small seed" if stack is None
                 else f"native, already running in {stack.state_dir}")  # fmt: skip
    codes = [step.exit_code for step in steps]
    if not error and any(c == 2 for c in codes):
        error = next(f for step in steps for f in step.failed if f.startswith("no verdict"))
    exit_code = 2 if error else (1 if any(codes) else 0)
    result = GateResult(
        exit_code,
        tuple(steps),
        out,
        time.monotonic() - started,
        {**s.as_dict(), "stack": described},
        error,
        report,
        report_error,
        commit,
        trend.verdict() if trend else "",
    )
    write_results(result)
    return result


def write_results(result: GateResult) -> None:
    from lab.gate.summary import gate_markdown

    (result.results / "gate.json").write_text(json.dumps(result.as_dict(), indent=2) + "\n")
    (result.results / "summary.md").write_text(gate_markdown(result))

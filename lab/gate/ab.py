"""`make ab BASE=<ref>`: the base build and the working tree measured side by side in one job,
judged against the noise their own A/A passes show.

BASE is checked out into a temporary git worktree (`gate.worktree`). One native stack of the
working tree's (its own free ports and folder) gives both builds the same MariaDB, Redis and
Prometheus; each build runs its own shop (`gate.shops`), both up for the whole job. After a
smoke against each (it warms their pools and proves both work), the short load runs against
them in ABBA order (base, head, head, base, ...) so that whatever the machine does meanwhile
falls on both. Per pass: the hold's achieved rate, p95 per endpoint (the tool's), the shop's
CPU per request (its processes' CPU time over the run, per request), with the machine speed
index and the other processes' CPU beside it. `gate.compare` judges the passes: the noise of
one build against itself (A/A) sets the interval of each ratio and the smallest change the run
could detect. Everything is stopped whatever happens.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from lab.capacity import speed
from lab.gate.compare import (
    FAMILY_ALPHA,
    IMPROVEMENT,
    METRICS,
    NOT_MEASURED,
    POWER,
    REGRESSION,
    Comparison,
    compare_all,
    order,
)
from lab.gate.perf_gate import GateTimeout, deadline, endpoint_p95s
from lab.gate.settings import AbSettings
from lab.gate.shops import Shop, ShopStartError, shops
from lab.gate.worktree import WorktreeError, checkout, resolve
from lab.load import run as loadtest
from lab.load.run import RunResult
from lab.load.scenarios import load_scenarios, scaled_seconds
from lab.load.settings import read_load_settings
from signals.client import Prometheus
from signals.load import latency_quantile, testid_matchers
from stack.processes import free_port
from stack.revision import git_commit
from stack.runner import StackStartError, native_stack
from stack.settings import REPO, StackSettings, ephemeral_env

Say = Callable[[str], None]
# Per run besides its stages: k6's start, the last remote write, the reads, the audit, the
# speed sample; generous, since the budget only guards against a hang and a busy machine
# (neighbours at several cores) stretches every step.
RUN_OVERHEAD_S = 45


class AbError(RuntimeError):
    """No comparison: a run without a verdict, a smoke that failed."""


@dataclass(frozen=True)
class Pass:
    build: str  # base or head
    testid: str | None
    exit_code: int  # the load runner's
    values: dict  # metric name -> value (None: not measured)
    results: str | None = None
    speed_index: float | None = None  # the machine speed index just before the pass
    others_cores: float | None = None  # what other processes (and steal) took meanwhile


@dataclass(frozen=True)
class AbResult:
    exit_code: int  # 0 no regression, 1 a regression, 2 no verdict
    comparisons: tuple[Comparison, ...]
    passes: tuple[Pass, ...]
    base_commit: str | None
    head_commit: str | None
    results: Path
    seconds: float
    settings: dict
    error: str = ""

    @property
    def passed(self) -> bool:
        return self.exit_code == 0

    @property
    def regressions(self) -> list[Comparison]:
        return [c for c in self.comparisons if c.verdict == REGRESSION]

    @property
    def improvements(self) -> list[Comparison]:
        return [c for c in self.comparisons if c.verdict == IMPROVEMENT]

    def detectable_line(self) -> str:
        """Stated before the verdict: the smallest change this run could have detected."""
        level = f"{(1 - FAMILY_ALPHA) * 100:g} % family-wise, {POWER * 100:g} % power"
        parts = ", ".join(
            f"{c.label} {c.detectable_text()}" for c in self.comparisons if c.detectable
        )
        passes = self.comparisons[0].passes if self.comparisons else (0, 0)
        noise = ", ".join(
            f"{c.label} ±{c.noise * 100:.0f} %" for c in self.comparisons if c.noise is not None
        )
        return (f"ab: smallest change this run could detect ({level}; A/A noise of one pass from "
                f"{passes[0]} base and {passes[1]} head passes: {noise or 'n/a'}): "
                f"{parts or 'n/a'}")  # fmt: skip

    def verdict_line(self) -> str:
        took = f"{self.seconds:.0f} s"
        if self.error:
            return f"ab: NO VERDICT ({took}): {self.error}"
        if self.regressions:
            worse = "; ".join(f"{c.label} {c.interval()}" for c in self.regressions)
            return f"ab: REGRESSION ({took}): {worse}"
        if self.improvements:
            better = "; ".join(f"{c.label} {c.interval()}" for c in self.improvements)
            return f"ab: IMPROVEMENT ({took}): {better}"
        ratios = ", ".join(f"{c.label} {c.interval()}" for c in self.comparisons)
        return f"ab: NO DIFFERENCE DETECTABLE AT THIS NOISE ({took}): {ratios}"

    def as_dict(self) -> dict:
        return {
            "passed": self.passed,
            "exit_code": self.exit_code,
            "detectable": self.detectable_line(),
            "verdict": self.verdict_line(),
            "error": self.error,
            "base_commit": self.base_commit,
            "head_commit": self.head_commit,
            "seconds": round(self.seconds, 1),
            "settings": self.settings,
            "comparisons": [c.as_dict() for c in self.comparisons],
            "passes": [asdict(p) for p in self.passes],
            "results": str(self.results),
        }


def hold_medians(prom: Prometheus, result: RunResult) -> dict[str, float | None]:
    """The median latency per endpoint over the run's hold, as the tool timed it (ms)."""
    hold = result.plan.hold_window(result.window.start) if result.plan and result.window else None
    if hold is None:
        return {}
    w = hold[0]
    matchers = testid_matchers(result.tool, result.testid)
    out = {}
    for endpoint in result.plan.endpoints:
        expr = latency_quantile(result.tool, 0.5, f"{max(1, int(w.seconds))}s",
                                matchers=matchers, endpoint=endpoint)  # fmt: skip
        seconds = prom.value(expr, at=w.end)
        out[f"{endpoint}_p50_ms"] = None if seconds is None else seconds * 1000
    return out


def pass_values(result: RunResult, cpu_s: float | None, medians: Mapping | None = None) -> dict:
    """A pass's metrics (pure): the hold's achieved rate (Prometheus; the tool's whole-run
    figure without it), the median per endpoint over the hold (Prometheus), the tool's p95 per
    endpoint, the shop's CPU ms per request."""
    summary = result.summary or {}
    hold = (result.observations.hold if result.observations else None) or {}
    requests_ = summary.get("requests") or 0
    medians = medians or {}
    p95s = endpoint_p95s(result)
    return {
        "rate": hold.get("rate") if hold.get("rate") is not None else summary.get("achieved_tps"),
        "orders_p50_ms": medians.get("orders_p50_ms"),
        "popular_p50_ms": medians.get("popular_p50_ms"),
        "orders_p95_ms": p95s.get("orders_p95_ms"),
        "popular_p95_ms": p95s.get("popular_p95_ms"),
        "cpu_ms_per_request": cpu_s / requests_ * 1000 if cpu_s is not None and requests_ else None,
    }


def shown(values: Mapping[str, float | None]) -> str:
    return ", ".join(
        f"{m.name} {'n/a' if values[m.name] is None else f'{values[m.name]:.2f}'}" for m in METRICS
    )


def run_against(
    shop: Shop,
    s: AbSettings,
    stack: StackSettings,
    env: Mapping[str, str],
    out: Path,
    scenario: str,
    say: Say,
) -> tuple[RunResult, float]:
    """One run of `scenario` against `shop`; its result and the shop's CPU seconds during it."""
    settings = read_load_settings(
        {
            **env,
            "SCENARIO": scenario,
            "TARGET_TPS": f"{s.target_tps:g}",
            "SCALE": f"{s.scale:g}" if scenario == "load" else "1",
            "SHOP_URL": shop.url,
            "PROMETHEUS_URL": stack.url("LOCAL_PROMETHEUS_PORT"),
            "SHOP_DATABASE_URL": stack.database_url,
            "RESULTS_ROOT": str(out / shop.build),
            # Whole runs, a threshold failed or not: a build slower than the SLO is measured,
            # not cut short (the comparison is of the runs, not of the thresholds).
            "ABORT_ON_FAIL": "0",
        }
    )
    before = shop.cpu_seconds()
    result = loadtest.run(settings, lambda line: say(f"{shop.build} {scenario}: {line}"))
    return result, shop.cpu_seconds() - before


def budget_s(s: AbSettings) -> float:
    """What the runs may take: two smokes, then every pass of both builds, with overheads."""
    load = sum(scaled_seconds(st["seconds"], s.scale) for st in load_scenarios()["load"]["stages"])
    return 2 * (5 + RUN_OVERHEAD_S) + 2 * s.passes * (load + RUN_OVERHEAD_S) + 60


def measure(
    s: AbSettings,
    trees: Mapping[str, Path],
    env: Mapping[str, str],
    stack: StackSettings,
    workdir: Path,
    out: Path,
    say: Say,
    passes: list[Pass],
) -> None:
    """The smokes, then the passes in ABBA order, appended to `passes` as they finish."""
    extra = {"base": s.base_env, "head": s.head_env}
    with shops(trees, env, extra, workdir, out) as running:
        for build, shop in running.items():
            say(f"{build}: shop {shop.url} (log {shop.log})")
        with deadline(budget_s(s)):
            for build, shop in running.items():
                result, _ = run_against(shop, s, stack, env, out, "smoke", say)
                if result.exit_code != 0:
                    why = result.verdict.error or "its checks failed"
                    raise AbError(f"the {build} build's smoke failed: {why} ({result.results})")
            prom = Prometheus(stack.url("LOCAL_PROMETHEUS_PORT"))
            turns = order(s.passes)
            for i, build in enumerate(turns, start=1):
                index = speed.measure(f"pass {i} {build}").index
                say(f"pass {i}/{len(turns)}: {build} (machine speed index {index:.2f})")
                result, cpu = run_against(running[build], s, stack, env, out, "load", say)
                if result.exit_code == 2:
                    raise AbError(f"{build} pass {i}: no verdict: {result.verdict.error}")
                n = result.neighbours
                values = pass_values(result, cpu, hold_medians(prom, result))
                p = Pass(build, result.testid, result.exit_code, values, str(result.results),
                         index, n.neighbour_cores + n.steal_cores if n else None)  # fmt: skip
                say(f"pass {i}/{len(turns)} {build}: {shown(p.values)}")
                passes.append(p)


def compare_builds(s: AbSettings, say: Say = lambda _: None) -> AbResult:
    """The A/B for AbSettings `s`. A BASE that names no commit raises WorktreeError before
    anything starts; Ctrl-C stops the runs, the shops and the stack, then propagates."""
    base_sha = resolve(s.base)
    started = time.monotonic()
    out = s.results_root / f"ab-{time.strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True, exist_ok=True)
    say(f"results: {out}")
    passes: list[Pass] = []
    error, base_commit, head = "", None, git_commit()
    with tempfile.TemporaryDirectory(prefix="shoplab-ab-") as tmp:
        workdir = Path(tmp)
        try:
            with checkout(base_sha, workdir / "base") as base_tree:
                base_commit = git_commit(base_tree)
                say(f"base {s.base} = {base_commit} in {base_tree}; head {head} (this tree)")
                say(f"{s.passes} passes per build, ABBA order; the A/A noise sets the tolerance")
                env = ephemeral_env(workdir / "stack", free_port, s.environ)
                with native_stack(env) as stack:
                    trees = {"base": base_tree, "head": REPO}
                    measure(s, trees, env, stack, workdir, out, say, passes)
        except (AbError, ShopStartError, WorktreeError, StackStartError, GateTimeout) as exc:
            error = str(exc)
    comparisons = tuple(compare_all([(p.build, p.values) for p in passes]))
    if not error and any(c.verdict == NOT_MEASURED for c in comparisons):
        error = "a metric was not measured: " + ", ".join(
            c.label for c in comparisons if c.verdict == NOT_MEASURED
        )
    exit_code = 2 if error else (1 if any(c.verdict == REGRESSION for c in comparisons) else 0)
    result = AbResult(exit_code, comparisons, tuple(passes), base_commit, head, out,
                      time.monotonic() - started, s.as_dict(), error)  # fmt: skip
    write_results(result)
    return result


def write_results(result: AbResult) -> None:
    from lab.gate.summary import ab_markdown

    (result.results / "ab.json").write_text(json.dumps(result.as_dict(), indent=2) + "\n")
    (result.results / "summary.md").write_text(ab_markdown(result))

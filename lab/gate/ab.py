"""`make ab BASE=<ref>`: the base build and the working tree measured side by side in one job.

BASE is checked out into a temporary git worktree. One native stack of the working tree's (its
own free ports and folder) gives both builds the same MariaDB, Redis and Prometheus; each build
runs its own shop (the service table's command line, from its own tree, on a port of its own),
both up for the whole job. After a smoke against each (it warms their pools and proves both
work), the gate's short load runs against them in turn, base, head, base, head, ... so that
whatever the machine does meanwhile falls on both. Per pass: the hold's achieved rate, p95 per
endpoint (the tool's), and the shop's CPU per request (its processes' CPU time over the run,
per request). `gate.compare` judges each build by its best pass. Everything is stopped
whatever happens.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from lab.gate.compare import METRICS, Comparison, compare_all
from lab.gate.run import GateTimeout, deadline
from lab.gate.settings import AbSettings
from lab.load import run as loadtest
from lab.load.run import RunResult
from lab.load.scenarios import load_scenarios, scaled_seconds
from lab.load.settings import read_load_settings
from stack import cgroups, services
from stack.processes import free_port, group_alive, readiness, stop_group
from stack.runner import StackStartError, native_stack
from stack.settings import REPO, StackSettings, ephemeral_env, read_stack_settings

Say = Callable[[str], None]
READY_TIMEOUT_S = 60
# Per run besides its stages: k6's start, the last remote write, the reads, the audit.
RUN_OVERHEAD_S = 30
_ASSIGNMENT = re.compile(r"^[A-Za-z_]\w*=")


class AbError(RuntimeError):
    """No comparison: a bad ref, a shop that did not start, a run without a verdict."""


@dataclass(frozen=True)
class Pass:
    build: str  # base or head
    testid: str | None
    exit_code: int  # the load runner's
    values: dict  # metric name -> value (None: not measured)
    results: str | None = None


@dataclass(frozen=True)
class AbResult:
    exit_code: int  # 0 every metric within tolerance, 1 a regression, 2 no verdict
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
        return [c for c in self.comparisons if c.verdict == "WORSE"]

    def verdict_line(self) -> str:
        took = f"{self.seconds:.0f} s"
        if self.error:
            return f"ab: NO VERDICT ({took}): {self.error}"
        ratios = ", ".join(
            f"{c.label} {'n/a' if c.ratio is None else f'x{c.ratio:.2f}'}" for c in self.comparisons
        )
        if self.passed:
            return f"ab: PASS ({took}): head/base within tolerance: {ratios}"
        worse = "; ".join(
            f"{c.label} x{c.ratio:.2f} (allowed {c.allowance()})" for c in self.regressions
        )
        return f"ab: REGRESSION ({took}): {worse}"

    def as_dict(self) -> dict:
        return {
            "passed": self.passed,
            "exit_code": self.exit_code,
            "verdict": self.verdict_line(),
            "error": self.error,
            "base_commit": self.base_commit,
            "head_commit": self.head_commit,
            "seconds": round(self.seconds, 1),
            "settings": self.settings,
            "comparisons": [{**asdict(c), "allowed": c.allowed} for c in self.comparisons],
            "passes": [asdict(p) for p in self.passes],
            "results": str(self.results),
        }


# --- the builds ---------------------------------------------------------------------------------


def git(*args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(REPO), *args], capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        raise AbError(f"git {args[0]}: {why}")
    return done.stdout.strip()


def head_commit() -> str:
    """The working tree: HEAD's short hash, marked when it has uncommitted changes."""
    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    return git("rev-parse", "--short", "HEAD") + (" + uncommitted changes" if dirty else "")


def resolve(ref: str) -> str:
    """The commit `ref` names; AbError (bad input: one line) when it names none."""
    try:
        return git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except AbError:
        raise AbError(f"BASE={ref!r} is not a commit of this repository") from None


@contextmanager
def checkout(sha: str, where: Path) -> Iterator[str]:
    """Commit `sha` checked out (detached) at `where` for the body; its short hash."""
    git("worktree", "add", "--detach", str(where), sha)
    try:
        yield sha[:7]
    finally:
        with suppress(AbError, subprocess.TimeoutExpired):
            git("worktree", "remove", "--force", str(where))


def in_tree(command: list[str], tree: Path) -> list[str]:
    """The shop's command line with its own files (any path under shop/) taken from `tree`."""
    own = str(REPO / "shop") + "/"
    return [
        str(tree / "shop") + "/" + part[len(own) :] if part.startswith(own) else part
        for part in command
    ]


def with_env(command: list[str], extra: Mapping[str, str]) -> list[str]:
    """`extra` set for the command: after the row's own `env K=V` assignments, so it wins."""
    pairs = [f"{k}={v}" for k, v in extra.items()]
    if not pairs:
        return command
    if command[:1] != ["env"]:
        return ["env", *pairs, *command]
    i = 1
    while i < len(command) and _ASSIGNMENT.match(command[i]):
        i += 1
    return [*command[:i], *pairs, *command[i:]]


@dataclass
class Shop:
    build: str
    url: str
    proc: subprocess.Popen
    cgroup: str
    log: Path

    def cpu_seconds(self) -> float:
        """User + system CPU of the shop's server process and its workers so far."""
        total = 0.0
        try:
            procs = [psutil.Process(self.proc.pid)]
            procs += procs[0].children(recursive=True)
        except psutil.NoSuchProcess:
            return total
        for p in procs:
            with suppress(psutil.NoSuchProcess):
                t = p.cpu_times()
                total += t.user + t.system
        return total

    def stop(self) -> None:
        stop_group(self.proc)
        # A cgroup goes only once empty: wait for the workers the SIGKILL reached.
        end = time.monotonic() + 10
        while time.monotonic() < end and group_alive(self.proc.pid):
            time.sleep(0.1)
        cgroups.remove([self.cgroup])


def require_server(tree: Path, build: str) -> None:
    """Both builds start as the service table says (`python -m shop.serve`, run in the tree):
    a tree from before that module cannot be compared by this A/B."""
    if not (tree / "shop" / "serve.py").exists():
        raise AbError(f"the {build} tree predates shop/serve.py (the shop's server since the "
                      "move to granian): compare commits from that one on")  # fmt: skip


def start_shop(
    build: str,
    tree: Path,
    env: Mapping[str, str],
    extra: Mapping[str, str],
    state: Path,
    log: Path,
) -> Shop:
    """`tree`'s shop on a free port against `env`'s stack (its MariaDB and Redis), as the
    service table runs it, with `extra` environment, its output in `log`; ready, or AbError."""
    require_server(tree, build)
    state.mkdir(parents=True, exist_ok=True)
    # One shop process as the table runs it, without the replicas' keeper or nginx: the
    # base tree may predate both, and the A/B measures the shop alone.
    s = read_stack_settings(
        {**env, "LOCAL_STATE_DIR": str(state), "LOCAL_SHOP_REPLICA_PORT": str(free_port())}
    )
    process = services.NativeProcess(services.SERVICES["shop"])
    command = with_env(in_tree(services.native_command(process, s), tree), extra)
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            command,
            cwd=tree,
            env={**env, "PYTHONPATH": str(tree)},
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    shop = Shop(build, s.url("LOCAL_SHOP_REPLICA_PORT"), proc, s.cgroup("shop"), log)
    end = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < end and proc.poll() is None and readiness(shop.url) is None:
        time.sleep(0.3)
    if proc.poll() is not None or readiness(shop.url) is None:
        shop.stop()
        raise AbError(f"the {build} shop did not become ready; its log: {log}")
    return shop


@contextmanager
def shops(
    trees: Mapping[str, Path], env: Mapping[str, str], s: AbSettings, workdir: Path, out: Path
) -> Iterator[dict[str, Shop]]:
    """Both builds' shops for the body (their logs: out/shop-<build>.log), stopped after it
    whatever happens."""
    extra = {"base": s.base_env, "head": s.head_env}
    with ExitStack() as stack:
        running = {}
        for build, tree in trees.items():
            running[build] = start_shop(
                build, tree, env, extra[build], workdir / f"shop-{build}", out / f"shop-{build}.log"
            )
            stack.callback(running[build].stop)
        yield running


# --- the passes ---------------------------------------------------------------------------------


def pass_values(result: RunResult, cpu_s: float | None) -> dict:
    """A pass's metrics (pure): the hold's achieved rate (Prometheus; the tool's whole-run
    figure without it), the tool's p95 per endpoint, the shop's CPU ms per request."""
    summary = result.summary or {}
    hold = (result.observations.hold if result.observations else None) or {}
    endpoints = summary.get("endpoints", {})
    requests_ = summary.get("requests") or 0
    return {
        "rate": hold.get("rate") if hold.get("rate") is not None else summary.get("achieved_tps"),
        "orders_p95_ms": endpoints.get("POST /api/orders", {}).get("p95_ms"),
        "popular_p95_ms": endpoints.get("GET /api/products/popular", {}).get("p95_ms"),
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
    trees: Mapping[str, str | Path],
    env: Mapping[str, str],
    stack: StackSettings,
    workdir: Path,
    out: Path,
    say: Say,
    passes: list[Pass],
) -> None:
    """The smokes, then the interleaved passes, appended to `passes` as they finish."""
    with shops({b: Path(t) for b, t in trees.items()}, env, s, workdir, out) as running:
        for build, shop in running.items():
            say(f"{build}: shop {shop.url} (log {shop.log})")
        with deadline(budget_s(s)):
            for build, shop in running.items():
                result, _ = run_against(shop, s, stack, env, out, "smoke", say)
                if result.exit_code != 0:
                    why = result.verdict.error or "its checks failed"
                    raise AbError(f"the {build} build's smoke failed: {why} ({result.results})")
            for i in range(1, s.passes + 1):
                for build, shop in running.items():
                    say(f"pass {i}/{s.passes}: {build}")
                    result, cpu = run_against(shop, s, stack, env, out, "load", say)
                    if result.exit_code == 2:
                        raise AbError(f"{build} pass {i}: no verdict: {result.verdict.error}")
                    p = Pass(
                        build,
                        result.testid,
                        result.exit_code,
                        pass_values(result, cpu),
                        str(result.results),
                    )
                    say(f"pass {i}/{s.passes} {build}: {shown(p.values)}")
                    passes.append(p)


def compare_builds(s: AbSettings, say: Say = lambda _: None) -> AbResult:
    """The A/B for AbSettings `s`. A BASE that names no commit raises AbError before anything
    starts; Ctrl-C stops the runs, the shops and the stack, then propagates."""
    base_sha = resolve(s.base)
    started = time.monotonic()
    out = s.results_root / f"ab-{time.strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True, exist_ok=True)
    say(f"results: {out}")
    passes: list[Pass] = []
    error, base_commit, head = "", None, None
    with tempfile.TemporaryDirectory(prefix="shoplab-ab-") as tmp:
        workdir = Path(tmp)
        try:
            head = head_commit()
            with checkout(base_sha, workdir / "base") as base_commit:
                say(f"base {s.base} = {base_commit} in {workdir / 'base'}; head {head} (this tree)")
                env = ephemeral_env(workdir / "stack", free_port, s.environ)
                with native_stack(env) as stack:
                    trees = {"base": workdir / "base", "head": REPO}
                    measure(s, trees, env, stack, workdir, out, say, passes)
        except (AbError, StackStartError, GateTimeout) as exc:
            error = str(exc)
    comparisons = tuple(compare_all([(p.build, p.values) for p in passes]))
    if not error and any(c.verdict == "n/a" for c in comparisons):
        error = "a metric was not measured: " + ", ".join(
            c.label for c in comparisons if c.verdict == "n/a"
        )
    worse = any(c.verdict == "WORSE" for c in comparisons)
    exit_code = 2 if error else (1 if worse else 0)
    result = AbResult(
        exit_code,
        comparisons,
        tuple(passes),
        base_commit,
        head,
        out,
        time.monotonic() - started,
        s.as_dict(),
        error,
    )
    write_results(result)
    return result


def write_results(result: AbResult) -> None:
    from lab.gate.summary import ab_markdown

    (result.results / "ab.json").write_text(json.dumps(result.as_dict(), indent=2) + "\n")
    (result.results / "summary.md").write_text(ab_markdown(result))

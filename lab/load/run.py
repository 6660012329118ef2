"""One load run, start to verdict: `run(settings) -> RunResult`.

Checks the shop (and switches the native stack's strategy in-process if asked), resolves the
plan, runs the tool on it, reads back what Prometheus saw (`observe`) and judges it
(`lab.load.verdict`). Progress goes to a `say` callback; nothing here prints.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from lab.load import neighbours, queries, tools
from lab.load.neighbours import NeighbourCpu
from lab.load.scenarios import Plan, Window, resolve
from lab.load.settings import LoadSettings
from lab.load.verdict import (
    Observations,
    Verdict,
    fmt,
    judge,
    no_verdict,
    pct,
    spike_horizon,
)
from signals.client import Prometheus
from stack.settings import StackSettings
from targets import Audit

Say = Callable[[str], None]
PROGRESS_EVERY_S = 10
# Seconds after the tool exits for its last remote write (k6) or scrape (Locust) to land.
LAST_WRITE_S = 7
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
# The window (seconds) of the series the spike's recovery is read from.
RECOVERY_WINDOW_S = 5
AUDIT_COMMAND_TIMEOUT_S = 120  # a target's own books check: bounded as everything else


@dataclass(frozen=True)
class RunResult:
    testid: str
    tool: str
    exit_code: int  # 0 PASS or reported, 1 FAIL, 2 no verdict (shop down, tool failed, ...)
    verdict: Verdict
    plan: Plan | None = None
    window: Window | None = None  # the load's (start, end), epoch seconds
    summary: dict | None = None
    results: Path | None = None
    observations: Observations | None = None
    generator_cpu_s: float | None = None  # CPU seconds of the load tool's processes
    neighbours: NeighbourCpu | None = None  # what other processes of the machine used meanwhile


def readiness(url: str, path: str = "/readyz") -> tuple[bool, str | None]:
    """Whether the service at `url` answers `path` with 2xx, and the order strategy a shop of
    ours says it runs (None for any other service)."""
    from stack.processes import readiness  # lazily: compose's load containers have no stack/

    answer = readiness(url, timeout=5, path=path)
    return answer is not None, (answer or {}).get("order_strategy")


def restart_native_stack(s: LoadSettings, stack: StackSettings, why: str, say: Say) -> bool:
    """The native stack running with `stack` (`stack.runner.switch`: the shop's replicas alone
    when only their knobs change, else down and up; data and Prometheus history kept)."""
    from lab.report.server import SHOP_STARTS
    from stack import runner

    say(f"restarting the native stack {why} (data is kept)")
    prom = Prometheus(s.prometheus_url) if s.prometheus_url and not stack.target.external else None
    # The start time the old shop reported, as Prometheus holds it: the new one's is later. (A
    # start time is the kernel's boot time plus ticks, which may lag the wall clock by seconds:
    # compared with time.time() it made a quick restart look as if it had not happened.)
    old = prom.value(f"max({SHOP_STARTS})") if prom else None
    if runner.switch(stack) != 0:
        say("the native stack's restart failed (see above)")
        return False
    if prom is not None:
        # The new shop's counters start again from 0: once Prometheus has scraped it before
        # the run, the run's window opens on the new values, not on the old process's last.
        newer = f"min({SHOP_STARTS}) > {old!r}" if old is not None else f"min({SHOP_STARTS})"
        try:
            prom.wait_for(newer, timeout=60)
        except TimeoutError as exc:
            say(f"the restarted shop is not in Prometheus yet: {exc}")
    return True


def _as_running(stack: StackSettings) -> StackSettings:
    """The settings the native stack runs with now (its replicas, limits, sales mode), so that a
    switch of the strategy or the target changes that and nothing else; `stack` when unknown."""
    from stack.runner import running_settings

    return running_settings(stack) or stack


def _switch_target(s: LoadSettings, say: Say) -> str | None:
    """The native stack onto the run's target if it runs another; why not, or None."""
    from stack.runner import running_target

    running = running_target(s.stack)
    if running is None:
        return None  # not up: the readiness check says so
    if Path(running) == s.target.source or running == s.target.name:
        return None
    new = _as_running(s.stack).with_target(s.target)
    if not restart_native_stack(s, new, f"for TARGET={s.target.name} (it ran {running})", say):
        return "could not restart the native stack"
    return None


def client_window(prom: Prometheus, q: queries.Queries, start: float, end: float) -> dict:
    """Each client signal over [start, end], read at `end`."""
    seconds = max(1, int(end - start))
    return {name: prom.value(expr, at=end) for name, expr in q(seconds).items()}


def observe(plan: Plan, tool: str, prom: Prometheus, started: float, duration_s: float):
    """What the verdict needs from Prometheus about a load that began at `started`."""
    q = queries.client_queries(tool, plan.testid, plan.endpoints)
    now = time.time()
    obs = {"started": started, "ended": now, "deadlocks": deadlocks_during(prom, started, now)}
    hold = plan.hold_window(started)
    if plan.report == "thresholds" and hold and started + duration_s >= hold[0].end:
        obs["hold"] = client_window(prom, q, hold[0].start, hold[0].end)
        if plan.slo.get("drift"):
            obs["drift"] = drift_windows(prom, plan, tool, hold[0])
    if plan.report == "steps":
        obs["steps"] = [client_window(prom, q, s.window.start, s.window.end)
                        for s in plan.stress_steps(started)]  # fmt: skip
    if plan.report == "recovery":
        spike = plan.spike_window(started)
        after = (spike.end, spike.end + spike_horizon(plan))
        obs["spike"] = {
            "baseline": client_window(prom, q, started + 10 * plan.scale, spike.start),
            "during": client_window(prom, q, spike.start, spike.end),
            **{name: prom.series(q(RECOVERY_WINDOW_S)[name], *after, step=1)
               for name in ("errors", f"{plan.primary}_p95")},
        }  # fmt: skip
    return Observations(**obs)


def deadlocks_during(prom: Prometheus, started: float, ended: float) -> float | None:
    """The server's deadlocks over the run, from the counter's raw samples as the deck counts
    them (lab.report.server.grown: exact, a restart a reset, nothing extrapolated); None when
    Prometheus has no counter."""
    from lab.report.prometheus import Prometheus as Samples
    from lab.report.server import Span, grown

    samples = Samples(prom.url)
    span = Span.of_run(started, ended, samples.scrape_interval())
    counted = grown(samples, "innodb_deadlocks_total", span)
    return sum(counted.values()) if counted else None


def drift_windows(prom: Prometheus, plan: Plan, tool: str, hold: Window) -> dict:
    """The soak's drift measures over the first and the last tenth of its hold."""
    tenth = max(5.0, hold.seconds / 10)
    d = queries.drift_queries(tool, plan.testid, plan.endpoints)
    return {
        "first": client_window(prom, d, hold.start, hold.start + tenth),
        "last": client_window(prom, d, hold.end - tenth, hold.end),
    }


def _progress(plan, tool, prom, started, done: threading.Event, say: Say) -> None:
    q = queries.client_queries(tool, plan.testid, plan.endpoints)
    while not done.wait(PROGRESS_EVERY_S):
        elapsed = time.time() - started
        line = f"{elapsed:5.0f}s / {plan.seconds:.0f}s"
        if prom:
            w = client_window(prom, q, max(started, time.time() - 10), time.time())
            p95s = "  ".join(f"{name} p95 {fmt(w[f'{name}_p95'], ' ms')}"
                             for name in plan.endpoints)  # fmt: skip
            line += (f"  achieved {fmt(w['rate'], '/s')}  {p95s}"
                     f"  errors {fmt(pct(w['errors']), ' %')}")  # fmt: skip
        say(line)


def write_run_record(s: LoadSettings, results: Path, strategy: str | None) -> None:
    """What ran beyond the tool's summary, for the run report (results/<testid>/run.json)."""
    from stack.revision import git_commit

    record = {
        "strategy": strategy,
        "scale": s.scale,
        "hot_users": s.hot_users,
        "hot_ratio": s.hot_ratio,
        "order_ratio": s.order_ratio,
        "git_commit": git_commit(),
    }
    if s.stack is not None and not s.target.external:  # a service the user runs: not ours to say
        record["limits"] = {}
        for name, key in (("shop", "SHOP"), ("mysql", "MYSQL")):
            # The shop's limits are per replica: the run had all of its replicas' together.
            copies = s.stack.replicas if name == "shop" else 1
            record["limits"][name] = {
                "cpus": s.stack.number(f"LOCAL_{key}_CPUS") * copies,
                "memory_bytes": s.stack.memory_bytes(f"LOCAL_{key}_MEMORY") * copies,
                "replicas": copies,
            }
    (results / "run.json").write_text(json.dumps(record, indent=2) + "\n")


def stack_roots(s: LoadSettings) -> list[int]:
    """The pids whose process trees are the service's side of the run, not neighbours: the
    native stack's supervisor (a stack started in-process by a test is this process's tree
    already) and, for a service the user runs here, what listens on its app's and database's
    loopback ports."""
    from stack.processes import listening_pids
    from stack.runner import supervisor_pid

    pid = supervisor_pid(s.stack) if s.stack is not None else None
    return ([pid] if pid else []) + (listening_pids(own_ports(s)) if s.target.external else [])


def own_ports(s: LoadSettings) -> list[int]:
    """The loopback ports of an external target's app and database."""
    app = urlsplit(s.base_url)
    dsn = s.target.dsn
    places = [(app.hostname, app.port or 80)] + ([(dsn.host, dsn.port)] if dsn else [])
    return [port for host, port in places if host in LOOPBACK_NAMES]


def database_url(s: LoadSettings) -> str | None:
    """The target's database: SHOP_DATABASE_URL when set, else the native stack's (an external
    target's `database.dsn`), else the target's DSN without a stack."""
    if s.environ.get("SHOP_DATABASE_URL"):
        return s.environ["SHOP_DATABASE_URL"]
    return s.stack.database_url if s.stack is not None else s.target.database_url


def audit_run(s: LoadSettings, results: Path, say: Say) -> dict | None:
    """The target's books (its file's `audit`) and, for the shop's books, the run's order log
    reconciled with the stored orders (results/<testid>/audit.json); None without an audit."""
    check = s.target.audit
    url = database_url(s)
    if not (check.books or check.command or check.sql):
        say(f"audit: {check.described}")
        return None
    if check.command is None and url is None:
        return None
    try:
        outcome = target_audit(check, url, results)
    except Exception as exc:  # the database is unreachable, the log torn: said, not hidden
        say(f"audit: could not run: {str(exc).splitlines()[0]}")
        outcome = {"passed": False, "broken_invariants": {"the audit could not run": 1},
                   "reconciliation": None}  # fmt: skip
    (results / "audit.json").write_text(json.dumps(outcome, indent=2) + "\n")
    return outcome


def target_audit(check: Audit, url: str | None, results: Path) -> dict:
    """One audit as audit.json holds it: the shop's books and reconciliation, or the target's
    command (exit 0) or SQL (one number, 0) saying the books balance."""
    if check.books:
        from lab.audit.audit_run import audit

        return audit(url, results).as_dict()
    if check.command:
        done = subprocess.run(check.command, shell=True, capture_output=True, text=True,
                              timeout=AUDIT_COMMAND_TIMEOUT_S)  # fmt: skip
        broken = {} if done.returncode == 0 else {f"`{check.command}` exited {done.returncode}": 1}
    else:
        from sqlalchemy import create_engine, text

        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                value = conn.execute(text(check.sql)).scalar()
        finally:
            engine.dispose()
        broken = {} if value == 0 else {f"the target's SQL check answered {value}": 1}
    return {"passed": not broken, "broken_invariants": broken, "reconciliation": None}


def plan_of(s: LoadSettings, testid: str, results_dir: str) -> Plan:
    """The settings' scenario resolved for run `testid`, writing to `results_dir`."""
    return resolve(s.scenarios, s.scenario, target=s.target.as_plan(), target_tps=s.target_tps,
                   scale=s.scale, hot_users=s.hot_users, hot_ratio=s.hot_ratio,
                   order_ratio=s.order_ratio, base_url=s.base_url, testid=testid,
                   results_dir=results_dir, abort_on_fail=s.abort_on_fail)  # fmt: skip


def _refused(s: LoadSettings, testid: str, message: str) -> RunResult:
    return RunResult(testid, s.tool, 2, Verdict(2, [], message))


def run(s: LoadSettings, say: Say = lambda _: None, testid: str = "") -> RunResult:
    """`testid` (default: tool, scenario and time) names the run's series and results folder."""
    testid = testid or f"{s.tool}-{s.scenario}-{time.strftime('%Y%m%d-%H%M%S')}"
    if s.prometheus_url and not Prometheus(s.prometheus_url).ready():
        say(f"no Prometheus at {s.prometheus_url}: running without it (no remote write, no "
            "step or recovery analysis)")  # fmt: skip
        s = s.without_prometheus()
    if s.stack is not None and (error := _switch_target(s, say)):
        return _refused(s, testid, error)
    ready, running = readiness(s.base_url, s.target.ready)
    if not ready:
        if not s.native or s.target.external:
            return _refused(s, testid, f"the service at {s.base_url} is not ready: GET "
                            f"{s.target.ready} answered no 2xx")  # fmt: skip
        start = "make local-up" + ("" if s.target.name == "shop" else f" TARGET={s.target.name}")
        return _refused(s, testid, f"the {s.target.name} at {s.base_url} is not ready: start "
                        f"it ({start}) or set SHOP_URL")  # fmt: skip
    if s.strategy and running != s.strategy:
        if not s.can_restart or running is None:
            return _refused(
                s,
                testid,
                f"the service at {s.base_url} runs the {running} strategy, "
                f"not {s.strategy}: restart it with SHOP_ORDER_STRATEGY={s.strategy}",
            )
        stack = _as_running(s.stack).with_values(LOCAL_ORDER_STRATEGY=s.strategy)
        if not restart_native_stack(s, stack, f"with LOCAL_ORDER_STRATEGY={s.strategy}", say):
            return _refused(s, testid, "could not restart the native stack")
        running = readiness(s.base_url, s.target.ready)[1]
        if running != s.strategy:
            return _refused(s, testid, f"the service at {s.base_url} runs the {running} strategy "
                            f"after the restart, not {s.strategy}: `make local-down`, then "
                            "run again")  # fmt: skip
    if running:
        say(f"{s.target.name} runs the {running} order strategy")
    results = s.results_root / testid
    results.mkdir(parents=True, exist_ok=True)
    plan = plan_of(s, testid, str(results))
    (results / "plan.json").write_text(plan.to_json() + "\n")
    say(f"{s.tool} {s.scenario}: {plan.description}; TARGET_TPS {s.target_tps:g}, "
        f"SCALE {s.scale:g} (~{plan.seconds:.0f} s), HOT_USERS {s.hot_users}, "
        f"testid {testid}")  # fmt: skip
    say(f"results: {results}")
    write_run_record(s, results, running)
    prom = Prometheus(s.prometheus_url) if s.prometheus_url else None
    started = time.time()
    done = threading.Event()
    ticker = threading.Thread(target=_progress, args=(plan, s.tool, prom, started, done, say),
                              daemon=True)  # fmt: skip
    try:
        tools.register_locust_target(s, True)
        ticker.start()
        ledger = neighbours.start(stack_roots(s))
        tool = tools.run_tool(s, plan, results, say)
        ended = time.time()
        others = ledger.stop() if ledger else None
        time.sleep(LAST_WRITE_S if prom else 0)
    finally:
        done.set()
        tools.register_locust_target(s, False)
    summary_file = results / f"{s.tool}-summary.json"
    summary = json.loads(summary_file.read_text()) if summary_file.exists() else None
    obs = None
    if prom and not no_verdict(s.tool, summary, tool.exit_code, ""):
        # The load itself started here (Locust may first wait for a scrape, k6 runs its setup).
        started = summary.get("started_at") or started
        obs = observe(plan, s.tool, prom, started, summary["duration_s"])
        (results / "observations.json").write_text(json.dumps(obs.to_dict(), indent=2) + "\n")
    if others is not None:
        (results / "neighbours.json").write_text(json.dumps(others.as_dict(), indent=2) + "\n")
    books = audit_run(s, results, say) if summary else None
    verdict = judge(plan, s.tool, summary, tool.exit_code, obs, results=str(results),
                    generator_cpu_s=tool.cpu_s, wall_s=ended - started, audit=books,
                    neighbours=others)  # fmt: skip
    return RunResult(testid, s.tool, verdict.exit_code, verdict, plan, Window(started, ended),
                     summary, results, obs, tool.cpu_s, others)  # fmt: skip

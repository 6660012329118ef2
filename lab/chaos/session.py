"""One chaos run: `run(settings) -> ChaosResult`. A native stack of its own, and per fault a
steady load (`lab.load.run`, scenario `chaos`) with the fault injected mid-hold and removed
after its time; then what it did: longest request, errors, recovery, alert, audit."""

from __future__ import annotations

import json
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import psutil
import pymysql
import requests

from lab.chaos import actions, measure
from lab.chaos.actions import FaultError, Stack
from lab.chaos.faults import HOT_USERS, Fault, select
from lab.load import run as loadtest
from lab.load.run import RunResult, plan_of
from lab.load.scenarios import Plan, Stage
from lab.load.settings import KNOBS as LOAD_KNOBS
from lab.load.settings import LoadSettings, LoadSettingsError, read_load_settings
from lab.results import results_root
from shop.settings import Settings as ShopSettings
from signals.client import Prometheus
from signals.load import requests as tool_requests
from signals.load import testid_matchers
from stack import runner
from stack.processes import free_port, readiness
from stack.settings import StackSettings, ephemeral_env, parse_duration, read_stack_settings

Say = Callable[[str], None]
# Alerts fire within seconds on the chaos stack (its rules' `for:` capped at this).
ALERT_FOR_MAX = "5s"
# A shop big enough that seven loads of orders on hot users never run out of anything.
CHAOS_STACK = {"LOCAL_SEED_USERS": "1000", "LOCAL_SEED_PRODUCTS": "100"}
# The fault goes in this far into the load's hold (a share of it, at least MIN_LEAD_S) ...
LEAD_SHARE, MIN_LEAD_S = 0.15, 5.0
# ... and the hold goes on at least this long after its removal, to see the recovery (a fault
# gets a longer load than SCALE says when it needs one).
MIN_AFTER_S = measure.RECOVERY_TARGET_S + 2
# How long the stack may take to be whole again after a fault (then the run stops).
HEAL_TIMEOUT_S = 60.0
# How long to wait, after the last fault, for the alerts' notifications: the firing ones come
# within group_wait; a resolved one with the group's next notification (group_interval 1 m)
# after the rule's window (rate over 2 m) has emptied.
ALERT_WAIT_S = {"resolved": 240.0, "fired": 60.0}
# Slack over the shop's own timeout for the longest request (the tool's clock and queueing).
TIMEOUT_SLACK_S = 1.0


class ChaosError(RuntimeError):
    """The run could not go on (the stack did not heal, a knob is wrong); one line."""


@dataclass(frozen=True)
class ChaosSettings:
    faults: tuple[Fault, ...]
    load: Mapping[str, str]  # TOOL, TARGET_TPS, SCALE as the load runner reads them
    results_root: Path
    environ: Mapping[str, str]
    # After the last fault, wait for each alert to have "resolved" (make chaos) or only
    # "fired" (the suite's short run).
    alert_wait: str = "resolved"
    # The stack's state (data, logs, alerts.jsonl); None: a temporary folder, removed after.
    state_dir: Path | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ChaosSettings:
        try:
            faults = tuple(select(env.get("FAULT") or "all"))
        except ValueError as exc:
            raise ChaosError(str(exc)) from None
        load = {k: env[k] for k in ("TOOL", "TARGET_TPS", "SCALE") if env.get(k)}
        try:
            checked = read_load_settings({**load, "SCENARIO": "chaos"})
        except LoadSettingsError as exc:
            raise ChaosError(str(exc)) from None
        root = results_root(env)
        return cls(faults, {**load, "TOOL": checked.tool, "SCALE": f"{checked.scale:g}"}, root,
                   own_environ(env))  # fmt: skip


def own_environ(env: Mapping[str, str]) -> dict[str, str]:
    """`env` without what would point the run at another stack or shape another load: the
    stack's and the shop's settings, the load runner's knobs (chaos sets its own)."""
    knobs = set(LOAD_KNOBS) | {"FAULT"}
    return {k: v for k, v in env.items()
            if not k.startswith(("LOCAL_", "SHOP_")) and k not in knobs}  # fmt: skip


@dataclass
class FaultResult:
    fault: str
    testid: str
    injected: float | None = None  # epoch seconds
    removed: float | None = None
    longest_ms: float | None = None
    longest_endpoint: str = ""
    timeout_s: float = 0.0  # the shop's own timeout: no request may take longer
    requests_during: int = 0
    errors_during: float | None = None
    requests_after: int = 0
    errors_after: float | None = None
    recovery_s: float | None = None  # None: not healthy within HEAL_TIMEOUT_S
    # Requests sent once the stack said it was healthy again that failed anyway.
    failed_after_healthy: int | None = None
    expected_alerts: tuple[str, ...] = ()
    alert: str = ""
    alert_fired_s: float | None = None  # after injection
    alert_resolved_s: float | None = None  # after removal
    other_alerts: list[str] = field(default_factory=list)
    lost: int | None = None
    double_charged: int | None = None
    unacknowledged: int | None = None
    audit_passed: bool = False
    remote_write: dict | None = None  # {"tool": n, "prometheus": m} for a Prometheus fault
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems

    def longest_allowed_ms(self) -> float:
        """No request may take longer: the shop's own timeout, and slack for the tool's clock."""
        return (self.timeout_s + TIMEOUT_SLACK_S) * 1000

    def behaviour_problems(self) -> list[str]:
        """What broke of the fault's expectations, but the recovery target's seconds (which a
        machine busy with other work may miss while behaving): healthy again within
        HEAL_TIMEOUT_S, no request past the shop's timeout, the books, the alert, the series."""
        p = []
        if self.recovery_s is None:
            p.append(f"not healthy within {HEAL_TIMEOUT_S:.0f} s of the removal")
        if self.longest_ms is not None and self.longest_ms > self.longest_allowed_ms():
            p.append(f"a request took {self.longest_ms / 1000:.1f} s, past the shop's "
                     f"{self.timeout_s:.0f} s timeout")  # fmt: skip
        if not self.audit_passed:
            p.append(f"audit failed: {self.lost} lost, {self.double_charged} double-charged")
        if self.expected_alerts and not self.alert:
            p.append(f"none of {', '.join(self.expected_alerts)} fired")
        rw = self.remote_write
        if rw is not None and rw["tool"] != rw["prometheus"]:
            p.append(f"Prometheus stored {rw['prometheus']} of the tool's {rw['tool']} requests")
        return p

    def judge(self) -> None:
        """The fault's expectations, each broken one a problem: its behaviour, and recovery
        within RECOVERY_TARGET_S."""
        slow = self.recovery_s is not None and self.recovery_s > measure.RECOVERY_TARGET_S
        if slow:
            self.problems.append(f"recovered in {self.recovery_s:.1f} s > "
                                 f"{measure.RECOVERY_TARGET_S:.0f} s")  # fmt: skip
        self.problems += self.behaviour_problems()


@dataclass(frozen=True)
class ChaosResult:
    testid: str
    results: Path
    faults: list[FaultResult]
    error: str = ""  # why the run stopped early

    @property
    def passed(self) -> bool:
        return not self.error and all(f.passed for f in self.faults)

    def as_dict(self) -> dict:
        return {
            "testid": self.testid,
            "passed": self.passed,
            "error": self.error,
            "faults": [{**asdict(f), "passed": f.passed} for f in self.faults],
        }


def shop_ready(s: StackSettings) -> bool:
    return readiness(s.url("LOCAL_SHOP_PORT")) is not None


def exporter_connected(s: StackSettings) -> bool:
    """A scrape of the InnoDB exporter says it reached the database."""
    try:
        text = requests.get(s.url("LOCAL_INNODB_EXPORTER_PORT", "/metrics"), timeout=5).text
    except requests.RequestException:
        return False
    return "\ninnodb_up 1.0" in text or text.startswith("innodb_up 1.0")


def healthy(s: StackSettings, service: str) -> bool:
    """The shop ready, and `service` answering as its own check (and the exporter's) says."""
    if not shop_ready(s):
        return False
    if service == "innodb-exporter":
        return exporter_connected(s)
    return all(c.ready(s) for c in runner.components(s) if c.name == service)


def whole(s: StackSettings) -> bool:
    return shop_ready(s) and all(c.ready(s) for c in runner.components(s))


def _first_request(log: Path, timeout: float, alive: Callable[[], bool]) -> float | None:
    """When the load's first request was sent (epoch), from its log; None if none came."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        if log.exists():
            for line in log.read_text().splitlines():
                try:
                    return float(json.loads(line)["t"])
                except (ValueError, KeyError):
                    continue
        time.sleep(0.2)
    return None


def _remote_write(settings: LoadSettings, result: RunResult) -> dict | None:
    """The requests the tool counted against those Prometheus stored for the run."""
    if result.summary is None or not settings.prometheus_url:
        return None
    expr = tool_requests(settings.tool, "last_over_time", "15m",
                         matchers=testid_matchers(settings.tool, result.testid))  # fmt: skip
    stored = Prometheus(settings.prometheus_url).value(expr)
    return {"tool": int(result.summary["requests"]), "prometheus": int(stored or 0)}


def _hold(plan: Plan) -> Stage:
    hold = plan.hold_window(0)
    if hold is None:
        raise ChaosError("the chaos scenario has no stage that holds its rate")
    return hold[1]


def fault_scale(knobs: Mapping[str, str], lasts: float) -> float:
    """SCALE for a fault's load: as asked, or more when the hold would not fit the fault's
    lead, its length and the time after it."""
    asked = read_load_settings(knobs)
    nominal = _hold(plan_of(replace(asked, scale=1), "scale", "")).seconds
    return max(asked.scale, (MIN_LEAD_S + lasts + MIN_AFTER_S + 1) / nominal)


def run_fault(fault: Fault, stack: Stack, env: Mapping[str, str], chaos: ChaosSettings,
              testid: str, say: Say) -> FaultResult:  # fmt: skip
    s = stack.settings
    lasts = fault.lasts(stack)
    knobs = {**env, **chaos.load, "SCENARIO": "chaos", "HOT_USERS": str(HOT_USERS),
             "RESULTS_ROOT": str(chaos.results_root)}  # fmt: skip
    load = read_load_settings({**knobs, "SCALE": f"{fault_scale(knobs, lasts):g}"})
    shop = ShopSettings.from_env({"SHOP_DATABASE_URL": s.database_url, **env})
    out = FaultResult(fault.name, testid, timeout_s=shop.request_timeout,
                      expected_alerts=fault.alerts)  # fmt: skip
    results = chaos.results_root / testid
    plan = plan_of(load, testid, str(results))
    outcome: list[RunResult] = []
    worker = threading.Thread(target=lambda: outcome.append(loadtest.run(load, testid=testid)),
                              name=f"load-{fault.name}", daemon=True)  # fmt: skip
    say(f"{fault.name}: {fault.what}; a {plan.seconds:.0f} s load of {plan.description} "
        f"(testid {testid})")  # fmt: skip
    worker.start()
    first = _first_request(results / "orders.jsonl", 120, worker.is_alive)
    if first is None:
        worker.join()
        error = outcome[0].verdict.error if outcome else "the load did not start"
        raise ChaosError(f"{fault.name}: the load sent no request: {error}")
    hold = _hold(plan)
    start, end = first - 1 + hold.start_s, first - 1 + hold.end_s
    lead = max(MIN_LEAD_S, LEAD_SHARE * hold.seconds)
    if end - (start + lead + lasts) < MIN_AFTER_S:
        raise ChaosError(f"{fault.name}: the load's hold ({hold.seconds} s) is too short "
                         f"for a {lasts:.0f} s fault")  # fmt: skip
    time.sleep(max(0.0, start + lead - time.time()))
    out.injected = time.time()
    try:
        remove = fault.inject(stack)
    except (OSError, pymysql.err.MySQLError, psutil.Error) as exc:
        raise FaultError(f"{fault.name}: could not inject: {exc}") from exc
    try:
        say(f"{fault.name}: injected; removing in {lasts:.0f} s")
        time.sleep(lasts)
    finally:
        remove()
        out.removed = time.time()
    ready_after = actions.wait_until(lambda: healthy(s, fault.service), HEAL_TIMEOUT_S)
    took = f"{ready_after:.1f} s" if ready_after is not None else f"> {HEAL_TIMEOUT_S:.0f} s"
    say(f"{fault.name}: removed; healthy again after {took}")
    worker.join()
    result = outcome[0] if outcome else None
    log = results / "orders.jsonl"
    rows = list(measure.read_requests(log)) if log.exists() else []
    hit = measure.impact(rows, out.injected, out.removed)
    out.longest_ms, out.longest_endpoint = hit.longest_ms, hit.longest_endpoint
    out.requests_during, out.errors_during = hit.requests_during, hit.errors_during
    out.requests_after, out.errors_after = hit.requests_after, hit.errors_after
    if ready_after is not None:
        out.recovery_s = round(max(ready_after, hit.last_failure_s or 0.0), 1)
        out.failed_after_healthy = measure.failed_since(rows, out.removed + ready_after)
    audit_file = results / "audit.json"
    books = json.loads(audit_file.read_text()) if audit_file.exists() else None
    recon = (books or {}).get("reconciliation") or {}
    out.audit_passed = bool(books and books["passed"])
    out.lost = len(recon["lost"]) if recon else None
    out.double_charged = len(recon["double_charged"]) if recon else None
    out.unacknowledged = recon.get("unacknowledged") if recon else None
    if fault.checks_remote_write and result is not None:
        out.remote_write = _remote_write(load, result)
    return out


def _windows(faults: list[FaultResult]) -> list[tuple[FaultResult, float, float]]:
    """Each injected fault with the span its alerts may start in: from its injection to the
    next fault's (an alert fires seconds after its cause, maybe after its load ended)."""
    done = [f for f in faults if f.injected is not None and f.removed is not None]
    ends = [f.injected for f in done[1:]] + [float("inf")] * bool(done)
    return [(f, f.injected, end) for f, end in zip(done, ends, strict=True)]


def add_alerts(faults: list[FaultResult], alerts_file: Path) -> None:
    """Each fault's alert: the first expected one that fired in its span, and when it
    resolved; the other alerts that fired meanwhile."""
    events = measure.alert_events(measure.read_alerts(alerts_file))
    for out, start, end in _windows(faults):
        alert = measure.first_alert(events, out.expected_alerts, start, end)
        if alert is not None:
            out.alert = alert.name
            out.alert_fired_s = round(alert.fired_at - start, 1)
            if alert.resolved_at is not None:
                out.alert_resolved_s = round(alert.resolved_at - out.removed, 1)
        names = measure.fired_within(events, start, end)
        out.other_alerts = [n for n in names if n != out.alert]


def _pending(faults: list[FaultResult], alerts_file: Path, wait: str) -> bool:
    """A fault whose expected alert has not yet fired, or (`wait` resolved) not resolved."""
    events = measure.alert_events(measure.read_alerts(alerts_file))
    for out, start, end in _windows(faults):
        if out.expected_alerts:
            alert = measure.first_alert(events, out.expected_alerts, start, end)
            if alert is None or (wait == "resolved" and alert.resolved_at is None):
                return True
    return False


def _given_stack(stack: StackSettings) -> None:
    """A running stack is fit for the faults when its alerts fire within seconds (every rule's
    `for:` capped at ALERT_FOR_MAX) and it is whole; ChaosError says which it is not."""
    cap = parse_duration("ALERT_FOR_MAX", ALERT_FOR_MAX)
    if stack.alert_for_max is None or stack.alert_for_max > cap:
        raise ChaosError(f"the stack in {stack.state_dir} must run with LOCAL_ALERT_FOR_MAX <= "
                         f"{ALERT_FOR_MAX}: its alerts would not fire within the run")  # fmt: skip
    if not whole(stack):
        raise ChaosError(f"the stack in {stack.state_dir} is not whole: `make local-status`")


def run(
    chaos: ChaosSettings, say: Say = lambda _: None, stack: StackSettings | None = None
) -> ChaosResult:
    """The faults of `chaos`, each during its load, on a native stack of the run's own, or on
    `stack`, one that runs already (the e2e tests' shared one): checked fit first (its alerts
    capped, every process ready), left running and whole after."""
    if stack is not None:
        _given_stack(stack)
    testid = f"chaos-{time.strftime('%Y%m%d-%H%M%S')}"
    results = chaos.results_root / testid
    results.mkdir(parents=True, exist_ok=True)
    faults: list[FaultResult] = []
    error = ""
    with tempfile.TemporaryDirectory(prefix="shoplab-chaos-") as tmp:
        if stack is None:
            state = chaos.state_dir or Path(tmp) / "stack"
            env = ephemeral_env(state, free_port, chaos.environ,
                                LOCAL_ALERT_FOR_MAX=ALERT_FOR_MAX, **CHAOS_STACK)  # fmt: skip
            settings = read_stack_settings(env)
            stack_up = runner.running(settings, environ=env)
            say(f"own native stack in {settings.state_dir} "
                f"(shop {settings.url('LOCAL_SHOP_PORT')}); results {results}")  # fmt: skip
        else:
            env, settings = {**chaos.environ, **stack.values}, stack
            stack_up = nullcontext(stack)
            say(f"the native stack running in {settings.state_dir} "
                f"(shop {settings.url('LOCAL_SHOP_PORT')}); results {results}")  # fmt: skip
        shop = ShopSettings.from_env({"SHOP_DATABASE_URL": settings.database_url, **env})
        target = Stack(settings, shop.lock_wait_timeout)
        with stack_up:
            try:
                for fault in chaos.faults:
                    faults.append(run_fault(fault, target, env, chaos, f"{testid}-{fault.name}",
                                            say))  # fmt: skip
                    if actions.wait_until(lambda: whole(settings), HEAL_TIMEOUT_S) is None:
                        raise ChaosError(f"after {fault.name} the stack is not whole again "
                                         f"within {HEAL_TIMEOUT_S:.0f} s")  # fmt: skip
            except (ChaosError, FaultError) as exc:
                error = str(exc)
                say(f"stopped: {error}")
            finally:
                actions.release_all(target)
            alerts_file = settings.state_dir / runner.ALERTS_FILE
            if faults and not error:
                wait = ALERT_WAIT_S[chaos.alert_wait]
                say(f"waiting for the alerts to have {chaos.alert_wait} (at most {wait:.0f} s)")
                actions.wait_until(lambda: not _pending(faults, alerts_file, chaos.alert_wait),
                                   wait, poll=2)  # fmt: skip
            add_alerts(faults, alerts_file)
            if alerts_file.exists():
                (results / runner.ALERTS_FILE).write_text(alerts_file.read_text())
    for out in faults:
        out.judge()
    outcome = ChaosResult(testid, results, faults, error)
    (results / "chaos.json").write_text(json.dumps(outcome.as_dict(), indent=2) + "\n")
    return outcome

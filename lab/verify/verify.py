"""`make verify-dashboards`: every panel's queries against Prometheus during real runs.

Starts the native stack on free ports for TARGET (the Flask shop by default; naive strategy,
async daily sales for the Flask shop so that the sales consumer and its queue's panel run too,
small seed, its own state folder), or uses the running one (`--running`),
makes sure of a deadlock (simultaneous orders of one user) and of a lock wait a scrape can see,
then runs a short load with hot users twice: k6, then Locust, each with its own testid. Each
panel's queries, template variables filled in for each run (`$testid` with the run, `$tool`
with its tool when the dashboard has that variable), run as range queries over the run's
window; a panel repeated over the target's endpoints or routes is checked once per value. A
panel has data when any run gave it data. A panel whose metrics the target's dialect does not
export (signals.dialects.EXPORTED_BY: HikariCP's pool for the Flask shop, its SQLAlchemy pool
for a JVM, every server panel for dialect none) is listed as not applicable. Prints one line
per panel and exits non-zero if a panel has no data, unless it is not applicable or its source
cannot exist here (cAdvisor-only series natively), which is listed as skipped with the reason.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import threading
import time
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import requests

from dashboards import build, queries
from dashboards.common import UIDS
from lab.load import run as loadtest
from lab.load.provoke import provoke_deadlock
from lab.load.settings import TOOLS, LoadSettingsError, read_load_settings
from signals import dialects
from signals.client import Prometheus, PrometheusError, finite
from signals.load import K6_FRESH_S
from stack import cgroups, runner
from stack.processes import free_port
from stack.settings import StackSettings, StackSettingsError, ephemeral_env, read_stack_settings
from targets import Target, TargetError, find_target

SCRAPE_S = 5  # jobs.yml's scrape_interval; Grafana's datasource timeInterval
# How long after a run its end annotation may come: the stage series outlives k6's last push by
# K6_FRESH_S, the end mark compares with 15 s before, plus a rule evaluation and a scrape.
ANNOTATION_TAIL_S = K6_FRESH_S + 15 + 2 * SCRAPE_S
# Metrics that are absent from a healthy naive run by design; an empty query on one of
# them does not fail its panel as long as another query of the panel shows data.
SPARSE = {
    "shop_db_retries_total": "only the safe strategy retries; the check runs naive",
    "k6_dropped_iterations_total": "k6 writes it only once it drops an iteration",
}
# The load each tool runs: short, hot users so that the naive strategy deadlocks.
LOAD = {"SCENARIO": "load", "TARGET_TPS": "40", "HOT_USERS": "3"}


@dataclass(frozen=True)
class LoadRun:
    tool: str
    testid: str
    start: float
    end: float
    exit_code: int


@dataclass(frozen=True)
class Scope:
    """What the check knows of the stack it runs on: its target's dialect, endpoints and routes
    (the values repeated panels take), and why some sources cannot have series here."""

    dialect: str
    endpoints: tuple[str, ...]
    routes: tuple[str, ...]
    cgroup_reason: str | None = None
    sales_mode: str = "async"

    @classmethod
    def of(cls, target: Target, cgroup_reason: str | None, sales_mode: str) -> Scope:
        return cls(target.dialect, target.names,
                   tuple(e.route for e in target.endpoints if e.route), cgroup_reason,
                   sales_mode)  # fmt: skip

    @property
    def repeats(self) -> dict[str, tuple[str, ...]]:
        return {"endpoint": self.endpoints, "route": self.routes}

    def not_applicable(self, expr: str) -> str | None:
        """Why a query cannot have data for this target's dialect, or None."""
        needs = queries.query_dialects(expr)
        if self.dialect in needs:
            return None
        return f"not applicable: needs {dialects.describe(needs)}, the target's is {self.dialect}"


@dataclass
class TargetResult:
    ref_id: str
    series: int | None  # None: not queried (skipped, or not applicable)
    note: str = ""  # why skipped or not applicable, or why empty is fine
    applies: bool = True  # False: the target's dialect cannot have this query's series

    def better(self, other: TargetResult) -> TargetResult:
        """Of two runs' answers for one query: the one that was queried, with the most data."""
        if self.series is None:
            return other
        if other.series is None or self.series >= other.series:
            return self
        return other


@dataclass
class PanelResult:
    dashboard: str
    panel: str
    targets: list[TargetResult] = field(default_factory=list)

    @property
    def status(self) -> str:
        queried = [t for t in self.targets if t.series is not None]
        if not queried:
            return "n/a" if not any(t.applies for t in self.targets) else "skipped"
        if any(t.series == 0 and not t.note for t in queried):
            return "EMPTY"
        return "data" if any(t.series for t in queried) else "EMPTY"

    @property
    def reason(self) -> str:
        notes = dict.fromkeys(t.note for t in self.targets if t.note)
        return "; ".join(notes)

    def merge(self, other: PanelResult) -> None:
        mine = {t.ref_id: t for t in self.targets}
        for t in other.targets:
            mine[t.ref_id] = mine[t.ref_id].better(t) if t.ref_id in mine else t
        self.targets = list(mine.values())


@dataclass(frozen=True)
class Verification:
    results: list[PanelResult]
    problems: list[str]  # annotations that mark nothing, variables that offer nothing
    runs: list[LoadRun]
    scope: Scope


def say(msg: str) -> None:
    print(f"verify-dashboards: {msg}", flush=True)


def own_stack_env(state_dir: Path, base: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The native stack for TARGET on free ports in `state_dir`, naive orders, a small seed;
    async daily sales where the target is the Flask shop (the only one that has them)."""
    sales = "async" if find_target(base).start == "shop" else "sync"
    return ephemeral_env(state_dir, free_port, base, LOCAL_ORDER_STRATEGY="naive",
                         LOCAL_SALES_MODE=sales)  # fmt: skip


def run_load(env: Mapping[str, str], results: Path, *, tool: str, scale: float) -> LoadRun:
    """The short load scenario with `tool` against `env`'s native stack (its shop, its
    Prometheus), through the load runner's library."""
    knobs = {**LOAD, "TOOL": tool, "SCALE": f"{scale:g}", "RESULTS_ROOT": str(results)}
    settings = read_load_settings({**env, **knobs})
    say(f"{tool} load, TARGET_TPS {LOAD['TARGET_TPS']}, scale {scale:g}, "
        f"{LOAD['HOT_USERS']} hot users")  # fmt: skip
    start = time.time()
    result = loadtest.run(settings)
    end = time.time()
    if result.exit_code not in (0, 1):  # 1: the SLO failed, expected on naive
        raise RuntimeError(f"the {tool} load run failed (exit {result.exit_code}): "
                           f"{result.verdict.error}")  # fmt: skip
    for line in result.verdict.lines:
        print(f"  {line.strip()}")
    return LoadRun(tool, result.testid, start, end, result.exit_code)


def hold_lock_wait(settings: StackSettings, seconds: float = 8.0) -> None:
    """A real InnoDB lock wait for `seconds`: one session locks the oldest order's row (no
    request of the shop writes or locks it), a second waits for it. The shop's own waits last
    milliseconds and a 5 s scrape rarely sees one, while the per-table and per-wait series
    exist only while a wait is on."""
    import pymysql

    def connect():
        return pymysql.connect(host="127.0.0.1", port=settings.port("LOCAL_MARIADB_PORT"),
                               user="root", database="shop", autocommit=False)  # fmt: skip

    holder, waiter = connect(), connect()
    try:
        with holder.cursor() as cur:
            cur.execute("SELECT MIN(id) FROM orders")
            (order_id,) = cur.fetchone()
            cur.execute("SELECT id FROM orders WHERE id = %s FOR UPDATE", (order_id,))

        def wait() -> None:
            with waiter.cursor() as cur:
                cur.execute(f"SET SESSION innodb_lock_wait_timeout = {int(seconds) + 30}")
                cur.execute("SELECT id FROM orders WHERE id = %s FOR UPDATE", (order_id,))
            waiter.rollback()

        blocked = threading.Thread(target=wait, daemon=True)
        blocked.start()
        time.sleep(seconds)
        holder.rollback()
        blocked.join(timeout=10)
    finally:
        holder.close()
        waiter.close()


def absent_sources(
    tool: str, cgroup_reason: str | None, sales_mode: str = "async"
) -> dict[str, str]:
    """Metric name or prefix (ending in _) -> why it cannot have series in this check."""
    other = {"k6": "locust", "locust": "k6"}[tool]
    absent = {f"{other}_": f"{'Locust' if other == 'locust' else 'k6'} series: a {tool} run"}
    if sales_mode != "async":
        why = "the sales consumer runs only with LOCAL_SALES_MODE=async"
        absent.update({"shop_sales_": why, "shop:sales_": why})
    if cgroup_reason:
        absent["container_"] = f"cAdvisor series: no cgroups natively ({cgroup_reason})"
    else:
        from stack.cgroups import CgroupCollector

        native = {
            f.name + ("_total" if f.type == "counter" else "")
            for f in CgroupCollector(groups={}).collect()
        }
        used = set().union(*(queries.used_metrics(d) for d in load_dashboards()))
        for name in used:
            if name.startswith("container_") and name not in native:
                absent[name] = "cAdvisor only: the native cgroup exporter has no such series"
    return absent


def skip_reason(name: str, absent: Mapping[str, str]) -> str | None:
    """Why `name` cannot have series here (an exact name or a prefix of `absent`), or None."""
    if name in absent:
        return absent[name]
    return next((why for key, why in absent.items() if key.endswith("_") and
                 name.startswith(key)), None)  # fmt: skip


def load_dashboards() -> list[dict]:
    """The generated JSON, as Grafana loads it (checked fresh by `make dashboards-check`)."""
    return [json.loads((build.OUT / f"{uid}.json").read_text()) for uid in UIDS.values()]


def _dashboard_values(dashboard: Mapping, run: LoadRun, step: int) -> dict[str, str]:
    """Grafana's values for `dashboard` during `run`; a `tool` variable gets the run's tool."""
    others = [v for v in queries.variables(dashboard) if v["name"] != "tool"]
    bare = {**dashboard, "templating": {**dashboard["templating"], "list": others}}
    range_s = max(1, math.ceil(run.end - run.start))
    values = queries.template_values(bare, testid=run.testid, step_s=step, range_s=range_s)
    if len(others) < len(queries.variables(dashboard)):
        values["tool"] = run.tool
    return values


def check_run(
    prometheus: Prometheus,
    dashboard: Mapping,
    run: LoadRun,
    absent: Mapping[str, str],
    scope: Scope,
) -> tuple[dict[tuple[int, str], PanelResult], list[str]]:
    """One dashboard's queries over one run's window, a repeated panel once per value (by panel
    id and title); problems with variables/annotations."""
    values = _dashboard_values(dashboard, run, SCRAPE_S)
    by_panel: dict[tuple[int, str], PanelResult] = {}
    for raw in queries.panels(dashboard):
        for panel, own in queries.repeated(raw, scope.repeats):
            result = PanelResult(dashboard["title"], panel["title"])
            by_panel[(raw["id"], panel["title"])] = result
            for target in panel["targets"]:
                expr = queries.substitute(target["expr"], values | own)
                result.targets.append(query_result(prometheus, target["refId"], expr, run,
                                                   absent, scope))  # fmt: skip
    return by_panel, _check_variables(prometheus, run, dashboard, absent, scope)


def query_result(prometheus: Prometheus, ref_id: str, expr: str, run: LoadRun,
                 absent: Mapping[str, str], scope: Scope) -> TargetResult:  # fmt: skip
    """One query over the run: not applicable to the target's dialect, skipped (its sources
    cannot exist here), or the series it returned."""
    if why := scope.not_applicable(expr):
        return TargetResult(ref_id, None, why, applies=False)
    names = queries.metric_names(expr)
    reasons = [skip_reason(name, absent) for name in names]
    if names and all(reasons):
        return TargetResult(ref_id, None, "; ".join(set(reasons)))
    count = series_count(prometheus, expr, run.start, run.end, SCRAPE_S)
    sparse = [SPARSE[n] for n in names if n in SPARSE] if count == 0 else []
    return TargetResult(ref_id, count, "; ".join(sparse))


def check(
    prometheus: Prometheus,
    runs: list[LoadRun],
    scope: Scope,
    marks_until: float = 0.0,
) -> tuple[list[PanelResult], list[str]]:
    """Every panel's queries, for every run; a panel has data when any run gave it some. Every
    annotation marks something of some run; one that does not yet is asked again every scrape
    until `marks_until` (epoch seconds: a run's end is marked well after it)."""
    cgroup_reason, sales_mode = scope.cgroup_reason, scope.sales_mode
    results, problems = [], []
    unmarked: dict[tuple[int, str], dict] = {}  # (dashboard index, annotation) -> its dashboard
    dashboards = load_dashboards()
    for index, dashboard in enumerate(dashboards):
        panels: dict[tuple[int, str], PanelResult] = {}
        for run in runs:
            absent = absent_sources(run.tool, cgroup_reason, sales_mode)
            by_panel, run_problems = check_run(prometheus, dashboard, run, absent, scope)
            for panel_id, result in by_panel.items():
                if panel_id in panels:
                    panels[panel_id].merge(result)
                else:
                    panels[panel_id] = result
            problems += [p for p in run_problems if p not in problems]
        results += panels.values()
        unmarked.update(dict.fromkeys(((index, name) for name in
                        _annotation_names(dashboard, runs, cgroup_reason, sales_mode)),
                        dashboard))  # fmt: skip
    while True:
        for index, name in list(unmarked):
            if _marks(prometheus, unmarked[(index, name)], name, runs, cgroup_reason, sales_mode):
                del unmarked[(index, name)]
        if not unmarked or time.time() >= marks_until:
            break
        say(f"{len(unmarked)} annotation(s) not marked yet: asking again in {SCRAPE_S} s")
        time.sleep(SCRAPE_S)
    problems += [f"{dashboards[i]['title']}: annotation '{n}' marks nothing" for i, n in unmarked]
    return results, problems


def _annotation_names(dashboard, runs, cgroup_reason, sales_mode) -> list[str]:
    """The annotations of `dashboard` some run can mark (not of absent sources only)."""
    return [
        a["name"] for a in dashboard["annotations"]["list"]
        if any(_expr(dashboard, a, run, absent_sources(run.tool, cgroup_reason, sales_mode))
               for run in runs)
    ]  # fmt: skip


def _marks(prometheus, dashboard, name, runs, cgroup_reason, sales_mode) -> bool:
    """Whether annotation `name` of `dashboard` marks something in any run."""
    [annotation] = [a for a in dashboard["annotations"]["list"] if a["name"] == name]
    for run in runs:
        expr = _expr(dashboard, annotation, run, absent_sources(run.tool, cgroup_reason,
                                                                sales_mode))  # fmt: skip
        end = run.end + ANNOTATION_TAIL_S  # a run's end is marked after it
        if expr and series_count(prometheus, expr, run.start, end, SCRAPE_S):
            return True
    return False


def _expr(dashboard, annotation, run, absent) -> str:
    """The annotation's query for `run`, or "" when its sources are all absent."""
    expr = queries.substitute(annotation["expr"], _dashboard_values(dashboard, run, SCRAPE_S))
    names = queries.metric_names(expr)
    return "" if names and all(skip_reason(n, absent) for n in names) else expr


def series_count(prometheus: Prometheus, expr: str, start: float, end: float, step: int) -> int:
    """Series of a range query with at least one number (NaN or Inf draws nothing)."""
    return sum(
        bool(finite(s.get("values", []))) or bool(s.get("histograms"))
        for s in prometheus.query_range(expr, start, end, step)
    )


def _check_variables(prometheus, run, dashboard, absent, scope: Scope) -> list[str]:
    """The testid variable offers the run, a repeat variable every endpoint or route of the
    target; every other query variable offers something (where its source can exist)."""
    problems = []
    title = dashboard["title"]
    values = _dashboard_values(dashboard, run, SCRAPE_S)
    for variable in queries.variables(dashboard):
        if variable["type"] != "query":
            continue
        selector, label = queries.label_values_match(variable["definition"])
        if selector:
            selector = queries.substitute(selector, values)
            names = queries.metric_names(selector)
            if scope.not_applicable(selector) or any(skip_reason(n, absent) for n in names):
                continue
        offered = prometheus.label_values(label, selector, run.start, run.end)
        wanted = {"testid": (run.testid,), "tool": (run.tool,), **scope.repeats}.get(label, ())
        if missing := [value for value in wanted if value not in offered]:
            problems.append(f"{title}: variable ${variable['name']} does not offer "
                            f"{', '.join(missing)}")  # fmt: skip
        elif not offered:
            problems.append(f"{title}: variable ${variable['name']} offers nothing")
    return problems


def render(results: list[PanelResult], problems: list[str]) -> str:
    width_d = max(len(r.dashboard) for r in results)
    width_p = max(len(r.panel) for r in results)
    lines = [f"{'dashboard':{width_d}}  {'panel':{width_p}}  {'series returned':24}  status"]
    for r in results:
        series = " ".join(f"{t.ref_id}={'-' if t.series is None else t.series}" for t in r.targets)
        note = f"  ({r.reason})" if r.reason and r.status != "EMPTY" else ""
        lines.append(f"{r.dashboard:{width_d}}  {r.panel:{width_p}}  {series:24}  "
                     f"{r.status}{note}")  # fmt: skip
    lines += [f"PROBLEM: {p}" for p in problems]
    lines.append(summary(results))
    return "\n".join(lines)


def summary(results: list[PanelResult]) -> str:
    count = {status: sum(r.status == status for r in results) for status in
             ("data", "n/a", "skipped", "EMPTY")}  # fmt: skip
    return (f"panels with data {count['data']} / not applicable {count['n/a']} / skipped "
            f"{count['skipped']} / empty {count['EMPTY']} / total {len(results)}")  # fmt: skip


def failures(results: list[PanelResult], problems: list[str]) -> list[str]:
    return [f"{r.dashboard} / {r.panel}" for r in results if r.status == "EMPTY"] + problems


def verify(env: Mapping[str, str], workdir: Path, *, scale: float, own_stack: bool = True,
           tools: tuple[str, ...] = TOOLS) -> Verification:  # fmt: skip
    """Stack (own or running), a k6 run then a Locust run, check: the whole live check.

    Before the load, what a short run does not promise: a deadlock (bursts of one user's
    orders) and, during the first run, a lock wait long enough for a scrape to see; so every
    lock panel has something true to show while the load tools' runs stay undisturbed.
    """
    cgroup_reason = cgroups.unavailable_reason()
    if not own_stack:
        settings, env = running_stack(env)
    running = runner.native_stack(env) if own_stack else nullcontext(settings)
    with running as settings:
        scope = Scope.of(settings.target, cgroup_reason, settings.values["LOCAL_SALES_MODE"])
        say(
            f"target {settings.target.name} (metrics dialect {scope.dialect}): endpoints "
            f"{', '.join(scope.endpoints)}; routes {', '.join(scope.routes) or 'none'}"
        )
        prometheus = Prometheus(settings.url("LOCAL_PROMETHEUS_PORT"))
        prometheus.wait_for("innodb_deadlocks_total")  # the counter before any deadlock
        window_start = time.time()
        victims = provoke_deadlock(settings.url("LOCAL_SHOP_PORT"))
        say(f"{victims} order(s) of user 1 rolled back as deadlock victims in simultaneous bursts")
        say("holding a row lock 8 s during the first load, so a lock wait is on at a scrape")
        lock_wait = threading.Thread(target=hold_lock_wait, args=(settings,), daemon=True)
        lock_wait.start()
        runs = []
        for tool in tools:
            run = run_load(env, workdir / "results", tool=tool, scale=scale)
            lock_wait.join(timeout=30)
            # The first run's window reaches back to the deadlock and the lock wait.
            runs.append(run if runs else LoadRun(**{**run.__dict__, "start": window_start}))
        # A run's end is marked once its stage series is gone (k6's after K6_FRESH_S without a
        # push): an annotation that marks nothing yet is asked again until the last run's end
        # mark can exist, no longer.
        results, problems = check(prometheus, runs, scope,
                                  marks_until=runs[-1].end + ANNOTATION_TAIL_S)  # fmt: skip
    return Verification(results, problems, runs, scope)


def running_stack(env: Mapping[str, str]) -> tuple[StackSettings, dict[str, str]]:
    """The stack `make local-up` runs (the settings it recorded, its target's) and `env` naming
    that target, so the check's loads run on it as it is. A TARGET in `env` that is not the
    one it serves is refused: the check would restart the stack onto it."""
    given = read_stack_settings(env)
    now = runner.running_settings(given)
    if now is None:
        return given, dict(env)  # down, or not recorded: the first request says so
    if env.get("TARGET") and now.target.name != given.target.name:
        raise RuntimeError(f"the running stack serves TARGET={now.target.name}, not "
                           f"{given.target.name}: run `make local-up TARGET={env['TARGET']}` "
                           "first, or leave TARGET out")  # fmt: skip
    return now, {**env, "TARGET": runner.running_target(given) or now.target.name}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.verify.verify",
                                     description=__doc__.splitlines()[0])  # fmt: skip
    parser.add_argument("--scale", type=float, default=0.1,
                        help="load scenario duration factor (0.1: ~37 s per tool)")  # fmt: skip
    parser.add_argument("--running", action="store_true",
                        help="use the stack `make local-up` started (must run naive; its own "
                             "target) instead of starting one for TARGET")  # fmt: skip
    args = parser.parse_args(argv)
    if build.stale():
        say("FAIL: the generated JSON is not what the modules build; run `make dashboards`")
        return 2
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="shoplab-verify-") as tmp:
        workdir = Path(tmp)
        try:
            env = dict(os.environ) if args.running else own_stack_env(workdir / "stack")
            outcome = verify(env, workdir, scale=args.scale, own_stack=not args.running)
        except (RuntimeError, StackSettingsError, LoadSettingsError, PrometheusError,
                TimeoutError, TargetError) as exc:  # fmt: skip
            say(f"FAIL: {exc}")
            return 2
        except requests.RequestException as exc:
            where = "the running native stack (make local-up)" if args.running else "its stack"
            say(f"FAIL: cannot reach {where}: {type(exc).__name__}")
            return 2
    print()
    print(f"target dialect {outcome.scope.dialect}; endpoints {', '.join(outcome.scope.endpoints)}")
    for run in outcome.runs:
        print(f"{run.tool}: testid {run.testid}, window {run.end - run.start:.0f} s")
    print(render(outcome.results, outcome.problems))
    failed = failures(outcome.results, outcome.problems)
    took = time.monotonic() - started
    if failed:
        say(f"FAIL: {len(failed)} without data ({took:.0f} s): " + "; ".join(failed))
        return 1
    say(f"PASS ({took:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

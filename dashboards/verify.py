"""`make verify-dashboards`: every panel's queries against Prometheus during a real run.

Starts the native stack on free ports (naive strategy, small seed, its own state folder),
makes sure of a deadlock (simultaneous orders of one user) and of a lock wait a scrape can see,
runs a short load with hot users, then runs each panel's queries, template variables filled
in, as range queries over that window. Prints one line per panel and
exits non-zero if a panel has no data, unless its source cannot exist here (the other load
tool's panels; cAdvisor-only series natively), which is listed as skipped with the reason.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path

import requests

from dashboards import build, promql
from dashboards.common import REPO, UIDS
from loadtest.provoke import provoke_deadlock
from stack import cgroups
from stack.settings import StackSettings, StackSettingsError, ephemeral_env

SCRAPE_S = 5  # jobs.yml's scrape_interval; Grafana's datasource timeInterval
# Metrics that are absent from a healthy naive k6 run by design; an empty query on one of
# them does not fail its panel as long as another query of the panel shows data.
SPARSE = {
    "shop_db_retries_total": "only the safe strategy retries; the check runs naive",
    "k6_dropped_iterations_total": "k6 writes it only once it drops an iteration",
}


@dataclass(frozen=True)
class LoadRun:
    tool: str
    testid: str
    start: float
    end: float
    exit_code: int


@dataclass
class TargetResult:
    ref_id: str
    series: int | None  # None: not queried (skipped)
    note: str = ""  # why skipped, or why empty is fine


@dataclass
class PanelResult:
    dashboard: str
    panel: str
    targets: list[TargetResult] = field(default_factory=list)

    @property
    def status(self) -> str:
        queried = [t for t in self.targets if t.series is not None]
        if not queried:
            return "skipped"
        if any(t.series == 0 and not t.note for t in queried):
            return "EMPTY"
        return "data" if any(t.series for t in queried) else "EMPTY"

    @property
    def reason(self) -> str:
        notes = dict.fromkeys(t.note for t in self.targets if t.note)
        return "; ".join(notes)


# Per panel what came back, and the problems with annotations and variables.
Report = tuple[list[PanelResult], list[str]]


def say(msg: str) -> None:
    print(f"verify-dashboards: {msg}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def own_stack_env(state_dir: Path, base: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The native stack on free ports in `state_dir`, naive orders, a small seed."""
    return ephemeral_env(state_dir, free_port, base, LOCAL_ORDER_STRATEGY="naive")


@contextmanager
def native_stack(env: Mapping[str, str]) -> Iterator[StackSettings]:
    """`make local-up` for `env`'s settings, always followed by `make local-down`.

    Run as commands, as make runs them: the stack's supervisor must not be our child, or it
    would linger as a zombie that `down` waits for.
    """
    settings = StackSettings.from_env(env)

    def stack(command: str) -> int:
        return subprocess.run([sys.executable, "-m", "stack", command], env=dict(env), cwd=REPO,
                              timeout=300, check=False).returncode  # fmt: skip

    try:
        if stack("up") != 0:
            raise RuntimeError("the native stack did not come up (see its logs above)")
        yield settings
    finally:
        if stack("down") != 0:
            say("the native stack did not stop cleanly (see above)")


def run_load(
    env: Mapping[str, str],
    results: Path,
    *,
    tool: str = "k6",
    scale: float = 0.1,
    target_tps: float = 40,
    hot_users: int = 3,
) -> LoadRun:
    """The load scenario against `env`'s native stack (its shop, its Prometheus)."""
    cmd = [sys.executable, "-m", "loadtest", "--tool", tool, "--scenario", "load",
           "--target-tps", f"{target_tps:g}", "--scale", f"{scale:g}",
           "--hot-users", str(hot_users), "--results", str(results)]  # fmt: skip
    say(f"{tool} load, TARGET_TPS {target_tps:g}, scale {scale:g}, {hot_users} hot users")
    start = time.time()
    proc = subprocess.run(cmd, env=dict(env), cwd=REPO, capture_output=True, text=True,
                          timeout=600, check=False)  # fmt: skip
    end = time.time()
    match = re.search(r"testid ([\w.-]+)", proc.stdout)
    if proc.returncode not in (0, 1) or not match:  # 1: the SLO failed, expected on naive
        raise RuntimeError(f"the load run failed (exit {proc.returncode}):\n{proc.stdout}"
                           f"{proc.stderr}")  # fmt: skip
    for line in proc.stdout.splitlines():
        if line.startswith("  ") or "=====" in line:
            print(f"  {line.strip()}")
    return LoadRun(tool, match[1], start, end, proc.returncode)


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


def absent_sources(tool: str, cgroup_reason: str | None) -> dict[str, str]:
    """Metric name or prefix (ending in _) -> why it cannot have series in this check."""
    other = {"k6": "locust", "locust": "k6"}[tool]
    absent = {
        f"{other}_": f"{'Locust' if other == 'locust' else 'k6'} series: this check runs {tool}"
    }
    if cgroup_reason:
        absent["container_"] = f"cAdvisor series: no cgroups natively ({cgroup_reason})"
    else:
        from stack.cgroups import CgroupCollector

        native = {
            f.name + ("_total" if f.type == "counter" else "")
            for f in CgroupCollector(groups={}).collect()
        }
        used = set().union(*(promql.used_metrics(d) for d in load_dashboards()))
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


class Prometheus:
    def __init__(self, url: str):
        self.url = url.rstrip("/")

    def series(self, expr: str, start: float, end: float, step: int) -> int:
        """Series of a range query with at least one number (NaN or Inf draws nothing)."""
        params = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": step}
        body = requests.post(f"{self.url}/api/v1/query_range", data=params, timeout=30).json()
        if body.get("status") != "success":
            raise RuntimeError(f"Prometheus refused {expr!r}: {body.get('error')}")
        return sum(
            any(math.isfinite(float(v)) for _, v in s.get("values", []))
            or bool(s.get("histograms"))
            for s in body["data"]["result"]
        )

    def wait_for(self, expr: str, timeout: float = 30) -> None:
        """Until an instant query of `expr` returns a series (a first scrape is in)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            params = {"query": expr}
            body = requests.get(f"{self.url}/api/v1/query", params=params, timeout=5).json()
            if body.get("data", {}).get("result"):
                return
            time.sleep(1)
        raise RuntimeError(f"no {expr} in Prometheus within {timeout:.0f} s")

    def label_values(self, label: str, metric: str | None, start: float, end: float) -> list:
        params = {"start": f"{start:.3f}", "end": f"{end:.3f}"}
        if metric:
            params["match[]"] = metric
        url = f"{self.url}/api/v1/label/{label}/values"
        return requests.get(url, params=params, timeout=10).json()["data"]


def check(prometheus: Prometheus, run: LoadRun, absent: Mapping[str, str]) -> Report:
    """Every panel's queries over the run's window; plus problems with variables/annotations."""
    range_s = max(1, math.ceil(run.end - run.start))
    step = SCRAPE_S
    results, problems = [], []
    for dashboard in load_dashboards():
        values = promql.template_values(dashboard, testid=run.testid, step_s=step,
                                        range_s=range_s)  # fmt: skip
        by_panel: dict[int, PanelResult] = {}
        for query in promql.panel_queries(dashboard):
            result = by_panel.setdefault(query.panel_id, PanelResult(query.dashboard, query.panel))
            expr = promql.substitute(query.expr, values)
            names = promql.metric_names(expr)
            reasons = [skip_reason(name, absent) for name in names]
            if names and all(reasons):
                result.targets.append(TargetResult(query.ref_id, None, "; ".join(set(reasons))))
                continue
            count = prometheus.series(expr, run.start, run.end, step)
            sparse = [SPARSE[n] for n in names if n in SPARSE] if count == 0 else []
            result.targets.append(TargetResult(query.ref_id, count, "; ".join(sparse)))
        results += by_panel.values()
        problems += _check_extras(prometheus, run, dashboard, values, absent)
    return results, problems


def _check_extras(prometheus, run, dashboard, values, absent) -> list[str]:
    """The deadlock annotation marks the run; the testid variable offers the run."""
    problems = []
    title = dashboard["title"]
    for annotation in dashboard["annotations"]["list"]:
        expr = promql.substitute(annotation["expr"], values)
        if not prometheus.series(expr, run.start, run.end, SCRAPE_S):
            problems.append(f"{title}: annotation '{annotation['name']}' marks nothing")
    for variable in promql.variables(dashboard):
        if variable["type"] != "query":
            continue
        metric, label = promql.label_values(variable["definition"])
        if metric and skip_reason(metric, absent):
            continue
        offered = prometheus.label_values(label, metric, run.start, run.end)
        if label == "testid" and run.testid not in offered:
            problems.append(f"{title}: variable ${variable['name']} does not offer {run.testid}")
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
    data = sum(r.status == "data" for r in results)
    skipped = sum(r.status == "skipped" for r in results)
    return f"panels with data {data} / total {len(results)} / skipped {skipped}"


def failures(results: list[PanelResult], problems: list[str]) -> list[str]:
    return [f"{r.dashboard} / {r.panel}" for r in results if r.status == "EMPTY"] + problems


def verify(
    env: Mapping[str, str], workdir: Path, *, tool: str, scale: float, own_stack: bool = True
) -> tuple[list[PanelResult], list[str], LoadRun]:
    """Stack (own or running), load, check: the whole live check.

    Before the load, what a short run does not promise: a deadlock (bursts of one user's
    orders) and, during it, a lock wait long enough for a scrape to see; so every lock panel
    has something true to show while the load tool's run itself stays undisturbed.
    """
    absent = absent_sources(tool, cgroups.unavailable_reason())
    with native_stack(env) if own_stack else nullcontext(StackSettings.from_env(env)) as settings:
        prometheus = Prometheus(settings.url("LOCAL_PROMETHEUS_PORT"))
        prometheus.wait_for("innodb_deadlocks_total")  # the counter before any deadlock
        window_start = time.time()
        victims = provoke_deadlock(settings.url("LOCAL_SHOP_PORT"))
        say(f"{victims} order(s) of user 1 rolled back as deadlock victims in simultaneous bursts")
        say("holding a row lock 8 s during the load, so a lock wait is on at a scrape")
        lock_wait = threading.Thread(target=hold_lock_wait, args=(settings,), daemon=True)
        lock_wait.start()
        run = run_load(env, workdir / "results", tool=tool, scale=scale)
        lock_wait.join(timeout=30)
        run = replace(run, start=window_start)
        results, problems = check(prometheus, run, absent)
    return results, problems, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dashboards.verify",
                                     description=__doc__.splitlines()[0])  # fmt: skip
    parser.add_argument("--tool", choices=("k6", "locust"), default="k6")
    parser.add_argument("--scale", type=float, default=0.1,
                        help="load scenario duration factor (0.1: ~37 s)")  # fmt: skip
    parser.add_argument("--running", action="store_true",
                        help="use the stack `make local-up` started (must run naive) instead of "
                             "starting one")  # fmt: skip
    args = parser.parse_args(argv)
    stale = build.stale()
    if stale:
        say("FAIL: the generated JSON is not what the modules build; run `make dashboards`")
        return 2
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="shoplab-verify-") as tmp:
        workdir = Path(tmp)
        env = dict(os.environ) if args.running else own_stack_env(workdir / "stack")
        try:
            results, problems, run = verify(env, workdir, tool=args.tool, scale=args.scale,
                                            own_stack=not args.running)  # fmt: skip
        except (RuntimeError, StackSettingsError) as exc:
            say(f"FAIL: {exc}")
            return 2
        except requests.RequestException as exc:
            where = "the running native stack (make local-up)" if args.running else "its stack"
            say(f"FAIL: cannot reach {where}: {type(exc).__name__}")
            return 2
    print()
    print(f"testid {run.testid}, window {run.end - run.start:.0f} s")
    print(render(results, problems))
    failed = failures(results, problems)
    took = time.monotonic() - started
    if failed:
        say(f"FAIL: {len(failed)} without data ({took:.0f} s): " + "; ".join(failed))
        return 1
    say(f"PASS ({took:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

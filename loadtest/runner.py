"""Runs one scenario with k6 or Locust against the shop, shows progress, and prints a verdict.

Thresholds are the tools' own (k6 thresholds, the Locust summary hook), read back from the
summary JSON both write. What needs a time series (the stress step where the SLO broke, the
spike's recovery time, deadlocks during the run) comes from Prometheus.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
SCENARIOS = json.loads((REPO / "loadtest" / "scenarios.json").read_text())
VENV_BIN = Path(sys.executable).parent
ENDPOINTS = ("POST /api/orders", "GET /api/products/popular")


def stage_seconds(stage: dict, scale: float) -> int:
    """A stage's duration at SCALE: rounded half up, at least 1 s. k6 (Math.round) and the
    locustfile compute it the same way, so the runner's windows match what the tools ran."""
    return max(1, math.floor(stage["seconds"] * scale + 0.5))


def say(msg: str) -> None:
    print(f"load: {msg}", flush=True)


@dataclass
class Run:
    tool: str
    scenario: str
    target_tps: float
    scale: float
    hot_users: int
    hot_ratio: float
    order_ratio: float
    shop_url: str
    prometheus_url: str | None
    results: Path
    testid: str
    locust_processes: int = 0
    locust_metrics_port: int = 0
    file_sd: Path | None = None
    generator_cpu_s: float | None = None
    locust_scrape_wait: float = 0
    strategy: str | None = None
    native: bool = False

    @property
    def spec(self) -> dict:
        return SCENARIOS[self.scenario]

    def planned_seconds(self) -> float:
        return sum(stage_seconds(s, self.scale) for s in self.spec["stages"])

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "SHOP_URL": self.shop_url,
            "SCENARIO": self.scenario,
            "TARGET_TPS": f"{self.target_tps:g}",
            "SCALE": f"{self.scale:g}",
            "HOT_USERS": str(self.hot_users),
            "HOT_RATIO": f"{self.hot_ratio:g}",
            "ORDER_RATIO": f"{self.order_ratio:g}",
            "RESULTS_DIR": str(self.results),
            "K6_NO_USAGE_REPORT": "true",
        }


class Prometheus:
    def __init__(self, url: str):
        self.url = url.rstrip("/")

    def value(self, expr: str, at: float | None = None) -> float | None:
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        try:
            data = requests.get(f"{self.url}/api/v1/query", params=params, timeout=5).json()
        except (requests.RequestException, ValueError):
            return None
        result = data.get("data", {}).get("result", [])
        if not result:
            return None
        value = float(result[0]["value"][1])
        return None if value != value else value  # NaN: no data

    def series(
        self, expr: str, start: float, end: float, step: float = 1
    ) -> list[tuple[float, float]]:
        params = {"query": expr, "start": start, "end": end, "step": step}
        try:
            res = requests.get(f"{self.url}/api/v1/query_range", params=params, timeout=10)
            data = res.json()
        except (requests.RequestException, ValueError):
            return []  # Prometheus gone: the report says n/a rather than crash
        result = data.get("data", {}).get("result", [])
        if not result:
            return []
        return [(float(t), float(v)) for t, v in result[0]["values"] if v != "NaN"]


def client_queries(run: Run) -> dict[str, str]:
    """PromQL for the load generator's own view, with `{w}` the window. `rate` is the achieved
    rate: successful requests per second."""
    if run.tool == "k6":
        sel = f'testid="{run.testid}"'
        reqs = f'k6_http_reqs_total{{{sel},endpoint=~"orders|popular"}}'
        ok = f'k6_http_reqs_total{{{sel},endpoint=~"orders|popular",expected_response="true"}}'
        return {
            "rate": f"(sum(increase({ok}[{{w}}])) or vector(0)) / {{ws}}",
            "errors": f'(sum(increase(k6_http_reqs_total{{{sel},endpoint=~"orders|popular",'
            f'expected_response="false"}}[{{w}}])) or vector(0)) / sum(increase({reqs}[{{w}}]))',
            "orders_p95": "histogram_quantile(0.95, sum(rate(k6_http_req_duration_seconds"
            f'{{{sel},endpoint="orders"}}[{{w}}]))) * 1000',
            "popular_p95": "histogram_quantile(0.95, sum(rate(k6_http_req_duration_seconds"
            f'{{{sel},endpoint="popular"}}[{{w}}]))) * 1000',
            # Appears with the first drop: a missing value at the window's start counts as 0.
            "dropped": f"sum(k6_dropped_iterations_total{{{sel}}} - "
            f"(k6_dropped_iterations_total{{{sel}}} offset {{w}} "
            f"or k6_dropped_iterations_total{{{sel}}} * 0))",
        }
    sel = f'job="locust",testid="{run.testid}"'
    return {
        "rate": f"(sum(increase(locust_requests_total{{{sel}}}[{{w}}])) - "
        f"(sum(increase(locust_failures_total{{{sel}}}[{{w}}])) or vector(0))) / {{ws}}",
        "errors": f"(sum(increase(locust_failures_total{{{sel}}}[{{w}}])) or vector(0)) / "
        f"sum(increase(locust_requests_total{{{sel}}}[{{w}}]))",
        "orders_p95": "histogram_quantile(0.95, sum by (le) (rate(locust_request_duration_seconds"
        f'_bucket{{{sel},name="POST /api/orders"}}[{{w}}]))) * 1000',
        "popular_p95": "histogram_quantile(0.95, sum by (le) (rate(locust_request_duration_seconds"
        f'_bucket{{{sel},name="GET /api/products/popular"}}[{{w}}]))) * 1000',
        "dropped": "vector(0)",
    }


def expand(template: str, seconds: int) -> str:
    """Fill a query's window: `{w}` the range (e.g. 60s), `{ws}` the same in seconds."""
    return template.replace("{w}", f"{seconds}s").replace("{ws}", str(seconds))


def window(run: Run, prom: Prometheus, start: float, end: float) -> dict[str, float | None]:
    seconds = max(1, int(end - start))
    return {
        name: prom.value(expand(expr, seconds), at=end)
        for name, expr in client_queries(run).items()
    }


def slo_broken(run: Run, w: dict) -> list[str]:
    slo = run.spec["slo"]
    broken = []
    if w["orders_p95"] is not None and w["orders_p95"] > slo["orders_p95_ms"]:
        broken.append(f"orders p95 {w['orders_p95']:.0f} ms > {slo['orders_p95_ms']}")
    if w["popular_p95"] is not None and w["popular_p95"] > slo["popular_p95_ms"]:
        broken.append(f"popular p95 {w['popular_p95']:.0f} ms > {slo['popular_p95_ms']}")
    if w["errors"] is not None and w["errors"] > slo["error_rate"]:
        broken.append(f"errors {w['errors'] * 100:.1f} % > {slo['error_rate'] * 100:g} %")
    if w["dropped"] and w["dropped"] > slo["dropped"]:
        broken.append(f"{w['dropped']:.0f} dropped iterations")
    return broken


def hold_window(run: Run, started: float) -> tuple[float, float, int] | None:
    """The longest stage that holds its rate (not a ramp): (begin, end, stage index), trimmed
    by 2 s at each edge so the windows see only the steady state."""
    best, t, previous = None, started, run.spec.get("start_tps", 0)
    for i, stage in enumerate(run.spec["stages"]):
        seconds = stage_seconds(stage, run.scale)
        holds = stage["tps"] == previous and stage["tps"] > 0 and seconds > 6
        if holds and (best is None or seconds - 4 > best[1] - best[0]):
            best = (t + 2, t + seconds - 2, i)
        t += seconds
        previous = stage["tps"]
    return best


def stress_report(run: Run, prom: Prometheus, started: float) -> list[str]:
    """Each step's hold window (after its ramp): achieved rate, p95s, errors; first broken step."""
    lines, t, first_broken = [], started, None
    stages = run.spec["stages"]
    for i in range(0, len(stages), 2):
        ramp, hold = stages[i], stages[i + 1]
        t += stage_seconds(ramp, run.scale)
        begin, t = t, t + stage_seconds(hold, run.scale)
        w = window(run, prom, begin, t)
        offered = hold["tps"] * run.target_tps
        broken = slo_broken(run, w)
        if w["rate"] is not None and w["rate"] < 0.95 * offered:
            broken.append(f"achieved {w['rate']:.0f}/s < 95 % of {offered:.0f}/s")
        if broken and first_broken is None:
            first_broken = hold["tps"]
        state = "SLO BROKEN: " + "; ".join(broken) if broken else "ok"
        lines.append(
            f"step {hold['tps'] * 100:4.0f} % ({offered:5.0f}/s): "
            f"achieved {fmt(w['rate'], '/s')}, orders p95 {fmt(w['orders_p95'], ' ms')}, "
            f"popular p95 {fmt(w['popular_p95'], ' ms')}, errors {fmt(pct(w['errors']), ' %')}  "
            + state
        )
    if first_broken is None:
        lines.append(f"SLO held at every step up to {stages[-1]['tps'] * 100:.0f} % of TARGET_TPS")
    else:
        lines.append(
            f"SLO broke at the {first_broken * 100:.0f} % step "
            f"({first_broken * run.target_tps:.0f}/s offered)"
        )
    return lines


def settled_at(series: list[tuple[float, float]], ok, hold: float = 5) -> float | None:
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


def spike_window(run: Run, started: float) -> tuple[float, float]:
    """From the start of the ramp to the peak rate to the end of the last stage at it."""
    peak = max(s["tps"] for s in run.spec["stages"])
    t, begin, end = started, None, None
    for stage in run.spec["stages"]:
        seconds = stage_seconds(stage, run.scale)
        if stage["tps"] == peak:
            begin = t if begin is None else begin
            end = t + seconds
        t += seconds
    return begin, end


def spike_report(run: Run, prom: Prometheus, started: float) -> list[str]:
    s0, s1 = spike_window(run, started)
    base = window(run, prom, started + 10 * run.scale, s0)
    during = window(run, prom, s0, s1)
    limit = run.spec["slo"]["recovery_seconds"]
    baseline_errors = base["errors"] or 0.0
    errors_expr = expand(client_queries(run)["errors"], 5)
    series = prom.series(errors_expr, s1, s1 + 60 * max(run.scale, 0.5), step=1)
    recovered_at = settled_at(series, lambda v: v <= baseline_errors + 0.01)
    lines = [
        f"baseline: errors {fmt(pct(base['errors']), ' %')}, "
        f"orders p95 {fmt(base['orders_p95'], ' ms')}",
        f"spike:    achieved {fmt(during['rate'], '/s')}, "
        f"errors {fmt(pct(during['errors']), ' %')}, orders p95 {fmt(during['orders_p95'], ' ms')}",
    ]
    horizon = 60 * max(run.scale, 0.5)
    if recovered_at is None:
        lines.append(f"errors did NOT recover to baseline within {horizon:.0f} s")
    else:
        took = max(0.0, recovered_at - s1)
        verdict = "PASS" if took <= limit else "FAIL"
        lines.append(f"recovery: errors back to baseline {took:.0f} s after the spike  "
                     f"{verdict} (limit {limit} s)")  # fmt: skip
    p95_expr = expand(client_queries(run)["orders_p95"], 5)
    latency = prom.series(p95_expr, s1, s1 + horizon, step=1)
    slo_ms = run.spec["slo"]["orders_p95_ms"]
    back = settled_at(latency, lambda v: v <= slo_ms)
    lines.append(
        f"latency: orders p95 back under {slo_ms} ms "
        + (
            f"{max(0.0, back - s1):.0f} s after the spike"
            if back
            else f"not within {horizon:.0f} s"
        )
    )
    return lines


def pct(v: float | None) -> float | None:
    return None if v is None else v * 100


def fmt(v: float | None, unit: str) -> str:
    return "n/a" if v is None else f"{v:.1f}{unit}"


def command(run: Run) -> list[str]:
    if run.tool == "k6":
        cmd = [str(VENV_BIN / "k6"), "run", "--no-color", "--tag", f"testid={run.testid}"]
        if run.prometheus_url:
            cmd += ["-o", "experimental-prometheus-rw"]
        return cmd + [str(REPO / "k6" / "mixed.js")]
    cmd = [str(VENV_BIN / "locust"), "-f", str(REPO / "locust" / "locustfile.py"), "--headless",
           "--host", run.shop_url, "--csv", str(run.results / "locust"),
           "--html", str(run.results / "locust.html"), "--only-summary"]  # fmt: skip
    if run.locust_processes:
        cmd += ["--processes", str(run.locust_processes)]
    return cmd


def tool_env(run: Run) -> dict[str, str]:
    env = run.env()
    if run.tool == "k6":
        env.update({
            "K6_WEB_DASHBOARD": "true",
            "K6_WEB_DASHBOARD_PORT": "-1",
            "K6_WEB_DASHBOARD_PERIOD": "1s",
            "K6_WEB_DASHBOARD_EXPORT": str(run.results / "k6-report.html"),
        })  # fmt: skip
        if run.prometheus_url:
            env.update({
                "K6_PROMETHEUS_RW_SERVER_URL": f"{run.prometheus_url}/api/v1/write",
                "K6_PROMETHEUS_RW_TREND_AS_NATIVE_HISTOGRAM": "true",
                "K6_PROMETHEUS_RW_PUSH_INTERVAL": "1s",
            })  # fmt: skip
    else:
        env["LOCUST_METRICS_PORT"] = str(run.locust_metrics_port)
        env["LOCUST_TESTID"] = run.testid
        # Prometheus scrapes the master: hold the load until a first scrape, linger for a last.
        env["LOCUST_SCRAPE_WAIT"] = f"{run.locust_scrape_wait:g}"
    return env


def progress(run: Run, prom: Prometheus | None, started: float, done: threading.Event) -> None:
    planned = run.planned_seconds()
    while not done.wait(10):
        elapsed = time.time() - started
        line = f"{elapsed:5.0f}s / {planned:.0f}s"
        if prom:
            w = window(run, prom, max(started, time.time() - 10), time.time())
            line += (f"  achieved {fmt(w['rate'], '/s')}  orders p95 {fmt(w['orders_p95'], ' ms')}"
                     f"  errors {fmt(pct(w['errors']), ' %')}")  # fmt: skip
        say(line)


def register_locust_target(run: Run, on: bool) -> None:
    if run.file_sd is None or run.tool != "locust":
        return
    # No testid label here: the master puts it on every series itself (LOCUST_TESTID).
    targets = [{"targets": [f"127.0.0.1:{run.locust_metrics_port}"]}] if on else []
    run.file_sd.write_text(json.dumps(targets))


def _children_cpu() -> float:
    """CPU seconds (user + system) of the finished child processes: the load tool's cost."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def shop_strategy(url: str) -> str | None:
    """The order strategy of a ready shop; None when it is not ready."""
    try:
        res = requests.get(f"{url}/readyz", timeout=5)
    except requests.RequestException:
        return None
    if res.status_code != 200:
        return None
    try:
        return res.json().get("order_strategy", "unknown")
    except ValueError:
        return "unknown"  # ready, but not this shop's JSON


def restart_native_stack(strategy: str) -> bool:
    """local-down, then local-up with LOCAL_ORDER_STRATEGY (data and Prometheus history kept)."""
    say(f"restarting the native stack with LOCAL_ORDER_STRATEGY={strategy} (data is kept)")
    env = {**os.environ, "LOCAL_ORDER_STRATEGY": strategy}
    for action in ("down", "up"):
        proc = subprocess.run([sys.executable, "-m", "stack", action], env=env, cwd=REPO,
                              check=False, capture_output=True, text=True)  # fmt: skip
        if proc.returncode != 0:
            say(f"`python -m stack {action}` failed:\n{proc.stdout}{proc.stderr}")
            return False
    return True


def execute(run: Run) -> int:
    running = shop_strategy(run.shop_url)
    if running is None:
        say(f"the shop at {run.shop_url} is not ready: start it (make local-up) or set SHOP_URL")
        return 2
    if run.strategy and running != run.strategy:
        if not run.native:
            say(f"the shop at {run.shop_url} runs the {running} strategy, not {run.strategy}: "
                f"restart it with SHOP_ORDER_STRATEGY={run.strategy}")  # fmt: skip
            return 2
        if not restart_native_stack(run.strategy):
            return 2
        running = shop_strategy(run.shop_url)
    say(f"the shop runs the {running} order strategy")
    run.results.mkdir(parents=True, exist_ok=True)
    prom = Prometheus(run.prometheus_url) if run.prometheus_url else None
    say(f"{run.tool} {run.scenario}: {run.spec['description']}; TARGET_TPS {run.target_tps:g}, "
        f"SCALE {run.scale:g} (~{run.planned_seconds():.0f} s), HOT_USERS {run.hot_users}, "
        f"testid {run.testid}")  # fmt: skip
    say(f"results: {run.results}")
    cpu_before = _children_cpu()
    started = time.time()
    done = threading.Event()
    ticker = threading.Thread(target=progress, args=(run, prom, started, done), daemon=True)
    try:
        register_locust_target(run, True)
        ticker.start()
        rc = run_tool(run, run.planned_seconds() * 1.5 + 120)
        ended = time.time()
        run.generator_cpu_s = _children_cpu() - cpu_before
        time.sleep(7 if prom else 0)  # the last remote write / scrape
    finally:
        done.set()
        register_locust_target(run, False)
    return verdict(run, prom, started, ended, rc)


def run_tool(run: Run, limit: float) -> int:
    """The tool in its own process group, so that a timeout or Ctrl-C stops all of it (Locust's
    workers are processes of their own)."""
    with open(run.results / f"{run.tool}.log", "wb") as log:
        proc = subprocess.Popen(command(run), env=tool_env(run), stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        try:
            return proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            say(f"the load tool overran its time limit ({limit:.0f} s) and was stopped")
            return _stop_group(proc)
        except KeyboardInterrupt:
            say("interrupted: stopping the load tool")
            _stop_group(proc)
            raise


def _stop_group(proc: subprocess.Popen) -> int:
    for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=grace)
            break
        except subprocess.TimeoutExpired:
            continue
    return -1


def verdict(run: Run, prom: Prometheus | None, started: float, ended: float, rc: int) -> int:
    path = run.results / f"{run.tool}-summary.json"
    if not path.exists():
        say(
            f"{run.tool} wrote no summary (exit {rc}); its log: {run.results / (run.tool + '.log')}"
        )
        return 2
    summary = json.loads(path.read_text())
    if rc not in (0, 99) or not summary["requests"]:
        say(f"{run.tool} failed (exit {rc}, {summary['requests']} requests): no verdict; "
            f"its log: {run.results / (run.tool + '.log')}")  # fmt: skip
        return 2
    # The load itself started here (Locust may first wait for a scrape, k6 runs its setup).
    started = summary.get("started_at") or started
    print()
    print(f"===== {run.tool} {run.scenario} verdict (testid {run.testid}) =====")
    for t in sorted(summary["thresholds"], key=lambda t: t["name"]):
        print(f"  {'PASS' if t['pass'] else 'FAIL'}  {t['name']}")
    if summary.get("aborted"):
        print(f"  ABORTED early (abortOnFail): {'; '.join(summary['aborted'])}")
    print(f"  achieved {summary['achieved_tps']:.1f}/s (successful) of {run.target_tps:g} "
          f"target over {summary['duration_s']:.0f} s; {summary['requests']} requests, "
          f"errors {summary['error_rate'] * 100:.2f} %")  # fmt: skip
    if run.generator_cpu_s is not None and summary["requests"]:
        seconds = max(1.0, ended - started)
        print(f"  load generator CPU: {run.generator_cpu_s:.1f} s over {seconds:.0f} s "
              f"({run.generator_cpu_s / seconds:.2f} cores), "
              f"{run.generator_cpu_s / summary['requests'] * 1000:.2f} ms per request")  # fmt: skip
    for name in ENDPOINTS:
        e = summary["endpoints"][name]
        print(f"  {name:28s} n={e['count'] or 0:<7} p95 {fmt(e['p95_ms'], ' ms'):>10}  "
              f"p99 {fmt(e['p99_ms'], ' ms'):>10}")  # fmt: skip
    if prom:
        # increase() copes with a counter reset (MariaDB restarted for another strategy).
        seconds = max(1, int(time.time() - started))
        deadlocks = prom.value(f"sum(increase(innodb_deadlocks_total[{seconds}s]))")
        if deadlocks is not None:
            print(f"  InnoDB deadlocks during the run: {deadlocks:.0f}")
        report = run.spec["report"]
        hold = hold_window(run, started)
        if hold and report == "thresholds" and started + summary["duration_s"] < hold[1]:
            print("  (the run stopped before the end of its hold: no steady-state figures)")
        elif hold and report == "thresholds":
            w = window(run, prom, hold[0], hold[1])
            offered = run.spec["stages"][hold[2]]["tps"] * run.target_tps
            share = pct(w["rate"] / offered) if w["rate"] is not None else None
            print(f"  during the {hold[1] - hold[0]:.0f} s hold at {offered:.0f}/s: achieved "
                  f"{fmt(w['rate'], '/s')} ({fmt(share, ' %')} of offered), "
                  f"orders p95 {fmt(w['orders_p95'], ' ms')}, "
                  f"popular p95 {fmt(w['popular_p95'], ' ms')}")  # fmt: skip
        if report == "steps":
            for line in stress_report(run, prom, started):
                print(f"  {line}")
        elif report == "recovery":
            for line in spike_report(run, prom, started):
                print(f"  {line}")
    elif run.spec["report"] in ("steps", "recovery"):
        print("  (step / recovery analysis needs Prometheus: run against make local-up)")
    print(f"  results: {run.results}")
    passed = summary["passed"]
    if run.spec["report"] in ("steps", "recovery"):
        print("  verdict: REPORTED (stress and spike runs report; they do not pass or fail)")
        return 0 if rc in (0, 99) else 2
    print(f"  verdict: {'PASS' if passed else 'FAIL'}")
    return 0 if passed else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest", description=__doc__.splitlines()[0])
    parser.add_argument("--tool", choices=("k6", "locust"), default=os.environ.get("TOOL", "k6"))
    parser.add_argument("--scenario", choices=[k for k in SCENARIOS if not k.startswith("_")],
                        default=os.environ.get("SCENARIO", "smoke"))  # fmt: skip
    # Defaults from the environment are strings: argparse converts and checks them as well.
    parser.add_argument("--target-tps", type=float, default=os.environ.get("TARGET_TPS", "200"),
                        help="the rate scenario fractions refer to (default 200)")  # fmt: skip
    parser.add_argument("--scale", type=float, default=os.environ.get("SCALE", "1"),
                        help="multiplies every stage's duration (0.1: a tenth)")  # fmt: skip
    parser.add_argument("--hot-users", type=int, default=os.environ.get("HOT_USERS", "0"),
                        help="send HOT_RATIO of orders to users 1..N (0: off)")  # fmt: skip
    parser.add_argument("--hot-ratio", type=float, default=os.environ.get("HOT_RATIO", "0.8"))
    parser.add_argument("--order-ratio", type=float, default=os.environ.get("ORDER_RATIO", "0.5"),
                        help="share of requests that are orders (the rest: popular)")  # fmt: skip
    parser.add_argument("--strategy", choices=("safe", "naive"), default=os.environ.get("STRATEGY")
                        or None, help="the shop's order strategy for this run; the native "
                        "stack is restarted with it if it runs the other one")  # fmt: skip
    parser.add_argument("--shop-url", default=os.environ.get("SHOP_URL"))
    parser.add_argument("--prometheus-url", default=os.environ.get("PROMETHEUS_URL"))
    parser.add_argument("--locust-processes", type=int, default=os.environ.get("PROCESSES", "0"),
                        help="Locust worker processes (0: one process)")  # fmt: skip
    parser.add_argument("--locust-metrics-port", type=int, default=None,
                        help="where the Locust master exports metrics (default "
                        "LOCAL_LOCUST_METRICS_PORT, 19646)")  # fmt: skip
    parser.add_argument("--locust-scrape-wait", type=float, default=None,
                        help="seconds Locust holds its load until Prometheus scraped it once "
                        "(default 15 on the native stack, else 0)")  # fmt: skip
    parser.add_argument("--results", default=os.environ.get("RESULTS_ROOT", str(REPO / "results")))
    args = parser.parse_args(argv)
    # argparse does not check defaults against choices: TOOL and SCENARIO from the environment.
    if args.tool not in ("k6", "locust"):
        parser.error(f"TOOL={args.tool!r} is not k6 or locust")
    if args.scenario not in SCENARIOS or args.scenario.startswith("_"):
        parser.error(f"SCENARIO={args.scenario!r} is not one of smoke, load, soak, stress, spike")
    for name in ("target_tps", "scale"):
        if not 0 < getattr(args, name) < 1e6:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    for name in ("hot_ratio", "order_ratio"):
        if not 0 <= getattr(args, name) <= 1:
            parser.error(f"--{name.replace('_', '-')} must be a share between 0 and 1")
    if args.hot_users < 0 or args.locust_processes < 0:
        parser.error("--hot-users and --locust-processes cannot be negative")
    from stack.settings import StackSettings, StackSettingsError

    try:
        native = StackSettings.from_env(os.environ)
    except StackSettingsError as exc:
        parser.error(str(exc))
    shop_url = (args.shop_url or native.url("LOCAL_SHOP_PORT")).rstrip("/")
    prometheus_url = args.prometheus_url
    file_sd = None
    if prometheus_url is None and not args.shop_url:
        prometheus_url = native.url("LOCAL_PROMETHEUS_PORT")
        file_sd = native.state_dir / "locust.json"
    if prometheus_url:
        try:
            requests.get(f"{prometheus_url}/-/ready", timeout=2).raise_for_status()
        except requests.RequestException:
            say(f"no Prometheus at {prometheus_url}: running without it (no remote write, no "
                "step or recovery analysis)")  # fmt: skip
            prometheus_url, file_sd = None, None
    testid = f"{args.tool}-{args.scenario}-{time.strftime('%Y%m%d-%H%M%S')}"
    run = Run(
        tool=args.tool, scenario=args.scenario, target_tps=args.target_tps, scale=args.scale,
        hot_users=args.hot_users, hot_ratio=args.hot_ratio, order_ratio=args.order_ratio,
        shop_url=shop_url, prometheus_url=prometheus_url, results=Path(args.results) / testid,
        testid=testid, locust_processes=args.locust_processes,
        locust_metrics_port=args.locust_metrics_port or native.port("LOCAL_LOCUST_METRICS_PORT"),
        file_sd=file_sd,
        strategy=args.strategy,
        native=not args.shop_url,
        locust_scrape_wait=args.locust_scrape_wait
        if args.locust_scrape_wait is not None
        else (15 if file_sd else 0),
    )  # fmt: skip
    return execute(run)

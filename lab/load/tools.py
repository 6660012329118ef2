"""The load tools as processes: k6's and Locust's command lines, their environment, their
process group and its time limit, and the CPU they used.

Both get the resolved plan in LOAD_PLAN (JSON): they parse no knob of their own.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lab.load.scenarios import Plan
from lab.load.settings import REPO, LoadSettings

VENV_BIN = Path(sys.executable).parent
# Seconds the tool may overrun its plan before it is stopped: setup, gracefulStop, last scrape.
OVERRUN_FACTOR, OVERRUN_S = 1.5, 120


@dataclass(frozen=True)
class ToolRun:
    """What came back from one run of the tool."""

    exit_code: int  # -1 when stopped for overrunning its time limit
    cpu_s: float  # user + system seconds of the tool's processes


# Each tool writes one JSON line per order attempt here (what audit.reconcile reads).
ORDER_LOG = "orders.jsonl"


def command(s: LoadSettings, results: Path) -> list[str]:
    if s.tool == "k6":
        cmd = [str(VENV_BIN / "k6"), "run", "--no-color", "--tag", f"testid={results.name}",
               # console.log carries the order log only: one JSON line per order attempt.
               f"--console-output={results / ORDER_LOG}", "--log-format=raw"]  # fmt: skip
        if s.prometheus_url:
            cmd += ["-o", "experimental-prometheus-rw"]
        return cmd + [str(REPO / "k6" / "mixed.js")]
    cmd = [str(VENV_BIN / "locust"), "-f", str(REPO / "locust" / "locustfile.py"),
           "--host", s.base_url, "--csv", str(results / "locust"),
           "--html", str(results / "locust.html"), "--only-summary",
           # At the end a user finishes the request in flight: killed mid-request, it would be
           # served (and counted by the shop) but missing from Locust's own count.
           "--stop-timeout", "10"]  # fmt: skip
    if s.watch:  # the web UI on loopback, the run started at once and ended with the shape
        cmd += ["--autostart", "--autoquit", "5", "--web-host", "127.0.0.1",
                "--web-port", str(s.watch_port)]  # fmt: skip
    else:
        cmd.append("--headless")
    if s.locust_processes:
        cmd += ["--processes", str(s.locust_processes)]
    return cmd


def environment(s: LoadSettings, plan: Plan) -> dict[str, str]:
    env = {**s.environ, "LOAD_PLAN": plan.to_json(), "K6_NO_USAGE_REPORT": "true"}
    if s.tool == "k6":
        results = plan.results_dir
        env.update({
            "K6_WEB_DASHBOARD": "true",
            # -1: no server, only the exported report; WATCH=1 serves it live on loopback.
            "K6_WEB_DASHBOARD_PORT": str(s.watch_port) if s.watch else "-1",
            "K6_WEB_DASHBOARD_HOST": "127.0.0.1",
            "K6_WEB_DASHBOARD_PERIOD": "1s",
            "K6_WEB_DASHBOARD_EXPORT": f"{results}/k6-report.html",
        })  # fmt: skip
        if s.prometheus_url:
            env.update({
                "K6_PROMETHEUS_RW_SERVER_URL": f"{s.prometheus_url}/api/v1/write",
                "K6_PROMETHEUS_RW_TREND_AS_NATIVE_HISTOGRAM": "true",
                "K6_PROMETHEUS_RW_PUSH_INTERVAL": "1s",
            })  # fmt: skip
    else:
        env["LOCUST_METRICS_PORT"] = str(s.locust_metrics_port)
        # Prometheus scrapes the master: hold the load until a first scrape, linger for a last.
        env["LOCUST_SCRAPE_WAIT"] = f"{s.locust_scrape_wait:g}"
    return env


def watch_url(s: LoadSettings) -> str:
    return f"http://127.0.0.1:{s.watch_port}/"


def time_limit(plan: Plan) -> float:
    return plan.seconds * OVERRUN_FACTOR + OVERRUN_S


def register_locust_target(s: LoadSettings, on: bool) -> None:
    """The native Prometheus finds the Locust master through file_sd, for the run's length."""
    if s.file_sd is None or s.tool != "locust":
        return
    # No testid label here: the master puts it on every series itself.
    targets = [{"targets": [f"127.0.0.1:{s.locust_metrics_port}"]}] if on else []
    s.file_sd.write_text(json.dumps(targets))


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_tool(
    s: LoadSettings, plan: Plan, results: Path, say: Callable[[str], None] = lambda _: None
) -> ToolRun:
    """The tool in its own process group, so that a timeout or Ctrl-C stops all of it (Locust's
    workers are processes of their own); its output goes to results/<tool>.log."""
    from stack.processes import start, stop_group  # lazily: compose's containers have no stack/

    limit = time_limit(plan)
    before = _children_cpu()
    if s.watch:
        what = "k6's web dashboard" if s.tool == "k6" else "Locust's web UI"
        say(f"watch live: {what} at {watch_url(s)} (for the run only)")
    proc = start(command(s, results), env=environment(s, plan), log=results / f"{s.tool}.log")
    try:
        rc = proc.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        say(f"the load tool overran its time limit ({limit:.0f} s) and was stopped")
        stop_group(proc)
        rc = -1
    except KeyboardInterrupt:
        say("interrupted: stopping the load tool")
        stop_group(proc)
        raise
    return ToolRun(rc, _children_cpu() - before)

"""One k6 constant-arrival-rate step against one app, its verdict and its CPU cost per request."""

from __future__ import annotations

import json
import math
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

K6 = str(Path(sys.executable).parent / "k6")
STEP_SCRIPT = Path(__file__).resolve().parent / "k6" / "bench_step.js"
# p95 limits of the bench (tighter than the load SLOs: this is a ceiling, not a soak).
P95_LIMIT_MS = {"orders": 50.0, "popular": 20.0}
DROPPED_LIMIT = 0.01  # share of offered iterations k6 could not start
K6_FULL_CORE = 0.85  # k6 at this share of a core or more is itself near its limit
IDLE_APP_CORES = 0.5  # app + database below half a core while k6 drops: k6's limit
BUSY_NEIGHBOURS = 0.5  # cores used by other processes during a step: the step says so


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its live children, so far."""
    total = 0.0
    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    for p in procs:
        try:
            times = p.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine's processes have spent busy (all cores), so far: the
    hypervisor's steal is not theirs (steal_seconds)."""
    t = psutil.cpu_times()
    return sum(t) - t.idle - getattr(t, "iowait", 0.0) - steal_seconds(t)


def steal_seconds(t=None) -> float:
    """CPU seconds the host took from this VM's cores (another guest ran), so far."""
    t = t or psutil.cpu_times()
    return getattr(t, "steal", 0.0)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class StepResult:
    app: str
    workload: str  # orders | popular
    rate: int  # offered per second
    run: int  # the pass this step belongs to (1, 2, ...)
    seconds: float
    requests: int
    achieved: float  # completed per second
    p95_ms: float
    p99_ms: float
    errors: int
    dropped: int
    # app, db, k6, others (the rest of the machine), steal (taken by the host): CPU s per s
    cores: dict[str, float]
    cpu_ms: dict[str, float]  # app, db, k6: CPU milliseconds per completed request

    @property
    def offered(self) -> int:
        return self.requests + self.dropped

    @property
    def held(self) -> bool:
        return (
            self.p95_ms <= P95_LIMIT_MS[self.workload]
            and self.errors == 0
            and self.requests > 0
            and self.dropped <= DROPPED_LIMIT * self.offered
        )

    @property
    def k6_limited(self) -> bool:
        """k6 near a full core, or dropping iterations while the app and database idle."""
        if self.cores["k6"] >= K6_FULL_CORE:
            return True
        idle = self.cores["app"] + self.cores["db"] < IDLE_APP_CORES
        starved = self.disturbed  # neighbours or the host, not k6, took the CPU
        return self.dropped > DROPPED_LIMIT * self.offered and idle and not starved

    @property
    def disturbed(self) -> bool:
        """Neighbours, or the host (steal), took half a core or more during the step."""
        taken = max(self.cores["others"], self.cores.get("steal", 0.0))
        return taken >= BUSY_NEIGHBOURS

    def line(self) -> str:
        verdict = "held" if self.held else "NOT held"
        cost = "  ".join(f"{k} {v:.2f}" for k, v in self.cpu_ms.items())
        others, steal = self.cores["others"], self.cores.get("steal", 0.0)
        taken = ""
        if self.disturbed:
            taken = f"  (neighbours {others:.1f}, host steal {steal:.1f} cores)"
        return (
            f"{self.workload:7s} {self.app:4s} pass {self.run}  {self.rate:5d}/s offered "
            f"{self.achieved:7.1f}/s done  p95 {self.p95_ms:6.1f} ms  p99 {self.p99_ms:6.1f} ms  "
            f"errors {self.errors}  dropped {self.dropped}  {verdict:8s}  "
            f"CPU ms/req: {cost}{'  (k6 limit)' if self.k6_limited else ''}{taken}"
        )


def run_step(
    *,
    app: str,
    base_url: str,
    workload: str,
    rate: int,
    duration: float,
    pids: dict[str, int],
    workdir: Path,
    run: int = 0,
    users: int = 10_000,
    products: int = 1_000,
) -> StepResult:
    """Offer `rate` requests/s of `workload` for `duration` seconds; pids: app and db roots."""
    summary = workdir / f"{app}-{workload}-{rate}-{run}.json"
    # Enough VUs for ~30 ms responses up front (allocating them mid-step drops iterations).
    vus = min(800, 20 + math.ceil(rate * 0.03))
    env = {
        **os.environ,
        "BASE_URL": base_url,
        "ENDPOINT": workload,
        "RATE": str(rate),
        "DURATION": f"{duration:g}s",
        "VUS": str(vus),
        "MAX_VUS": str(max(4 * vus, 200)),
        "USERS": str(users),
        "PRODUCTS": str(products),
        "K6_NO_USAGE_REPORT": "true",
    }
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    k6_before = _children_cpu()
    machine_before, steal_before = machine_busy_seconds(), steal_seconds()
    started = time.monotonic()
    subprocess.run(
        [K6, "run", "--quiet", "--no-color", "--summary-export", str(summary), str(STEP_SCRIPT)],
        env=env, check=False, capture_output=True, timeout=duration + 120,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    used = {name: cpu_seconds(pid) - before[name] for name, pid in pids.items()}
    used["k6"] = _children_cpu() - k6_before
    ours = sum(used.values())
    others = max(0.0, machine_busy_seconds() - machine_before - ours)
    steal = steal_seconds() - steal_before
    metrics = json.loads(summary.read_text())["metrics"]
    requests = int(metrics["http_reqs"]["count"])
    duration_ms = metrics["http_req_duration"]
    return StepResult(
        app=app,
        workload=workload,
        rate=rate,
        run=run,
        seconds=elapsed,
        requests=requests,
        achieved=requests / duration,
        p95_ms=duration_ms["p(95)"],
        p99_ms=duration_ms["p(99)"],
        errors=round(metrics["http_req_failed"]["value"] * requests),
        dropped=int(metrics.get("dropped_iterations", {}).get("count", 0)),
        cores={
            **{name: s / elapsed for name, s in used.items()},
            "others": others / elapsed,
            "steal": steal / elapsed,
        },
        cpu_ms={name: 1000 * seconds / max(requests, 1) for name, seconds in used.items()},
    )


def wait_until_idle(pid: int, cores: float = 0.3, timeout: float = 15.0) -> bool:
    """After an overloaded step: wait until the app's queue has drained (its CPU falls)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before, t0 = cpu_seconds(pid), time.monotonic()
        time.sleep(0.5)
        if (cpu_seconds(pid) - before) / (time.monotonic() - t0) < cores:
            return True
    return False

"""The shop against its textbook peer, interleaved on one MariaDB and Redis: `run(settings)`.

Each app runs under its own server with the same workers and threads, side by side: the shop
as the stack runs it (shop.serve: granian), the peer as a textbook Flask app is deployed
(gunicorn, gthread workers). Every rate is offered to one then the other (the order alternating
between passes), so a neighbour's burst hits both alike. The answer per workload is each app's
highest rate held in every pass, the spread over passes, the ratio shop/peer, and the CPU per
request of the app, the database and k6 at the highest rate both held.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.backing import start_backing, stop_all
from bench.steps import P95_LIMIT_MS, StepResult, run_step, wait_until_idle
from stack.ephemeral import Server, ShopServer
from stack.processes import http_ok
from stack.settings import REPO

APPS = ("peer", "shop")
CORES = os.cpu_count() or 1
WORKLOADS = ("orders", "popular")


@dataclass(frozen=True)
class BenchSettings:
    workloads: tuple[str, ...] = WORKLOADS
    # From low enough that both apps hold something on a box shared with busy neighbours, in
    # steps of a quarter to a half up to where the textbook peer breaks (so that a ratio of
    # held rates is not an artefact of a coarse grid), wider above.
    order_rates: tuple[int, ...] = (50, 100, 150, 200, 250, 300, 400, 500, 600, 800)
    popular_rates: tuple[int, ...] = (250, 500, 750, 1000, 1500, 2000, 2500, 3000, 3500)
    passes: int = 2
    # A step missed while neighbours or the host took half a core is run again (after the app
    # drained), up to this many times: such a miss says more about the box than the app.
    disturbed_reruns: int = 2
    step_seconds: float = 8.0
    warm_seconds: float = 3.0  # per app and workload, at 100/s, before the steps
    workers: int = 4
    threads: int = 4
    users: int = 10_000
    products: int = 1_000
    orders: int = 20_000

    def rates(self, workload: str) -> tuple[int, ...]:
        return self.order_rates if workload == "orders" else self.popular_rates


@dataclass(frozen=True)
class AppSummary:
    app: str
    held_per_pass: tuple[int, ...]  # highest rate held in each pass (0: none)

    @property
    def held(self) -> int:
        """The rate held in every pass: the figure the ratio uses."""
        return min(self.held_per_pass) if self.held_per_pass else 0


@dataclass(frozen=True)
class WorkloadResult:
    workload: str
    apps: dict[str, AppSummary]
    cost_rate: int  # the highest rate both held (else the lowest both ran): CPU compared there
    cost_held: bool  # both apps held cost_rate in every pass
    cpu_ms: dict[str, dict[str, float]]  # app -> {app, db, k6}: median over passes at cost_rate
    k6_limited: tuple[StepResult, ...]  # steps where k6 itself was near its limit
    disturbed: tuple[StepResult, ...]  # steps where neighbours or the host took >= half a core

    lowest_rate: int = 0  # the grid's first rate: what "held no rate" is below

    @property
    def ratio(self) -> float | None:
        peer = self.apps["peer"].held
        return self.apps["shop"].held / peer if peer else None

    @property
    def ratio_above(self) -> float | None:
        """When the peer held no rate in some pass but the shop did: the ratio is more than
        the shop's rate over the lowest one offered (the peer's held rate is below it)."""
        if self.ratio is not None or not self.apps["shop"].held or not self.lowest_rate:
            return None
        return self.apps["shop"].held / self.lowest_rate

    @property
    def cost_ratio(self) -> float | None:
        """Peer's app + database CPU per request over the shop's: what neighbours move least."""
        if set(self.cpu_ms) != set(APPS):
            return None
        peer, shop = (self.cpu_ms[a]["app"] + self.cpu_ms[a]["db"] for a in APPS)
        return peer / shop if shop else None


@dataclass(frozen=True)
class BenchResult:
    settings: BenchSettings
    steps: tuple[StepResult, ...]
    workloads: tuple[WorkloadResult, ...]
    seconds: float
    errors: int = 0
    notes: tuple[str, ...] = field(default=())


@dataclass
class PeerServer(Server):
    """The peer under gunicorn's gthread workers, the textbook deployment of a Flask app, with
    the shop's numbers of workers and threads."""

    env: dict[str, str]
    workers: int
    threads: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 60) -> PeerServer:
        args = [sys.executable, "-m", "gunicorn", "--worker-class", "gthread",
                "--workers", str(self.workers), "--threads", str(self.threads),
                "--bind", f"{self.host}:{self.port}", "--backlog", "2048", "--keep-alive", "5",
                "--log-level", "warning", "bench.peer:create_app()"]  # fmt: skip
        self.launch(args, lambda: http_ok(f"{self.url}/healthz"), timeout,
                    env={**os.environ, **self.env}, cwd=REPO)  # fmt: skip
        return self


def _summarise(workload: str, steps: list[StepResult], passes: int) -> WorkloadResult:
    mine = [s for s in steps if s.workload == workload]
    apps = {}
    for app in APPS:
        per_pass = []
        for run in range(1, passes + 1):
            held = [s.rate for s in mine if s.app == app and s.run == run and s.held]
            per_pass.append(max(held, default=0))
        apps[app] = AppSummary(app, tuple(per_pass))
    common = [r for r in sorted({s.rate for s in mine})
              if {s.app for s in mine if s.rate == r} == set(APPS)]  # fmt: skip
    both = [r for r in common if all(s.held for s in mine if s.rate == r)]
    # Where both held; failing that, the lowest rate both were offered.
    cost_rate = max(both, default=min(common, default=0))
    cpu_ms = {}
    for app in APPS:
        at = [s for s in mine if s.app == app and s.rate == cost_rate]
        if at:
            cpu_ms[app] = {k: statistics.median(s.cpu_ms[k] for s in at) for k in at[0].cpu_ms}
    return WorkloadResult(
        workload,
        apps,
        cost_rate,
        cost_rate in both,
        cpu_ms,
        tuple(s for s in mine if s.k6_limited),
        tuple(s for s in mine if s.disturbed),
        lowest_rate=min((s.rate for s in mine), default=0),
    )


def settle(
    result: StepResult, again: Callable[[], StepResult], reruns: int, log: Callable[[str], None]
) -> StepResult:
    """A step missed while neighbours or the host took half a core, run `again` up to `reruns`
    times; the last try is the step's result."""
    for _ in range(reruns):
        if result.held or not result.disturbed:
            break
        log(f"{result.line()}  -> disturbed: run again")
        result = again()
    return result


def run(settings: BenchSettings, log: Callable[[str], None] = print) -> BenchResult:
    """Start MariaDB, Redis and both apps in a temporary folder, run the steps, stop all."""
    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="shoplab-bench-"))
    servers: list = []
    steps: list[StepResult] = []
    try:
        log(f"starting MariaDB and Redis under {root}")
        db, redis = start_backing(root, settings.users, settings.products, settings.orders, servers)
        log(
            f"seeded {settings.users} users, {settings.products} products, {settings.orders} orders"
        )
        env = {"SHOP_DATABASE_URL": db.url("shop")}
        apps = {
            "peer": PeerServer(root / "peer", {**env, "SHOP_REDIS_URL": redis.url(1)},
                               settings.workers, settings.threads),
            "shop": ShopServer(root / "shop", {**env, "SHOP_REDIS_URL": redis.url(0)},
                               workers=settings.workers, threads=settings.threads),
        }  # fmt: skip
        for server in apps.values():
            servers.append(server.start())
        log(f"peer {apps['peer'].url} (gunicorn gthread), shop {apps['shop'].url} (shop.serve: "
            f"granian): {settings.workers} workers x {settings.threads} threads each")  # fmt: skip
        db_pid = db.pid
        pids = {name: {"app": s.pid, "db": db_pid} for name, s in apps.items()}

        def step(app: str, workload: str, rate: int, seconds: float, run_no: int) -> StepResult:
            return run_step(app=app, base_url=apps[app].url, workload=workload, rate=rate,
                            duration=seconds, pids=pids[app], workdir=root, run=run_no,
                            users=settings.users, products=settings.products)  # fmt: skip

        log("warming both apps (pool connections, caches, k6 VUs)")
        for workload in settings.workloads:
            for app in APPS:
                step(app, workload, 100, settings.warm_seconds, 0)
        for workload in settings.workloads:
            limit = P95_LIMIT_MS[workload]
            for run_no in range(1, settings.passes + 1):
                order = APPS if run_no % 2 else APPS[::-1]
                out = {app: 0 for app in APPS}  # consecutive misses
                for rate in settings.rates(workload):
                    for app in order:
                        if out[app] >= 2:
                            continue

                        def again(app=app, workload=workload, rate=rate, run_no=run_no):
                            wait_until_idle(pids[app]["app"])
                            return step(app, workload, rate, settings.step_seconds, run_no)

                        result = settle(
                            step(app, workload, rate, settings.step_seconds, run_no),
                            again, settings.disturbed_reruns, log,
                        )  # fmt: skip
                        steps.append(result)
                        log(result.line())
                        if result.held:
                            out[app] = 0
                            continue
                        far = result.p95_ms > 4 * limit or result.dropped > 0.05 * result.offered
                        out[app] = 2 if far else out[app] + 1
                        wait_until_idle(pids[app]["app"])
                    if all(n >= 2 for n in out.values()):
                        break
        workloads = tuple(_summarise(w, steps, settings.passes) for w in settings.workloads)
        return BenchResult(settings, tuple(steps), workloads, time.monotonic() - started)
    finally:
        stop_all(servers, log)
        shutil.rmtree(root, ignore_errors=True)


def report(result: BenchResult) -> list[str]:
    """The answer as lines of text, per workload."""
    lines = []
    for w in result.workloads:
        limit = P95_LIMIT_MS[w.workload]
        lines.append(f"{w.workload}: held = p95 <= {limit:.0f} ms, 0 errors, dropped <= 1 %,"
                     f" in each of {result.settings.passes} passes")  # fmt: skip
        for app in APPS:
            s = w.apps[app]
            spread = " / ".join(f"{r}" for r in s.held_per_pass)
            lines.append(f"  {app:4s} held {s.held:5d}/s   per pass: {spread}")
        if w.ratio is not None:
            ratio = f"{w.ratio:.2f}x"
        elif w.ratio_above is not None:
            ratio = (f"more than {w.ratio_above:.2f}x (the peer held no rate in some pass, "
                     f"not even {w.lowest_rate}/s)")  # fmt: skip
        else:
            ratio = "n/a (the peer held no rate)"
        lines.append(f"  ratio shop/peer: {ratio}")
        if w.cost_rate:
            held = "both held" if w.cost_held else "NOT held by both: overloaded figures"
            lines.append(f"  CPU ms per request at {w.cost_rate}/s ({held}; median of passes):")
            for app, cost in w.cpu_ms.items():
                parts = "  ".join(f"{k} {v:.2f}" for k, v in cost.items())
                # If CPU were the only limit: the machine's cores over all three's cost.
                ceiling = 1000 * CORES / sum(cost.values())
                lines.append(f"    {app:4s} {parts}   (CPU-bound ceiling ~{ceiling:,.0f}/s)")
            if w.cost_ratio is not None:
                lines.append(f"  CPU per request (app + db), peer/shop: {w.cost_ratio:.2f}x")
        if w.k6_limited:
            rates = ", ".join(f"{s.app} {s.rate}/s pass {s.run}" for s in w.k6_limited)
            lines.append(f"  k6 was the limit in: {rates}")
        else:
            lines.append("  k6 was not the limit in any step")
        if w.disturbed:
            others = max(s.cores["others"] for s in w.disturbed)
            steal = max(s.cores.get("steal", 0.0) for s in w.disturbed)
            lines.append(
                f"  neighbours or the host took >= 0.5 core in {len(w.disturbed)} steps (other "
                f"processes up to {others:.1f} cores, host steal up to {steal:.1f}): absolute "
                "rates are low; the interleaved ratio is the figure"
            )
    return lines

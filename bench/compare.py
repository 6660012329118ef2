"""The shop against its peers, interleaved on one MariaDB and Redis: `run(settings)`.

Each app runs under its own server with the same concurrency, side by side: the shop as the
stack runs it (shop.serve: granian), the textbook peer as a Flask app is deployed (gunicorn,
gthread workers), and the Spring Boot shop (spring-shop/, its jar as the stack runs it, with
workers x threads request threads, its JVM warmed up first). Every rate is offered to each in
turn (the order reversed between passes), so a neighbour's burst hits all alike. The answer per
workload is each app's highest rate held in every pass, the spread over passes, the ratios, and
the CPU per request of the app, the database and k6 at the highest rate all held.
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
from stack.ephemeral import Server, ShopServer, SpringShop
from stack.processes import http_ok
from stack.settings import REPO

APPS = ("peer", "shop", "spring")
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
    # The JVM compiles its hot code only after thousands of calls, and on a box with busy
    # neighbours its compiler threads wait for a core too: a fixed 30 or 60 s left the first
    # pass paying for the JIT. So the Spring shop is offered both workloads at SPRING_WARM_RATE
    # in slices until its JIT has gone quiet (warm_jvm), for at most this long.
    spring_warm_seconds: float = 240.0
    workers: int = 4
    threads: int = 4
    users: int = 10_000
    products: int = 1_000
    orders: int = 20_000

    def rates(self, workload: str) -> tuple[int, ...]:
        return self.order_rates if workload == "orders" else self.popular_rates


SPRING_WARM_RATE = 200
WARM_SLICE_SECONDS = 10.0
# The JIT is quiet when a round of slices (every workload once) compiled less than this.
QUIET_COMPILE_MS = 500.0


@dataclass(frozen=True)
class JvmWarmth:
    seconds: float  # spent warming
    compile_ms: float  # the JIT's compilation time by the end, in all
    last_round_ms: float  # compilation during the last round of slices
    quiet: bool  # the JIT went quiet within the bound


def warm_jvm(
    offer: Callable[[str, float], object],
    compile_ms: Callable[[], float],
    workloads: tuple[str, ...],
    budget: float,
) -> JvmWarmth:
    """Offer each workload in turn (`offer(workload, seconds)`) until a round added less than
    QUIET_COMPILE_MS to the JIT's compilation time (`compile_ms()`), or `budget` seconds of
    load have been offered."""
    piece = min(WARM_SLICE_SECONDS, budget)  # a short budget (a test) in short slices
    spent, before = 0.0, compile_ms()
    while True:
        for workload in workloads:
            offer(workload, piece)
            spent += piece
        now = compile_ms()
        quiet = now - before < QUIET_COMPILE_MS
        if quiet or spent + piece * len(workloads) > budget:
            return JvmWarmth(spent, now, now - before, quiet)
        before = now


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
        return self.ratio_of("shop", "peer")

    def ratio_of(self, app: str, other: str) -> float | None:
        """`app`'s held rate over `other`'s (None when either did not run or `other` held none)."""
        if app not in self.apps or other not in self.apps or not self.apps[other].held:
            return None
        return self.apps[app].held / self.apps[other].held

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
        return self.cost_ratio_of("peer", "shop")

    def cost_ratio_of(self, app: str, other: str) -> float | None:
        """`app`'s app + database CPU per request over `other`'s."""
        if app not in self.cpu_ms or other not in self.cpu_ms:
            return None
        mine, theirs = (self.cpu_ms[a]["app"] + self.cpu_ms[a]["db"] for a in (app, other))
        return mine / theirs if theirs else None


@dataclass(frozen=True)
class BenchResult:
    settings: BenchSettings
    steps: tuple[StepResult, ...]
    workloads: tuple[WorkloadResult, ...]
    seconds: float
    errors: int = 0
    notes: tuple[str, ...] = field(default=())
    warmth: JvmWarmth | None = None  # how the Spring shop's JVM was warmed


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
    ran = [app for app in APPS if any(s.app == app for s in mine)]
    apps = {}
    for app in ran:
        per_pass = []
        for run in range(1, passes + 1):
            held = [s.rate for s in mine if s.app == app and s.run == run and s.held]
            per_pass.append(max(held, default=0))
        apps[app] = AppSummary(app, tuple(per_pass))
    common = [r for r in sorted({s.rate for s in mine})
              if {s.app for s in mine if s.rate == r} == set(ran)]  # fmt: skip
    both = [r for r in common if all(s.held for s in mine if s.rate == r)]
    # Where all held; failing that, the lowest rate all were offered.
    cost_rate = max(both, default=min(common, default=0))
    cpu_ms = {}
    for app in ran:
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
        threads = settings.workers * settings.threads
        apps = {
            "peer": PeerServer(root / "peer", {**env, "SHOP_REDIS_URL": redis.url(1)},
                               settings.workers, settings.threads),
            "shop": ShopServer(root / "shop", {**env, "SHOP_REDIS_URL": redis.url(0)},
                               workers=settings.workers, threads=settings.threads),
            # The stack's JVM flags for its 2-CPU / 4 GB box; as many request threads (and
            # pooled connections) as the others have threads in all.
            "spring": SpringShop(root / "spring", {**env, "SHOP_REDIS_URL": redis.url(2),
                                                   "SHOP_THREADS": str(threads),
                                                   "SHOP_LOG_LEVEL": "warning"},
                                 memory="4g"),
        }  # fmt: skip
        for server in apps.values():
            servers.append(server.start())
        log(f"peer {apps['peer'].url} (gunicorn gthread), shop {apps['shop'].url} (shop.serve: "
            f"granian): {settings.workers} workers x {settings.threads} threads each; spring "
            f"{apps['spring'].url} (Spring Boot, Tomcat): {threads} threads")  # fmt: skip
        db_pid = db.pid
        pids = {name: {"app": s.pid, "db": db_pid} for name, s in apps.items()}

        def step(app: str, workload: str, rate: int, seconds: float, run_no: int) -> StepResult:
            return run_step(app=app, base_url=apps[app].url, workload=workload, rate=rate,
                            duration=seconds, pids=pids[app], workdir=root, run=run_no,
                            users=settings.users, products=settings.products)  # fmt: skip

        budget = settings.spring_warm_seconds
        log(f"warming the Spring shop's JVM first: each workload at {SPRING_WARM_RATE}/s in "
            f"{WARM_SLICE_SECONDS:.0f} s slices until its JIT goes quiet (at most {budget:.0f} s),"
            " so that no step pays for the compiler")  # fmt: skip
        warmth = warm_jvm(
            lambda workload, seconds: step("spring", workload, SPRING_WARM_RATE, seconds, 0),
            lambda: apps["spring"].sample_sum("jvm_compilation_time_ms_total"),
            settings.workloads, budget,
        )  # fmt: skip
        log(warm_line(warmth))
        log("warming every app (pool connections, caches, k6 VUs)")
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
        return BenchResult(settings, tuple(steps), workloads, time.monotonic() - started,
                           warmth=warmth)  # fmt: skip
    finally:
        stop_all(servers, log)
        shutil.rmtree(root, ignore_errors=True)


def warm_line(w: JvmWarmth) -> str:
    how = "its JIT went quiet" if w.quiet else "the JIT still busy at the bound"
    return (f"spring: its JVM was warmed up first: {w.seconds:.0f} s at {SPRING_WARM_RATE}/s, "
            f"{how} ({w.last_round_ms / 1000:.1f} s compiled in the last round, "
            f"{w.compile_ms / 1000:.0f} s in all)")  # fmt: skip


def report(result: BenchResult) -> list[str]:
    """The answer as lines of text, per workload."""
    lines = []
    if result.warmth is not None:
        lines.append(warm_line(result.warmth) + ", then warmed as the others")
    for w in result.workloads:
        limit = P95_LIMIT_MS[w.workload]
        lines.append(f"{w.workload}: held = p95 <= {limit:.0f} ms, 0 errors, dropped <= 1 %,"
                     f" in each of {result.settings.passes} passes")  # fmt: skip
        for app in w.apps:
            s = w.apps[app]
            spread = " / ".join(f"{r}" for r in s.held_per_pass)
            lines.append(f"  {app:6s} held {s.held:5d}/s   per pass: {spread}")
        if w.ratio is not None:
            ratio = f"{w.ratio:.2f}x"
        elif w.ratio_above is not None:
            ratio = (f"more than {w.ratio_above:.2f}x (the peer held no rate in some pass, "
                     f"not even {w.lowest_rate}/s)")  # fmt: skip
        else:
            ratio = "n/a (the peer held no rate)"
        lines.append(f"  ratio shop/peer: {ratio}")
        for app, other in (("spring", "peer"), ("spring", "shop")):
            if app in w.apps and other in w.apps:
                r = w.ratio_of(app, other)
                lines.append(f"  ratio {app}/{other}: " + (f"{r:.2f}x" if r is not None else
                             f"n/a (the {other} held no rate)"))  # fmt: skip
        if w.cost_rate:
            held = "all held" if w.cost_held else "NOT held by all: overloaded figures"
            lines.append(f"  CPU ms per request at {w.cost_rate}/s ({held}; median of passes):")
            for app, cost in w.cpu_ms.items():
                parts = "  ".join(f"{k} {v:.2f}" for k, v in cost.items())
                # If CPU were the only limit: the machine's cores over all three's cost.
                ceiling = 1000 * CORES / sum(cost.values())
                lines.append(f"    {app:6s} {parts}   (CPU-bound ceiling ~{ceiling:,.0f}/s)")
            for app, other in (("peer", "shop"), ("spring", "shop")):
                cost = w.cost_ratio_of(app, other)
                if cost is not None:
                    lines.append(f"  CPU per request (app + db), {app}/{other}: {cost:.2f}x")
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

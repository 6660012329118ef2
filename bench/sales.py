"""`make bench-sales`: the daily sales in the order transaction (sync) against the queue and its
consumer (async), with a few hot products, interleaved steps on one MariaDB.

python -m bench.sales [--products 5] [--threads 16] [--seconds 15] [--passes 2]

Starts its own MariaDB (the test harness's, on --port, loopback), seeds many users and only
`--products` products, so that every order hits the same few stock and daily-sales rows. Each
step places orders through the shop's own service (`shop.orders.place_order`, no HTTP: the
database path is what the switch changes) from `--threads` closed-loop threads for `--seconds`,
in the order sync, async, sync, async... In async steps the real consumer (`python -m
shop.sales`) runs beside the orders and its /metrics is sampled for the queue's depth and lag.
Per step: orders/s, latency p50/p95/p99, deadlocks and retries, InnoDB row-lock waits and time
(the server's counters), and for async the largest depth and lag and the seconds to catch up
after the orders stop. Every step ends with the books checked (the aggregate exact).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import requests
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, text

from bench.backing import stop_all
from shop.db import create_db_engine
from shop.errors import ShopError
from shop.invariants import check_invariants
from shop.metrics import ShopMetrics
from shop.orders import OrderLine, place_order
from shop.sales.queue import drain, read_queue_state
from shop.schema import metadata
from shop.seed import seed_catalog
from shop.settings import Settings
from stack.ephemeral import MariaDB
from stack.processes import free_port
from stack.settings import REPO

_STATUS = ("Innodb_row_lock_waits", "Innodb_row_lock_time", "Innodb_deadlocks")


def say(msg: str) -> None:
    print(f"bench-sales: {msg}", flush=True)


@dataclass
class Step:
    mode: str
    orders: int = 0
    failed: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    deadlocks: int = 0  # the server's counter
    retries: int = 0  # the shop's (safe strategy)
    lock_waits: int = 0
    lock_time_ms: int = 0
    max_depth: int = 0  # async: sampled from the consumer's /metrics
    max_lag_s: float = 0.0
    catch_up_s: float = 0.0  # async: after the orders stopped, until the queue was empty
    books_ok: bool = False
    db_cpu_ms: float = 0.0  # MariaDB's CPU per order
    consumer_cpu_ms: float = 0.0  # async: the consumer process's CPU per order
    crashed: str = ""  # an order thread's unexpected error: the step does not count

    @property
    def rate(self) -> float:
        return self.orders / self.seconds if self.seconds else 0.0

    def quantile_ms(self, q: float) -> float:
        if len(self.latencies) < 2:
            return float("nan")
        return statistics.quantiles(self.latencies, n=1000)[int(q * 1000) - 1] * 1000

    def line(self) -> str:
        out = (f"{self.mode:5s}  {self.rate:7.1f}/s  p50 {self.quantile_ms(0.5):6.1f}  "
               f"p95 {self.quantile_ms(0.95):6.1f}  p99 {self.quantile_ms(0.99):6.1f} ms  "
               f"failed {self.failed}  deadlocks {self.deadlocks}  retries {self.retries}  "
               f"row-lock waits {self.lock_waits / max(1, self.orders):.2f}/order, "
               f"{self.lock_time_ms / max(1, self.orders):.1f} ms waited/order")  # fmt: skip
        if self.mode == "async":
            out += (f"  queue max {self.max_depth} lines, lag max {self.max_lag_s:.2f} s, "
                    f"caught up in {self.catch_up_s:.2f} s")  # fmt: skip
        out += f"  CPU/order: MariaDB {self.db_cpu_ms:.2f} ms"
        if self.mode == "async":
            out += f", consumer {self.consumer_cpu_ms:.2f} ms"
        if self.crashed:
            out += f"  CRASHED: {self.crashed}"
        return out + ("" if self.books_ok else "  BOOKS BROKEN")


def server_status(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(text("SHOW GLOBAL STATUS WHERE Variable_name IN "
                                 "('Innodb_row_lock_waits', 'Innodb_row_lock_time', "
                                 "'Innodb_deadlocks')"))  # fmt: skip
        return {name: int(value) for name, value in rows}


def scrape(url: str) -> dict[str, float]:
    try:
        body = requests.get(url, timeout=2).text
    except requests.RequestException:
        return {}
    families = text_string_to_metric_families(body)
    return {s.name: s.value for f in families for s in f.samples if not s.labels}


def start_consumer(settings: Settings, port: int) -> subprocess.Popen:
    env = {**os.environ, "SHOP_DATABASE_URL": settings.database_url}
    proc = subprocess.Popen(
        [sys.executable, "-m", "shop.sales", "--listen", f"127.0.0.1:{port}"],
        env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while not scrape(f"http://127.0.0.1:{port}/metrics"):
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise RuntimeError("the sales consumer did not start")
        time.sleep(0.1)
    return proc


def cpu_s(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def run_step(args, settings: Settings, mode: str, seconds: float, db_pid: int) -> Step:
    settings = dataclasses.replace(settings, sales_mode=mode)
    engine = create_db_engine(settings)
    metrics = ShopMetrics(CollectorRegistry())
    step = Step(mode)
    consumer = start_consumer(settings, args.consumer_port) if mode == "async" else None
    url = f"http://127.0.0.1:{args.consumer_port}/metrics"
    stop = threading.Event()
    lock = threading.Lock()

    def orders(seed: int) -> None:
        rng = random.Random(seed)
        latencies, failed = [], 0
        while not stop.is_set():
            count = min(args.products, rng.choice((1, 2)))
            products = rng.sample(range(1, args.products + 1), count)
            lines = [OrderLine(p, rng.randint(1, 3)) for p in products]
            started = time.perf_counter()
            try:
                place_order(engine, metrics, strategy=args.strategy, lines=lines,
                            user_id=rng.randint(1, args.users), sales_mode=mode)  # fmt: skip
                latencies.append(time.perf_counter() - started)
            except ShopError:
                failed += 1
            except Exception as exc:  # a thread that dies must fail the bench, not shrink it
                with lock:
                    step.crashed = f"{type(exc).__name__}: {exc}"
                stop.set()
        with lock:
            step.latencies += latencies
            step.failed += failed

    def sample() -> None:
        while not stop.wait(0.5):
            values = scrape(url)
            step.max_depth = max(step.max_depth, int(values.get("shop_sales_queue_depth", 0)))
            step.max_lag_s = max(step.max_lag_s, values.get("shop_sales_queue_lag_seconds", 0))

    try:
        before = server_status(engine)
        db_cpu = cpu_s(db_pid)
        consumer_cpu = cpu_s(consumer.pid) if consumer is not None else 0.0
        threads = [threading.Thread(target=orders, args=(i,)) for i in range(args.threads)]
        if consumer is not None:
            threads.append(threading.Thread(target=sample))
        started = time.monotonic()
        for t in threads:
            t.start()
        time.sleep(seconds)
        stop.set()
        for t in threads:
            t.join(timeout=60)
        step.seconds = time.monotonic() - started
        after = server_status(engine)
        step.orders = len(step.latencies)
        step.db_cpu_ms = (cpu_s(db_pid) - db_cpu) * 1000 / max(1, step.orders)
        if consumer is not None:
            step.consumer_cpu_ms = (cpu_s(consumer.pid) - consumer_cpu) * 1000 / max(1, step.orders)
        step.deadlocks = after["Innodb_deadlocks"] - before["Innodb_deadlocks"]
        step.lock_waits = after["Innodb_row_lock_waits"] - before["Innodb_row_lock_waits"]
        step.lock_time_ms = after["Innodb_row_lock_time"] - before["Innodb_row_lock_time"]
        retried = metrics.registry.get_sample_value(
            "shop_db_retries_total", {"operation": "place_order"}
        )
        step.retries = int(retried or 0)
        if consumer is not None:
            caught = time.monotonic()
            deadline = caught + 120
            while read_queue_state(engine).depth and time.monotonic() < deadline:
                time.sleep(0.05)
            step.catch_up_s = time.monotonic() - caught
    finally:
        if consumer is not None:
            consumer.terminate()
            consumer.wait(timeout=30)
    drain(engine, 500)  # nothing left when the consumer kept up; the books need it empty
    with engine.connect() as conn:
        step.books_ok = not any(check_invariants(conn).values())
    engine.dispose()
    return step


def summary(steps: list[Step]) -> list[str]:
    out = []
    for mode in ("sync", "async"):
        mine = [s for s in steps if s.mode == mode]
        rates = [s.rate for s in mine]
        p95 = [s.quantile_ms(0.95) for s in mine]
        waits = [s.lock_waits / max(1, s.orders) for s in mine]
        out.append(f"{mode:5s}  orders/s {min(rates):.1f}-{max(rates):.1f}  "
                   f"p95 {min(p95):.1f}-{max(p95):.1f} ms  "
                   f"row-lock waits/order {min(waits):.2f}-{max(waits):.2f}")  # fmt: skip
    sync = statistics.mean(s.rate for s in steps if s.mode == "sync")
    async_ = statistics.mean(s.rate for s in steps if s.mode == "async")
    out.append(f"async / sync orders/s: {async_ / sync:.2f}" if sync else "no sync orders")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sales",
                                     description=__doc__.splitlines()[0])  # fmt: skip
    parser.add_argument("--products", type=int, default=5, help="the hot products (all of them)")
    parser.add_argument("--users", type=int, default=2000, help="users (random per order)")
    parser.add_argument("--threads", type=int, default=16, help="closed-loop order threads")
    parser.add_argument("--seconds", type=float, default=15, help="per step")
    parser.add_argument("--passes", type=int, default=2, help="sync+async pairs")
    parser.add_argument("--warmup", type=float, default=5,
                        help="seconds of sync first, not counted")  # fmt: skip
    parser.add_argument("--strategy", choices=("safe", "naive"), default="safe")
    parser.add_argument("--port", type=int, default=0, help="the bench's MariaDB (0: a free one)")
    parser.add_argument("--consumer-port", type=int, default=0,
                        help="the consumer's /metrics (0: a free one)")  # fmt: skip
    args = parser.parse_args(argv)
    args.port = args.port or free_port()
    args.consumer_port = args.consumer_port or free_port()
    if not (1 <= args.products <= 1000 and 1 <= args.threads <= 64 and 1 <= args.passes <= 5
            and 1 <= args.seconds <= 120 and 0 <= args.warmup <= 60
            and args.users >= args.threads):  # fmt: skip
        parser.error("out of range: 1-1000 products, 1-64 threads, 1-5 passes, 1-120 s, "
                     "users >= threads")  # fmt: skip
    servers: list = []
    steps: list[Step] = []
    with tempfile.TemporaryDirectory(prefix="shoplab-bench-sales-") as tmp:
        try:
            db = MariaDB(Path(tmp) / "mariadb", port=args.port).start()
            servers.append(db)
            db_pid = db.pid
            with db.connect() as conn, conn.cursor() as cur:
                cur.execute("CREATE DATABASE shop")
            pool = args.threads + 2
            settings = Settings(database_url=db.url("shop"), db_pool_size=pool,
                                db_max_overflow=0, db_pool_timeout=30)  # fmt: skip
            engine = create_db_engine(settings)
            metadata.create_all(engine)
            seed_catalog(engine, users=args.users, products=args.products,
                         points=10**12, stock=2**31 - 1)  # fmt: skip
            engine.dispose()
            say(f"MariaDB on 127.0.0.1:{args.port}; {args.users} users, {args.products} hot "
                f"products, {args.threads} threads x {args.seconds:g} s per step, "
                f"{args.strategy} strategy; steps sync, async x {args.passes}")  # fmt: skip
            if args.warmup:
                # A cold buffer pool and fresh connections: the first step would lose to them.
                warm = run_step(args, settings, "sync", args.warmup, db_pid)
                say(f"warm-up ({args.warmup:g} s, not counted): {warm.rate:.1f} orders/s")
            for n in range(args.passes):
                for mode in ("sync", "async"):
                    step = run_step(args, settings, mode, args.seconds, db_pid)
                    steps.append(step)
                    say(f"pass {n + 1} {time.strftime('%H:%M:%S', time.gmtime())} UTC  "
                        + step.line())  # fmt: skip
        finally:
            stop_all(servers, say)
    for line in summary(steps):
        say(line)
    return 0 if all(s.books_ok and not s.crashed for s in steps) else 1


if __name__ == "__main__":
    raise SystemExit(main())

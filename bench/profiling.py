"""Where one request's CPU goes in the shop: py-spy samples of the server's workers under k6,
threads that wait left out, folded into layers (HTTP server, Flask, JSON, SQLAlchemy, driver,
metrics, Redis, shop, other)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.backing import start_backing, stop_all
from bench.steps import run_step
from stack.ephemeral import ShopServer

PY_SPY = str(Path(sys.executable).parent / "py-spy")
# The first frame from the leaf up whose file matches decides the layer (stdlib frames such
# as socket or threading belong to whoever called them).
LAYERS = (
    ("driver (pymysql)", re.compile(r"(^|/)pymysql/")),
    ("SQLAlchemy", re.compile(r"(^|/)sqlalchemy/")),
    ("metrics", re.compile(r"(^|/)prometheus_client/|(^|/)shop/metrics\.py")),
    ("Redis client", re.compile(r"(^|/)redis/")),
    ("JSON", re.compile(r"(^|/)json/|orjson")),
    ("Flask/Werkzeug", re.compile(r"(^|/)flask/|(^|/)werkzeug/")),
    # The Python side of the server; granian's HTTP work is Rust, which py-spy does not sample.
    ("HTTP server (Python side)", re.compile(r"(^|/)(granian|gunicorn)/")),
    ("shop code", re.compile(r"(^|/)shop/")),
)
# Leaf frames of a thread that waits (a socket read, the poller, an idle pool thread): py-spy's
# own idle and GIL detection do not see through these here, so they are left out by name.
WAITING = re.compile(
    r"^(\w+\.)?(select|poll|readinto|recv_into|_read_from_socket|wait|_worker|acquire) \("
)
_FRAME = re.compile(r"\((?P<file>[^:()]+)(?::\d+)?\)$")


def layer_of(stack: list[str]) -> str:
    """The layer of one sampled stack (frames root first, as py-spy's raw format gives them)."""
    for frame in reversed(stack):
        match = _FRAME.search(frame)
        if match is None:
            continue
        for name, pattern in LAYERS:
            if pattern.search(match["file"]):
                return name
    return "other (interpreter, stdlib)"


def fold(raw: str) -> tuple[Counter, Counter]:
    """py-spy's raw (collapsed) output -> samples per layer, and per leaf function."""
    layers: Counter = Counter()
    leaves: Counter = Counter()
    for line in raw.splitlines():
        stack_text, _, count = line.rpartition(" ")
        if not stack_text or not count.isdigit():
            continue
        stack = stack_text.split(";")
        if WAITING.match(stack[-1]):
            layers["(waiting: left out)"] += int(count)
            continue
        layers[layer_of(stack)] += int(count)
        leaves[stack[-1]] += int(count)
    return layers, leaves


@dataclass(frozen=True)
class Profile:
    workload: str
    rate: int
    requests: int
    app_cpu_ms: float  # the app's CPU per request, all processes (measured, not sampled)
    layers_ms: dict[str, float]  # that CPU split by the samples' shares
    top: list[tuple[str, float]]  # leaf functions, share of samples
    samples: int  # busy samples, split above
    waiting: int  # samples of waiting threads, left out


def profile_workload(
    shop: ShopServer, worker_pids: list[int], workload: str, rate: int, seconds: float,
    db_pid: int, workdir: Path,
) -> Profile:  # fmt: skip
    """Offer `rate`/s for `seconds` while py-spy samples every worker; fold the samples."""
    outputs = [workdir / f"{workload}-{pid}.txt" for pid in worker_pids]
    spies = [
        subprocess.Popen(
            [
                PY_SPY,
                "record",
                "--pid",
                str(pid),
                "--rate",
                "250",
                "--nonblocking",
                "--format",
                "raw",
                "--duration",
                f"{int(seconds)}",
                "-o",
                str(out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for pid, out in zip(worker_pids, outputs, strict=True)
    ]
    step = run_step(app="shop", base_url=shop.url, workload=workload, rate=rate,
                    duration=seconds, pids={"app": shop.pid, "db": db_pid},
                    workdir=workdir)  # fmt: skip
    for spy in spies:
        spy.wait(timeout=60)
    layers: Counter = Counter()
    leaves: Counter = Counter()
    for out in outputs:
        if out.exists():
            lay, leaf = fold(out.read_text())
            layers += lay
            leaves += leaf
    waiting = layers.pop("(waiting: left out)", 0)
    for leaf in [k for k in leaves if WAITING.match(k)]:
        del leaves[leaf]
    total = sum(layers.values()) or 1
    per_request = step.cpu_ms["app"]
    return Profile(
        workload=workload,
        rate=rate,
        requests=step.requests,
        app_cpu_ms=per_request,
        layers_ms={k: per_request * v / total for k, v in layers.most_common()},
        top=[(k, v / total) for k, v in leaves.most_common(12)],
        samples=sum(layers.values()),
        waiting=waiting,
    )


def run(
    rates: dict[str, int], seconds: float, workers: int, threads: int,
    log: Callable[[str], None] = print,
) -> list[Profile]:  # fmt: skip
    root = Path(tempfile.mkdtemp(prefix="shoplab-profile-"))
    servers: list = []
    try:
        db, redis = start_backing(root, 10_000, 1_000, 20_000, servers)
        env = {"SHOP_DATABASE_URL": db.url("shop"), "SHOP_REDIS_URL": redis.url()}
        shop = ShopServer(root / "shop", env, workers=workers, threads=threads)
        servers.append(shop.start())
        pids = shop.worker_pids()
        log(f"shop {shop.url}: {workers} workers x {threads} threads; warming")
        profiles = []
        for workload, rate in rates.items():
            warm = {"app": pids[0], "db": db.pid}
            run_step(app="shop", base_url=shop.url, workload=workload, rate=100, duration=3,
                     pids=warm, workdir=root)  # fmt: skip
            log(f"profiling {workload} at {rate}/s for {seconds:g} s")
            profiles.append(profile_workload(shop, pids, workload, rate, seconds,
                                             db.pid, root))  # fmt: skip
        return profiles
    finally:
        stop_all(servers, log)
        shutil.rmtree(root, ignore_errors=True)


def report(profiles: list[Profile]) -> list[str]:
    lines = []
    for p in profiles:
        lines.append(f"{p.workload} at {p.rate}/s: {p.requests} requests, app CPU "
                     f"{p.app_cpu_ms:.2f} ms per request ({p.samples} busy samples,"
                     f" {p.waiting} waiting left out)")  # fmt: skip
        for layer, ms in p.layers_ms.items():
            lines.append(f"  {layer:28s} {ms:6.3f} ms  {100 * ms / p.app_cpu_ms:5.1f} %")
        lines.append("  hottest leaf functions (share of samples):")
        for name, share in p.top:
            lines.append(f"    {100 * share:5.1f} %  {name[:110]}")
    return lines

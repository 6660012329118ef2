"""The shop's HTTP server, its one command line: `python -m shop.serve [--bind HOST:PORT]`.

granian (HTTP in Rust, the WSGI app on a pool of blocking threads per worker process) runs
`shop:create_app` in SHOP_WORKERS processes of SHOP_THREADS threads each. Chosen by measurement
(docs/performance.md): against gunicorn's gthread workers it took about 40 % off the shop's CPU
per popular request and 15-30 % off an order's. The native stack, compose, k8s, the tests and
the bench all start the shop this way.

Before any worker starts, the metrics folder is made ready: PROMETHEUS_MULTIPROC_DIR as given
(the native stack, the image) or a folder of its own (removed at exit), emptied of an earlier
run's files. prometheus_client picks its value class when first imported, so nothing here
imports it (nor the shop) before the variable is set: the workers fork from this process.
SIGTERM or SIGINT stops taking connections, lets the requests in flight finish (up to
SHOP_GRACEFUL_SECONDS) and exits 0.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass

import knobs
from shop.settings import SettingsError

DEFAULT_BIND = "127.0.0.1:8000"


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8000
    # Measured on 2 cores (docs/shop.md): the shop mostly waits on MariaDB, so a few processes
    # with a few threads each keep both cores busy.
    workers: int = 4
    threads: int = 4
    graceful_seconds: int = 20
    log_level: str = "info"
    access_log: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str], bind: str | None = None) -> ServerSettings:
        bind = bind or env.get("SHOP_BIND") or DEFAULT_BIND
        host, sep, port = bind.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise SettingsError(f"SHOP_BIND / --bind must be HOST:PORT, got {bind!r}")
        lowered = {"SHOP_LOG_LEVEL": knobs.text(env, "SHOP_LOG_LEVEL").lower()}
        levels = ("debug", "info", "warning", "error", "critical")
        return cls(
            host=host.strip("[]"),
            port=int(port),
            workers=knobs.whole(env, "SHOP_WORKERS", cls.workers, lo=1, hi=64),
            threads=knobs.whole(env, "SHOP_THREADS", cls.threads, lo=1, hi=256),
            graceful_seconds=knobs.whole(
                env, "SHOP_GRACEFUL_SECONDS", cls.graceful_seconds, lo=1, hi=600
            ),
            log_level=knobs.choice(lowered, "SHOP_LOG_LEVEL", cls.log_level, levels),
            access_log=knobs.flag(env, "SHOP_ACCESS_LOG", cls.access_log),
        )


def prepare_environment(env: MutableMapping[str, str], settings: ServerSettings) -> str | None:
    """Set what the workers inherit; returns the metrics folder made here (None: given one)."""
    own = None
    if not env.get("PROMETHEUS_MULTIPROC_DIR"):
        own = env["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="shop-metrics-")
    folder = env["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(folder, exist_ok=True)
    for name in os.listdir(folder):  # an earlier run's files would be summed too
        if name.endswith(".db"):
            os.remove(os.path.join(folder, name))
    # One pooled connection per thread, plus a little overflow for /readyz and the odd burst.
    env.setdefault("SHOP_DB_POOL_SIZE", str(settings.threads))
    env.setdefault("SHOP_DB_MAX_OVERFLOW", "2")
    # The workers' /metrics sums the CPU and memory of this process and its children.
    env["SHOP_SERVER_PID"] = str(os.getpid())
    return own


def serve(settings: ServerSettings) -> None:
    from granian import Granian
    from granian.constants import Interfaces
    from granian.log import LogLevels

    Granian(
        "shop:create_app",
        factory=True,
        interface=Interfaces.WSGI,
        address=settings.host,
        port=settings.port,
        workers=settings.workers,
        blocking_threads=settings.threads,
        websockets=False,
        backlog=2048,
        # A worker that dies (killed, out of memory) is replaced; its gauges are forgotten
        # by the next scrape (shop.metrics).
        respawn_failed_workers=True,
        respawn_interval=0.5,
        workers_kill_timeout=settings.graceful_seconds,
        log_level=LogLevels(settings.log_level),
        log_access=settings.access_log,
    ).serve()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="shop.serve", description=__doc__.splitlines()[0])
    parser.add_argument("-b", "--bind", help=f"HOST:PORT (default SHOP_BIND or {DEFAULT_BIND})")
    args = parser.parse_args(argv)
    try:
        settings = ServerSettings.from_env(os.environ, args.bind)
    except SettingsError as exc:
        print(f"shop: configuration error: {exc}", file=sys.stderr)
        return 2
    own = prepare_environment(os.environ, settings)
    try:
        serve(settings)
    finally:
        if own:
            shutil.rmtree(own, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

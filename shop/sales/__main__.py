"""python -m shop.sales [--listen HOST:PORT] [--once]: the daily-sales consumer."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from prometheus_client import CollectorRegistry, disable_created_metrics, start_http_server
from sqlalchemy.exc import SQLAlchemyError

from shop.db import create_db_engine
from shop.sales.consumer import consume
from shop.sales.metrics import ConsumerMetrics
from shop.sales.queue import drain, read_queue_state
from shop.settings import Settings, SettingsError


def _address(raw: str) -> tuple[str, int]:
    host, _, port = raw.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"{raw!r} is not HOST:PORT")
    return host, int(port)


def main(argv: list[str] | None = None, environ=os.environ) -> int:
    parser = argparse.ArgumentParser(prog="python -m shop.sales", description=__doc__)
    parser.add_argument(
        "--listen",
        type=_address,
        default=("127.0.0.1", 9110),
        help="where /metrics is served (default 127.0.0.1:9110)",
    )
    parser.add_argument(
        "--once", action="store_true", help="drain until the queue is empty, then exit"
    )
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env(environ)
    except SettingsError as exc:
        print(f"sales: configuration error: {exc}", file=sys.stderr)
        return 2
    engine = create_db_engine(settings)
    if args.once:
        try:
            result = drain(engine, settings.sales_batch_size)
        except SQLAlchemyError as exc:
            print(f"sales: {str(exc).splitlines()[0]}", file=sys.stderr)
            return 1
        print(f"sales: drained {result.rows} rows (quantity {result.quantity}) in "
              f"{result.batches} batches, {result.seconds:.1f}s; queue empty")  # fmt: skip
        return 0
    disable_created_metrics()  # as the shop: *_created only doubles what Prometheus stores
    metrics = ConsumerMetrics(CollectorRegistry(), lambda: read_queue_state(engine))
    host, port = args.listen
    try:
        start_http_server(port, addr=host, registry=metrics.registry)
    except OSError as exc:
        print(f"sales: cannot listen on {host}:{port}: {exc.strerror}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    print(f"sales: consuming sales_queue in batches of {settings.sales_batch_size}; "
          f"metrics on http://{host}:{port}/metrics", flush=True)  # fmt: skip
    result = consume(engine, settings, metrics, stop)
    print(f"sales: stopped after {result.rows} rows in {result.batches} batches "
          f"({result.errors} errors)", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

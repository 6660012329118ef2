"""Command line: `parse FILE --format json` for people, `serve` for Prometheus."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

from exporters.innodb.config import ConfigError, Settings
from exporters.innodb.fingerprint import redact
from exporters.innodb.parser import holds_innodb_text, parse_document

PROG = "innodb-exporter"


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    args = _arguments().parse_args(argv)
    if args.command == "parse":
        return parse_command(args.file, args.format, redact_queries=args.redact)
    return serve_command(args, os.environ if environ is None else environ)


def _arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="InnoDB deadlocks and lock waits for Prometheus."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    parse = commands.add_parser(
        "parse", help="print the deadlocks in a status dump or error log as JSON"
    )
    parse.add_argument("file", help="SHOW ENGINE INNODB STATUS output or a MySQL error log")
    parse.add_argument("--format", choices=("json", "text"), default="json")
    parse.add_argument("--redact", action="store_true", help="replace literals in queries by ?")

    serve = commands.add_parser("serve", help="serve /metrics, /deadlocks and /healthz")
    serve.add_argument("--dsn", help="mysql://user:pass@host:3306/ (INNODB_EXPORTER_DSN)")
    serve.add_argument(
        "--listen", help="host:port, default 127.0.0.1:9105 (INNODB_EXPORTER_LISTEN)"
    )
    serve.add_argument("--error-log", help="server error log to follow (INNODB_EXPORTER_ERROR_LOG)")
    serve.add_argument(
        "--raw-queries",
        action="store_true",
        help="show query text unredacted on /deadlocks (INNODB_EXPORTER_RAW_QUERIES)",
    )
    return parser


def parse_command(file: str, output_format: str, *, redact_queries: bool = False) -> int:
    try:
        text = Path(file).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        print(f"{PROG} parse: cannot read {file}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    result = parse_document(text)
    deadlocks = [deadlock.as_dict() for deadlock in result.deadlocks]
    if redact_queries:
        for deadlock in deadlocks:
            for trx in deadlock["transactions"]:
                trx["query"] = redact(trx["query"])
    if output_format == "json":
        print(json.dumps({"deadlocks": deadlocks}, indent=2))
    else:
        for deadlock in deadlocks:
            tables = sorted(
                {
                    f"{lock['schema']}.{lock['table']}"
                    for trx in deadlock["transactions"]
                    for lock in [trx["waiting"], *trx["holding"]]
                    if lock
                }
            )
            print(
                f"{deadlock['timestamp']} victim={deadlock['victim']}"
                f" transactions={len(deadlock['transactions'])} tables={','.join(tables)}"
            )
    if result.errors:
        counts = ", ".join(f"{n} {reason}" for reason, n in sorted(Counter(result.errors).items()))
        print(f"{PROG} parse: warning: {counts}", file=sys.stderr)
    if not result.deadlocks and not holds_innodb_text(text):
        # Not a quiet server: no status output or error-log deadlock in the file at all.
        print(
            f"{PROG} parse: {file}: no InnoDB status output or deadlock dump found "
            "(want SHOW ENGINE INNODB STATUS output or a MySQL/MariaDB error log)",
            file=sys.stderr,
        )
        return 1
    return 0


def serve_command(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    env = dict(environ)
    for flag, variable in (
        (args.dsn, "INNODB_EXPORTER_DSN"),
        (args.listen, "INNODB_EXPORTER_LISTEN"),
        (args.error_log, "INNODB_EXPORTER_ERROR_LOG"),
    ):
        if flag:
            env[variable] = flag
    if args.raw_queries:
        env["INNODB_EXPORTER_RAW_QUERIES"] = "true"
    try:
        settings = Settings.from_env(env)
        settings.require_dsn()
    except ConfigError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Imported here so that `parse` works without the server's dependencies.
    from exporters.innodb.collector import InnoDBCollector
    from exporters.innodb.server import ExporterServer

    collector = InnoDBCollector(settings)
    try:
        server = ExporterServer(collector, settings.listen_host, settings.listen_port)
    except OSError as exc:
        print(
            f"{PROG}: INNODB_EXPORTER_LISTEN: cannot listen on"
            f" {settings.listen_host}:{settings.listen_port}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 2
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    server.start()
    logging.getLogger("exporters.innodb").info(
        "serving %s/metrics for %s%s",
        server.url,
        settings.require_dsn().describe(),
        f", following {settings.error_log}" if settings.error_log else "",
    )
    stop.wait()
    server.stop()
    return 0

"""python -m lab.audit [--run TESTID | --results DIR] [--database-url URL]: the books reconciled."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from lab.audit.audit_run import QUEUE_TIMEOUT_S, audit
from lab.results import newest_run, results_root


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lab.audit", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--run", help="the testid of a run under results/ (default: the newest)")
    parser.add_argument("--results", help="a run's results folder (instead of --run)")
    parser.add_argument(
        "--database-url", help="default: SHOP_DATABASE_URL, else the native stack's"
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument(
        "--queue-timeout",
        type=float,
        default=QUEUE_TIMEOUT_S,
        metavar="SECONDS",
        help="how long to wait for the sales queue to empty before the books (default 30)",
    )
    args = parser.parse_args(argv)
    url = args.database_url or os.environ.get("SHOP_DATABASE_URL")
    if not url:
        from stack.settings import StackSettingsError, read_stack_settings

        try:
            url = read_stack_settings(os.environ).database_url
        except StackSettingsError as exc:
            parser.error(str(exc))
    results = _results_dir(args)
    if results is not None and not results.is_dir():
        print(f"audit: no results folder {results}", file=sys.stderr)
        return 2
    try:
        result = audit(url, results, queue_timeout=max(0.0, args.queue_timeout))
    except (SQLAlchemyError, ValueError) as exc:
        print(f"audit: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result.as_dict(), indent=2))
    else:
        if results is not None:
            print(f"audit: {results}")
        for line in result.lines():
            print(line)
    return 0 if result.passed else 1


def _results_dir(args) -> Path | None:
    if args.results:
        return Path(args.results)
    root = results_root(os.environ)
    return root / args.run if args.run else newest_run(root)


raise SystemExit(main())

"""make profile-shop: where one request's CPU goes in the shop, by layer (py-spy under k6).

A thin shell over bench.profiling.run: the shop under its server (shop.serve) on its own MariaDB
and Redis, k6 at a moderate rate per workload while py-spy samples every worker.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.profiling import report, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="profile-shop", description=__doc__.splitlines()[0])
    parser.add_argument("--orders-rate", type=int, default=150)
    parser.add_argument("--popular-rate", type=int, default=600)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args(argv)
    if min(args.orders_rate, args.popular_rate, args.seconds) <= 0:
        parser.error("rates and seconds must be positive")
    rates = {"orders": args.orders_rate, "popular": args.popular_rate}
    profiles = run(rates, args.seconds, args.workers, args.threads,
                   log=lambda line: print(f"profile-shop: {line}", flush=True))  # fmt: skip
    print()
    for line in report(profiles):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

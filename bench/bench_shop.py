"""make bench-shop: the shop, its textbook peer (bench/peer/) and the Spring shop, interleaved.

A thin shell over bench.compare.run: parses the arguments, prints each step as it ends and the
answer per workload (orders, popular): each app's highest rate held in every pass, the spread
over passes, the ratios (shop/peer, spring/peer, spring/shop) and the CPU per request of the app,
the database and k6. The Spring shop's JVM is warmed up first, and the output says so.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.compare import WORKLOADS, BenchSettings, report, run


def _rates(text: str) -> tuple[int, ...]:
    try:
        rates = tuple(int(r) for r in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of rates: {text!r}") from None
    if not rates or min(rates) < 1:
        raise argparse.ArgumentTypeError(f"rates must be positive: {text!r}")
    return rates


def parse_settings(argv: list[str] | None = None) -> BenchSettings:
    d = BenchSettings()
    parser = argparse.ArgumentParser(prog="bench-shop", description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default=",".join(d.workloads),
                        help="orders,popular (default both)")  # fmt: skip
    parser.add_argument("--order-rates", type=_rates, default=d.order_rates)
    parser.add_argument("--popular-rates", type=_rates, default=d.popular_rates)
    parser.add_argument("--passes", type=int, default=d.passes, choices=range(1, 6))
    parser.add_argument("--step-seconds", type=float, default=d.step_seconds)
    parser.add_argument("--workers", type=int, default=d.workers)
    parser.add_argument("--threads", type=int, default=d.threads)
    parser.add_argument("--spring-warm-seconds", type=float, default=d.spring_warm_seconds,
                        help="at most this long warming the JVM")  # fmt: skip
    args = parser.parse_args(argv)
    workloads = tuple(args.workloads.split(","))
    if not set(workloads) <= set(WORKLOADS):
        parser.error(f"--workloads: one or both of {', '.join(WORKLOADS)}, got {args.workloads}")
    if not 2 <= args.step_seconds <= 120:
        parser.error("--step-seconds must be between 2 and 120")
    return BenchSettings(
        workloads=workloads, order_rates=args.order_rates, popular_rates=args.popular_rates,
        passes=args.passes, step_seconds=args.step_seconds, workers=args.workers,
        threads=args.threads, spring_warm_seconds=args.spring_warm_seconds,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    settings = parse_settings(argv)
    try:
        result = run(settings, log=lambda line: print(f"bench-shop: {line}", flush=True))
    except KeyboardInterrupt:
        print("bench-shop: interrupted; servers stopped", file=sys.stderr)
        return 130
    print()
    for line in report(result):
        print(line)
    print(f"\nbench-shop: done in {result.seconds:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""make count-shop: instructions per request of the shop's app under callgrind (bench.instructions).

Deterministic where `make bench-shop` is not: a neighbour's burst moves CPU seconds, not the
instructions a request executes. The server's own share (HTTP parsing, threads) is left out.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.instructions import CASES, VALGRIND, count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="count-shop", description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES), help=f"of {', '.join(CASES)}")
    args = parser.parse_args(argv)
    cases = args.cases.split(",")
    if not set(cases) <= set(CASES):
        parser.error(f"--cases: some of {', '.join(CASES)}, got {args.cases}")
    if not Path(VALGRIND).exists():
        print("count-shop: valgrind is not installed (make setup installs it)", file=sys.stderr)
        return 2
    results = count(cases, log=lambda line: print(f"count-shop: {line}", flush=True))
    print()
    for r in results:
        print(f"{r.case:14s} {r.per_request:>12,.0f} instructions per request")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`python -m lab.chaos` (`make chaos`): the thin shell over `lab.chaos.session.run`."""

from __future__ import annotations

import argparse
import os
import sys
import time

from lab.chaos.faults import FAULTS
from lab.chaos.session import ChaosError, ChaosSettings, run
from lab.chaos.table import table
from stack.runner import StackStartError


def say(msg: str) -> None:
    print(f"chaos: {msg}", flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m lab.chaos",
        description="Faults during a steady load on a native stack of its own, a row each.",
    )
    p.add_argument("--fault", dest="FAULT", help=f"all (default) or one of {', '.join(FAULTS)}")
    p.add_argument("--tool", dest="TOOL", help="k6 (default) or locust")
    p.add_argument("--scale", dest="SCALE", help="multiplies the load's durations (default 1)")
    p.add_argument("--target-tps", dest="TARGET_TPS", help="the load is a quarter of it (200)")
    given = {k: v for k, v in vars(p.parse_args(argv)).items() if v}
    try:
        settings = ChaosSettings.from_env({**os.environ, **given})
    except ChaosError as exc:
        print(f"chaos: {exc}", file=sys.stderr)
        return 2
    started = time.monotonic()
    try:
        result = run(settings, say)
    except (ChaosError, StackStartError) as exc:
        print(f"chaos: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("chaos: interrupted; the stack was stopped", file=sys.stderr)
        return 130
    print()
    print("\n".join(table(result)))
    print()
    say(f"results: {result.results / 'chaos.json'}")
    took = time.monotonic() - started
    if result.error:
        say(f"FAIL ({took:.0f} s): {result.error}")
        return 2
    failed = [f.fault for f in result.faults if not f.passed]
    say(f"{'FAIL: ' + ', '.join(failed) if failed else 'PASS'} ({took:.0f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""python -m lab.capacity [load flags] [--budget SECONDS]: the highest rate that holds the SLO."""

from __future__ import annotations

import os
import sys

from lab.capacity.run import CapacitySettings, find, probe_row
from lab.load.cli import write_report
from lab.load.settings import LoadSettingsError, read_load_settings


def say(msg: str) -> None:
    print(f"capacity: {msg}", flush=True)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    budget = os.environ.get("BUDGET", str(int(CapacitySettings.budget_s)))
    if "--budget" in argv:
        i = argv.index("--budget")
        budget = argv[i + 1] if i + 1 < len(argv) else ""
        del argv[i : i + 2]
    try:
        budget_s = float(budget)
        if not 0 < budget_s <= 24 * 3600:
            raise ValueError
    except ValueError:
        print(f"capacity: BUDGET={budget!r} is not a number of seconds (0 < s <= 86400)",
              file=sys.stderr)  # fmt: skip
        return 2
    try:
        load = read_load_settings(os.environ, argv)
    except LoadSettingsError as exc:
        print(f"capacity: {exc}", file=sys.stderr)
        return 2
    try:
        result = find(CapacitySettings(load, budget_s), say)
    except KeyboardInterrupt:
        print("capacity: interrupted; the probes run so far are under results/", file=sys.stderr)
        return 130
    if result.search.stopped == "no_verdict":
        print(f"capacity: {result.answer()}", file=sys.stderr)
        return 2
    print()
    print(f"===== capacity ({result.testid}) =====")
    for p in result.search.probes:
        print(f"  {probe_row(p)}")
    for limit in result.limits[:4]:
        mark = "SATURATED" if limit.saturated else f"{limit.score * 100:3.0f} %"
        print(f"  {mark:>9}  {limit.title}: {limit.evidence}")
    print(f"  results: {result.results / 'capacity.json'}")
    print(f"  answer: {result.answer()}")
    # The deck: the winner's confirmation run, with the first break above it as its baseline.
    held = [p for p in result.search.probes if p.held]
    if held:
        above = result.search.break_above_capacity
        write_report(load, held[-1].testid, above.testid if above else None)
    return 0 if result.search.capacity is not None else 1


raise SystemExit(main())

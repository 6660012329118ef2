"""python -m lab.capacity [load flags] [--budget SECONDS] [--runs N]: the highest rate that holds
the SLO, with its spread over RUNS searches and the scalability model."""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping

from lab.capacity.answer import find, probe_row
from lab.capacity.replicas import RestartError, restart_with
from lab.capacity.settings import CapacitySettings, CapacitySettingsError, read_capacity_settings
from lab.load.cli import write_report
from lab.load.settings import LoadSettings, LoadSettingsError, parser, with_flags


def say(msg: str) -> None:
    print(f"capacity: {msg}", flush=True)


def knobs_of(argv: list[str], env: Mapping[str, str]) -> dict[str, str]:
    """The environment with the load flags, --budget and --runs laid over it."""
    flags = parser("python -m lab.capacity")
    flags.description = "Find the highest rate that holds the SLO, and what limits it."
    flags.add_argument("--budget", dest="BUDGET", metavar="BUDGET", help="seconds per search")
    flags.add_argument("--runs", dest="RUNS", metavar="RUNS", help="searches, their median")
    return with_flags(argv, env, flags)


def main(argv: list[str] | None = None, env: Mapping[str, str] = os.environ) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        settings = read_capacity_settings(knobs_of(argv, env))
    except (CapacitySettingsError, LoadSettingsError) as exc:
        print(f"capacity: {exc}", file=sys.stderr)
        return 2
    try:
        answer = find(settings, say, restart_with)
    except KeyboardInterrupt:
        print("capacity: interrupted; the probes run so far are under results/", file=sys.stderr)
        return 130
    except RestartError as exc:
        print(f"capacity: {exc}", file=sys.stderr)
        return 2
    head = answer.headline
    if head.search.stopped == "no_verdict":
        print(f"capacity: {head.answer()}", file=sys.stderr)
        return 2
    print()
    print(f"===== capacity ({answer.testid}) =====")
    for s in answer.searches:
        where = f"search {s.run}" + ("" if s.replicas is None else f", {s.replicas} replica(s)")
        print(f"  {where}: {s.search.capacity or 'none'}/s, speed index "
              f"{s.speed_index or 0:.2f}")  # fmt: skip
        for p in s.search.probes:
            print(f"    {probe_row(p)}")
    for limit in head.limits[:4]:
        mark = "SATURATED" if limit.saturated else f"{limit.score * 100:3.0f} %"
        print(f"  {mark:>9}  {limit.title}: {limit.evidence}")
    print(f"  results: {answer.results / 'capacity.json'}")
    for line in answer.answer().splitlines():
        print(f"  answer: {line}")
    # The deck: the headline's confirmation run, with the first break above it as its baseline.
    held = [p for p in head.search.probes if p.held]
    if held:
        above = head.search.break_above_capacity
        load = settings.load if head.replicas is None else head_load(settings, head.replicas)
        write_report(load, held[-1].testid, above.testid if above else None)
    return 0 if head.search.capacity is not None else 1


def head_load(settings: CapacitySettings, count: int) -> LoadSettings:
    """The load settings of the sweep's headline count (its runs' records say that count)."""
    load = settings.load
    stack = load.stack.with_values(LOCAL_SHOP_REPLICAS=str(count)) if load.stack else None
    return dataclasses.replace(
        load, environ={**load.environ, "LOCAL_SHOP_REPLICAS": str(count)}, stack=stack
    )


if __name__ == "__main__":
    raise SystemExit(main())

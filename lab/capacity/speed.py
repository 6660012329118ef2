"""The machine speed index: a fixed, short, deterministic CPU workload timed beside each probe.

The workload is pure Python on one core: 200,000 turns of an integer multiply, a modulo and an
add (a loop the shop's own request handling resembles far more than any C kernel does), about
10-30 ms here. It is run five times and the fastest time is kept, as `timeit` advises: anything
else on the machine only adds time, so the minimum is nearest the machine's own speed, and the
median beside it shows how contended the core was. The index is millions of loop turns per
second: higher is faster. Two searches whose indexes differ by 20 % ran on machines 20 % apart,
whatever their steal time says (a VM's host can slow it without reporting steal).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

TURNS = 200_000
REPEATS = 5
# What the loop sums to: a check that the work done is the work described.
CHECKSUM = 10_472_813_275
WORKLOAD = f"{TURNS:,} turns of `total += (i * 7919) % 104729` in pure Python, best of {REPEATS}"


def workload(turns: int = TURNS) -> int:
    total = 0
    for i in range(turns):
        total += (i * 7919) % 104729
    return total


@dataclass(frozen=True)
class SpeedSample:
    at: float  # epoch seconds
    index: float  # million loop turns per second, fastest of the repeats
    median: float  # the same, median of the repeats: lower than `index` when the core was shared
    label: str = ""  # what it was taken beside: "run 1 probe 3", ...

    def as_dict(self) -> dict:
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(self).items()}


def measure(
    label: str = "",
    *,
    repeats: int = REPEATS,
    turns: int = TURNS,
    clock: Callable[[], float] = time.perf_counter,
) -> SpeedSample:
    """Time the workload `repeats` times; the sample's index from the fastest."""
    seconds = []
    for _ in range(repeats):
        started = clock()
        done = workload(turns)
        seconds.append(max(clock() - started, 1e-9))
        if turns == TURNS and done != CHECKSUM:
            raise RuntimeError(f"the speed workload summed to {done}, not {CHECKSUM}")
    rates = [turns / s / 1e6 for s in seconds]
    return SpeedSample(time.time(), max(rates), statistics.median(rates), label)


def change(samples: list[SpeedSample]) -> float:
    """How far the index moved over `samples`: (highest - lowest) / median; 0 for one sample."""
    if len(samples) < 2:
        return 0.0
    values = [s.index for s in samples]
    return (max(values) - min(values)) / statistics.median(values)

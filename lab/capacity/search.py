"""The search for the highest rate that holds the SLO: a geometric ramp, bisection, a confirmation.

Pure: it calls `probe(rate)` and decides the next rate; how a probe runs (a load run at that rate,
its verdict) is the caller's. Bounded by a time budget that the caller's clock measures.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Probe:
    """One load run at one offered rate and what it showed."""

    rate: float
    held: bool  # every SLO check passed
    broken: tuple[str, ...] = ()  # the checks that failed, readable
    generator_saturated: bool = False  # the load tool, not the shop, could not keep up
    disturbed: bool = False  # broke while other processes of the machine took a share of it
    no_verdict: bool = False  # the run did not happen (shop not ready, tool failed): no figure
    seconds: float = 0.0
    phase: str = ""  # ramp, bisect, recheck (a break run again), confirm
    testid: str = ""
    evidence: dict = field(default_factory=dict)  # server-side figures during the hold


@dataclass(frozen=True)
class SearchPlan:
    start: float  # first rate tried (iterations/s)
    budget_s: float  # total wall time the search may take
    probe_s: float  # the expected time of one probe (to decide whether another fits)
    factor: float = 1.5  # geometric ramp: each step multiplies the rate by this
    rel_tolerance: float = 0.05  # bisection stops within 5 % ...
    abs_tolerance: float = 10.0  # ... or 10 iterations/s, whichever is larger
    max_rate: float = 100_000.0
    # A break on a shared machine may be a neighbour's burst: a ramp or bisection probe that
    # breaks is run once more, and believed only if it breaks again.
    recheck: bool = True
    # A break measured while other processes used the machine (Probe.disturbed) is run again,
    # up to this many times, before the recheck above: a seen neighbour is not a limit either.
    disturbed_reruns: int = 2

    def __post_init__(self) -> None:
        if self.start <= 0 or self.factor <= 1 or self.budget_s <= 0 or self.probe_s <= 0:
            raise ValueError("start, budget and probe time must be positive, factor above 1")

    def close_enough(self, lo: float, hi: float) -> bool:
        return hi - lo <= max(self.rel_tolerance * lo, self.abs_tolerance)


@dataclass
class SearchResult:
    probes: list[Probe]
    capacity: float | None  # the highest held and confirmed rate; None if none held
    ceiling: float | None  # the lowest rate that broke the SLO
    confirmed: bool
    stopped: str  # why the search ended: converged, budget, generator, no_rate_held, max_rate,
    # unstable, no_verdict

    @property
    def breaks(self) -> list[Probe]:
        """The failed probes, but those whose rate held when run again (a neighbour's burst)."""
        held = {p.rate for p in self.probes if p.held}
        return [
            p
            for p in self.probes
            if not (p.held or p.generator_saturated or p.no_verdict or p.rate in held)
        ]

    @property
    def disturbed(self) -> list[Probe]:
        """Disturbed breaks that no later probe at the same rate settled (by a run beside quiet
        neighbours): the figures that may be the neighbours', not the shop's."""
        last = {p.rate: p for p in self.probes}
        return [p for p in self.probes if p.disturbed and last[p.rate].disturbed]

    @property
    def first_break(self) -> Probe | None:
        return next(iter(self.breaks), None)

    @property
    def break_above_capacity(self) -> Probe | None:
        """The failed probe closest above the capacity: where the limit shows."""
        above = [p for p in self.breaks if self.capacity is None or p.rate > self.capacity]
        # At that rate the last try: a rerun beside quiet neighbours before a disturbed one.
        return min(reversed(above), key=lambda p: p.rate, default=None)


def find_capacity(
    probe: Callable[[float, str], Probe],
    plan: SearchPlan,
    clock: Callable[[], float] = time.monotonic,
    on_probe: Callable[[Probe, SearchResult], None] | None = None,
) -> SearchResult:
    """Ramp geometrically from `plan.start` until the SLO breaks, bisect the bracket until
    `plan.close_enough`, then hold the winner once more (a winner that breaks then reopens the
    bracket below it once). A probe whose load generator saturated
    ends the search: a figure past that point would measure the tool, not the shop."""
    started = clock()
    result = SearchResult([], None, None, False, "converged")
    lo: float | None = None  # highest rate held so far
    hi: float | None = None  # lowest rate broken so far

    def fits() -> bool:
        return clock() - started + plan.probe_s <= plan.budget_s

    def attempt(rate: float, phase: str) -> Probe | None:
        if not fits():
            result.stopped = "budget"
            return None
        outcome = probe(round(rate, 1), phase)
        result.probes.append(outcome)
        if on_probe is not None:
            on_probe(outcome, result)
        if outcome.no_verdict:
            result.stopped = "no_verdict"  # a shop that is down has no capacity to find
            return None
        return outcome

    def run(rate: float, phase: str) -> Probe | None:
        outcome = attempt(rate, phase)
        for _ in range(plan.disturbed_reruns):
            if outcome is None or outcome.held or not outcome.disturbed:
                break
            outcome = attempt(rate, "rerun")
        # A generator short of CPU while neighbours took it was rerun above: still short, the
        # figures past this rate would be the tool's, not the shop's.
        if outcome is not None and outcome.generator_saturated:
            result.stopped = "generator"
            return None
        rechecked = phase in ("ramp", "bisect") and plan.recheck
        if outcome is not None and not outcome.held and rechecked:
            return run(rate, "recheck")
        return outcome

    # Ramp: up from the start while rates hold; down from it if the start already breaks.
    rate = plan.start
    while True:
        outcome = run(rate, "ramp")
        if outcome is None:
            return _finish(result, lo, hi)
        if outcome.held:
            lo = rate
            if hi is not None:
                break
            if rate * plan.factor > plan.max_rate:
                result.stopped = "max_rate"
                return _finish(result, lo, hi)
            rate *= plan.factor
        else:
            hi = rate
            if lo is not None:
                break
            rate /= plan.factor
            if rate < 1:
                result.stopped = "no_rate_held"
                return _finish(result, lo, hi)
    # Bisect the bracket, then confirm; a winner that breaks on confirmation (and one tolerance
    # below it) reopens the bracket once, from the highest rate held below it.
    for reopened in (False, True):
        while not plan.close_enough(lo, hi):
            mid = (lo + hi) / 2
            outcome = run(mid, "bisect")
            if outcome is None:
                return _finish(result, lo, hi)
            if outcome.held:
                lo = mid
            else:
                hi = mid
        # Confirm: the winner held twice is the answer; once only, its confirmation is the record.
        outcome = run(lo, "confirm")
        if outcome is None:
            return _finish(result, lo, hi)
        result.confirmed = outcome.held
        if outcome.held:
            break
        # Held once, broke once: try one tolerance lower; that rate is the answer if it holds.
        below = lo * (1 - plan.rel_tolerance)
        second = run(below, "confirm")
        if second is None:
            return _finish(result, lo, hi)  # unconfirmed, said as such
        result.confirmed = second.held
        if second.held:
            hi, lo = lo, below
            break
        # Unstable at the top: the answer falls back to the highest rate below both
        # confirmations that held (unconfirmed, said as such), and, once, the bracket from
        # there to the lower confirmation is searched again.
        result.stopped = "unstable"
        hi = below
        lo = max((p.rate for p in result.probes if p.held and p.rate < below), default=None)
        if lo is None or reopened:
            break
    return _finish(result, lo, hi)


def _finish(result: SearchResult, lo: float | None, hi: float | None) -> SearchResult:
    result.capacity = None if lo is None else round(lo, 1)
    result.ceiling = None if hi is None else round(hi, 1)
    return result

"""Repeated capacity searches (RUNS=n) judged together: the median, the spread, and whether the
machine speed index explains a spread wider than the search can resolve. Pure: answers and
indexes in, a verdict out.

The search resolves a rate to within one bisection step (5 %) and may then step down once more
on confirmation (5 %): two searches of one unchanged shop on one unchanged machine can land up
to about 10 % apart, so ±10 % of the median is what a run of searches can support. Wider than
that, the machine speed index of each search says whether the machine moved: each answer scaled
to the median index (capacity x median index / its own index) is what the search would have
said on a machine of that speed. When the scaled answers agree within the bound, the machine
explains the spread.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from lab.load.neighbours import DISTURBED_CORES


@dataclass(frozen=True)
class RunsVerdict:
    runs: int
    answered: int  # searches that named a rate
    median_tps: float | None
    low_tps: float | None
    high_tps: float | None
    deviation: float | None  # the largest |answer - median| / median
    bound: float  # what the search can support: ± this share of the median
    index_median: float | None
    index_change: float | None  # (highest - lowest) / median of the searches' indexes
    scaled_deviation: float | None  # the same deviation after scaling to the median index
    within: bool  # every answer within the bound
    explained_by_speed: bool  # outside the bound, inside it once scaled by the index
    others_cores: tuple[float, ...] = ()  # each search's median CPU of other processes

    def neighbours(self) -> str:
        """What other processes took during the searches, when it was enough to disturb."""
        if not self.others_cores or max(self.others_cores) < DISTURBED_CORES:
            return ""
        cores = ", ".join(f"{c:.2f}" for c in self.others_cores)
        return f"; other processes took {cores} cores (median per search) beside them"

    def sentence(self) -> str:
        if self.median_tps is None:
            return f"no search of {self.runs} named a rate"
        spread = (
            f"median {self.median_tps:g}/s of {self.answered} searches ({self.low_tps:g} to "
            f"{self.high_tps:g}/s, ±{self.deviation * 100:.1f} % of the median)"
        )
        if self.answered < 2:
            return spread + ": one answer has no spread"
        index = (
            ""
            if self.index_change is None
            else f"; the machine speed index moved {self.index_change * 100:.1f} % between "
            f"searches (median {self.index_median:.2f})"
        )
        if self.within:
            return (
                f"{spread}: within the ±{self.bound * 100:.0f} % a search can resolve{index}"
                f"{self.neighbours()}"
            )
        if self.explained_by_speed:
            return (
                f"{spread}: WIDER than the ±{self.bound * 100:.0f} % a search can resolve, and "
                f"the machine explains it{index}; scaled to the median index the answers agree "
                f"within ±{self.scaled_deviation * 100:.1f} %{self.neighbours()}"
            )
        scaled = (
            ""
            if self.scaled_deviation is None
            else f" (±{self.scaled_deviation * 100:.1f} % even scaled to the median index)"
        )
        return (
            f"{spread}: WIDER than the ±{self.bound * 100:.0f} % a search can resolve, and the "
            f"machine speed does not explain it{scaled}{index}{self.neighbours()}: something "
            "else moved (neighbours, the shop's state)"
        )

    def as_dict(self) -> dict:
        return {**asdict(self), "sentence": self.sentence()}


def _deviation(values: Sequence[float], middle: float) -> float:
    return max(abs(v - middle) for v in values) / middle if middle else 0.0


def judge_runs(
    answers: Sequence[float | None],
    indexes: Sequence[float | None],
    *,
    bound: float = 0.10,
    others: Sequence[float] = (),
) -> RunsVerdict:
    """`answers`: each search's capacity (None: it named none); `indexes`: each search's machine
    speed index (the median of its samples; None: not measured); `others`: each search's median
    CPU of other processes (cores), said beside a spread."""
    pairs = [(a, i) for a, i in zip(answers, indexes, strict=True) if a is not None]
    rates = [a for a, _ in pairs]
    if not rates:
        return RunsVerdict(len(answers), 0, None, None, None, None, bound, None, None, None,
                           False, False)  # fmt: skip
    middle = statistics.median(rates)
    deviation = _deviation(rates, middle)
    known = [i for i in indexes if i]
    index_median = statistics.median(known) if known else None
    index_change = (max(known) - min(known)) / index_median if len(known) > 1 else None
    scaled = None
    if index_median and all(i for _, i in pairs):
        normalised = [a * index_median / i for a, i in pairs]
        scaled = _deviation(normalised, statistics.median(normalised))
    within = deviation <= bound + 1e-9
    explained = not within and scaled is not None and scaled <= bound + 1e-9
    return RunsVerdict(len(answers), len(rates), middle, min(rates), max(rates), deviation,
                       bound, index_median, index_change, scaled, within, explained,
                       tuple(others))  # fmt: skip

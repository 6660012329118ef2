"""Change points in the run history, found by Apache Otava (its Python API: `Series.analyze`),
each named by the commit where the new level starts.

One series per source and figure (gate runs are compared with gate runs, nightly capacity with
nightly capacity). Otava's split-and-merge e-divisive (Fleming et al., "Hunter", ICPE 2023)
keeps a change point only when a t-test between the stretches around it is below the p-value
and the relative change exceeds the minimum. Pure: a History in, a Trend out.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from otava.series import AnalysisOptions, Series
from otava.series import Metric as OtavaMetric

from lab.trend.history import FIGURES, History, Record

# Fewer runs than this in a series: nothing to compare (Otava needs a stretch on each side).
MIN_RUNS = 4
# A change point with fewer runs than this after it rests on one run: an outlier looks the same
# as a step until the next run says which it was. Otava names it; it is said as tentative.
MIN_RUNS_AFTER = 2


@dataclass(frozen=True)
class ChangePoint:
    source: str
    figure: str
    index: int  # the first run at the new level, in the series
    timestamp: float
    commit: str | None  # the commit of that first run
    previous_commit: str | None  # the run before it
    before: float  # mean of the stretch before
    after: float  # mean of the stretch after
    change: float  # after / before - 1
    pvalue: float
    kind: str  # regression or improvement (FIGURES says which way is better)
    runs_after: int = MIN_RUNS_AFTER  # runs from this one on, in the series

    @property
    def tentative(self) -> bool:
        return self.runs_after < MIN_RUNS_AFTER

    def sentence(self) -> str:
        label, unit, _ = FIGURES[self.figure]
        if self.previous_commit and self.previous_commit == self.commit:
            since = " (the same commit as the run before: the code did not change there)"
        elif self.previous_commit:
            since = f" (after {self.previous_commit})"
        else:
            since = ""
        return (
            f"{self.source} {label}: {self.kind} of {self.change * 100:+.1f} % at commit "
            f"{self.commit or 'unknown'}{since}: {self.before:.2f} -> {self.after:.2f} {unit} "
            f"(p = {self.pvalue:.2g}, {self.runs_after} run(s) since)"
        )


@dataclass(frozen=True)
class Line:
    """One figure of one source over time: what is drawn."""

    source: str
    figure: str
    timestamps: tuple[float, ...]
    values: tuple[float | None, ...]
    commits: tuple[str | None, ...]


@dataclass(frozen=True)
class Trend:
    lines: tuple[Line, ...]
    changes: tuple[ChangePoint, ...]
    runs: dict = field(default_factory=dict)  # source -> runs in the history
    too_short: tuple[str, ...] = ()  # "source figure" series with fewer than MIN_RUNS values
    pvalue: float = 0.001
    min_change: float = 0.05

    def verdict(self) -> str:
        if not self.lines:
            return "no history yet"
        confirmed = [c for c in self.changes if not c.tentative]
        tentative = "".join(
            f"; tentative, on its last run alone: {c.sentence()}"
            for c in self.changes
            if c.tentative
        )
        if not confirmed:
            runs = ", ".join(f"{n} {s} runs" for s, n in sorted(self.runs.items()))
            return (f"no change ({runs}; p < {self.pvalue:g} and at least "
                    f"{self.min_change * 100:g} % to count){tentative}")  # fmt: skip
        return "; ".join(c.sentence() for c in confirmed) + tentative

    def as_dict(self) -> dict:
        return {
            "verdict": self.verdict(),
            "changes": [asdict(c) for c in self.changes],
            "lines": [asdict(line) for line in self.lines],
            "runs": self.runs,
            "too_short": list(self.too_short),
            "pvalue": self.pvalue,
            "min_change": self.min_change,
        }


def _lines(records: list[Record], source: str) -> list[Line]:
    out = []
    for figure in FIGURES:
        values = tuple(r.figures.get(figure) for r in records)
        if any(v is not None for v in values):
            out.append(Line(source, figure, tuple(r.timestamp for r in records), values,
                            tuple(r.commit for r in records)))  # fmt: skip
    return out


def _analyse(line: Line, pvalue: float, min_change: float) -> list[ChangePoint]:
    known = [i for i, v in enumerate(line.values) if v is not None and math.isfinite(v)]
    if len(known) < MIN_RUNS:
        return []
    # Otava wants strictly increasing integer times: the run's order, not its clock second.
    times = list(range(len(known)))
    data = [float(line.values[i]) for i in known]
    _, _, higher_is_better = FIGURES[line.figure]
    series = Series(
        line.source,
        None,
        times,
        {line.figure: OtavaMetric(1 if higher_is_better else -1, 1.0)},
        {line.figure: data},
        {"commit": [line.commits[i] or "" for i in known]},
    )
    options = AnalysisOptions()
    options.max_pvalue = pvalue
    options.min_magnitude = min_change
    analysed = series.analyze(options)
    found = []
    for cp in analysed.change_points.get(line.figure, []):
        at, before = known[cp.index], known[cp.index - 1]
        change = float(cp.stats.forward_rel_change())
        better = (change > 0) == higher_is_better
        found.append(ChangePoint(
            line.source, line.figure, at, line.timestamps[at], line.commits[at],
            line.commits[before], float(cp.stats.mean_1), float(cp.stats.mean_2), change,
            float(cp.stats.pvalue), "improvement" if better else "regression",
            len(known) - cp.index,
        ))  # fmt: skip
    return found


def detect(history: History, pvalue: float = 0.001, min_change: float = 0.05) -> Trend:
    """Every source's figures as lines, and Otava's change points in each."""
    lines: list[Line] = []
    changes: list[ChangePoint] = []
    too_short: list[str] = []
    runs = {}
    for source in history.sources:
        records = history.of(source)
        runs[source] = len(records)
        for line in _lines(records, source):
            lines.append(line)
            if sum(v is not None for v in line.values) < MIN_RUNS:
                too_short.append(f"{source} {line.figure}")
            changes += _analyse(line, pvalue, min_change)
    changes.sort(key=lambda c: c.timestamp)
    return Trend(tuple(lines), tuple(changes), runs, tuple(too_short), pvalue, min_change)

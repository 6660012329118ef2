"""The A/B's judgement, pure: the best pass of each build per metric, the ratio head/base,
and whether it is within the stated tolerance.

Noise-aware in two ways. Each build is judged by its best pass (the lowest latency and CPU, the
highest rate): what other processes on a shared machine do only adds latency and takes rate,
never the reverse, so the best pass is the one nearest the build's own cost, and one disturbed
pass does not decide (the median of two passes is their mean, which one burst drags). And a
metric's allowance is the larger of its stated tolerance and the spread the passes of one build
showed among themselves (what an A/A run of the same build shows on this machine at this
moment): a difference within the machine's own noise is not called a regression. Latencies and
CPU also have an absolute floor: 4 ms against 3 ms is a ratio of 1.33 but no news.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    unit: str  # report.units' name: reqps, ms
    higher_is_better: bool
    tolerance: float  # the stated tolerance: a share of the base's figure
    floor: float = 0.0  # a difference below this (in the metric's unit) is never a change


# Stated tolerances, from A/A runs (BASE=HEAD) on this 2-core box: see docs/ci.md.
METRICS = (
    Metric("rate", "achieved rate (hold)", "reqps", True, 0.05),
    Metric("orders_p95_ms", "POST /api/orders p95", "ms", False, 0.30, 5.0),
    Metric("popular_p95_ms", "GET /api/products/popular p95", "ms", False, 0.30, 5.0),
    Metric("cpu_ms_per_request", "shop CPU per request", "ms", False, 0.15, 0.3),
)


def spread(values: Sequence[float]) -> float:
    """(max - min) / median of one build's passes: 0 for identical passes."""
    middle = statistics.median(values)
    return (max(values) - min(values)) / middle if middle else 0.0


@dataclass(frozen=True)
class Comparison:
    name: str
    label: str
    unit: str
    base: float | None  # the base's best pass
    head: float | None
    ratio: float | None  # head / base
    tolerance: float  # the stated one
    noise: float  # the larger spread of one build's passes
    floor: float
    verdict: str  # ok, better, WORSE, n/a

    @property
    def allowed(self) -> float:
        return max(self.tolerance, self.noise)

    def allowance(self) -> str:
        floor = f", or under {self.floor:g} {self.unit}" if self.floor else ""
        noisy = " (noise)" if self.noise > self.tolerance else ""
        return f"±{self.allowed * 100:.0f} %{noisy}{floor}"


def compare(metric: Metric, base: Iterable[float | None], head: Iterable[float | None]):
    """One metric's comparison over the passes of each build (None: not measured)."""
    b = [v for v in base if v is not None]
    h = [v for v in head if v is not None]
    best = max if metric.higher_is_better else min
    if not b or not h or best(b) == 0:
        return Comparison(
            metric.name,
            metric.label,
            metric.unit,
            None,
            None,
            None,
            metric.tolerance,
            0.0,
            metric.floor,
            "n/a",
        )
    mb, mh = best(b), best(h)
    ratio = mh / mb
    noise = max(spread(b), spread(h))
    allowed = max(metric.tolerance, noise)
    gain = (mh - mb) if metric.higher_is_better else (mb - mh)  # > 0: head is better
    verdict = "ok"
    if abs(mh - mb) > metric.floor and abs(ratio - 1) > allowed:
        verdict = "better" if gain > 0 else "WORSE"
    return Comparison(
        metric.name,
        metric.label,
        metric.unit,
        mb,
        mh,
        ratio,
        metric.tolerance,
        noise,
        metric.floor,
        verdict,
    )


def compare_all(
    passes: Sequence[tuple[str, Mapping[str, float | None]]], metrics: Sequence[Metric] = METRICS
) -> list[Comparison]:
    """Every metric, from (build, values) per pass, build being "base" or "head"."""
    return [
        compare(
            m,
            [v.get(m.name) for b, v in passes if b == "base"],
            [v.get(m.name) for b, v in passes if b == "head"],
        )
        for m in metrics
    ]

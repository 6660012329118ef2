"""The A/B's judgement, pure: head against base per metric, with the noise floor measured by
the A/A passes of the same job.

Each build runs several passes, interleaved (base, head, head, base, ...: a drift of the
machine falls on both alike). Per metric, on the logarithm of each pass's value:
- the A/A noise: how far passes of one build differ among themselves (base against base, head
  against head), pooled over both builds: the standard deviation `s` of one pass;
- the change: the mean of head's passes minus the mean of base's, as a ratio head/base, with a
  Student-t interval (n_base + n_head - 2 degrees of freedom);
- the smallest change the run could have detected: the change whose interval would exclude 1
  four times in five (80 % power) at that noise.
The interval's level is shared by the metrics (Bonferroni): an A/A run flags any metric at
most one time in a hundred. A change is called only when its interval excludes 1 and it
exceeds the metric's floor (4 ms against 3 ms may be real, but is no news; a rate 0.5 % lower
at a fixed offered rate neither); otherwise the
verdict is "no difference detectable at this noise", with the smallest detectable change
beside it. A disturbed pass widens the noise: it makes the run say less, never more.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

from scipy import stats

FAMILY_ALPHA = 0.01  # the chance an A/A run flags any metric
POWER = 0.8  # the chance a change of the detectable size is flagged

REGRESSION = "regression"
IMPROVEMENT = "improvement"
UNDETECTABLE = "no difference detectable"
NOT_MEASURED = "n/a"


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    unit: str  # report.units' name: reqps, ms
    higher_is_better: bool
    floor: float = 0.0  # a difference below this (in the metric's unit) is never a change
    min_change: float = 0.0  # nor is a ratio closer to 1 than this (a share)


# The medians are what a shift of every request shows first: on a shared machine a neighbour's
# burst moves the p95 of a 30 s pass by half (measured here: 29 to 108 ms between passes of one
# build), the median by a few percent.
METRICS = (
    Metric("rate", "achieved rate (hold)", "reqps", True, min_change=0.02),
    Metric("orders_p50_ms", "POST /api/orders p50", "ms", False, 2.0),
    Metric("popular_p50_ms", "GET /api/products/popular p50", "ms", False, 2.0),
    Metric("orders_p95_ms", "POST /api/orders p95", "ms", False, 5.0),
    Metric("popular_p95_ms", "GET /api/products/popular p95", "ms", False, 5.0),
    Metric("cpu_ms_per_request", "shop CPU per request", "ms", False, 0.3),
)


@dataclass(frozen=True)
class Comparison:
    name: str
    label: str
    unit: str
    base: float | None  # geometric mean of the base's passes
    head: float | None
    ratio: float | None  # head / base
    low: float | None  # the ratio's interval
    high: float | None
    noise: float | None  # one pass's spread (A/A): exp(s) - 1
    detectable: float | None  # the smallest relative change the run could have detected
    floor: float
    passes: tuple[int, int]  # (base, head) passes measured
    verdict: str  # regression, improvement, no difference detectable, n/a
    level: float = 1 - FAMILY_ALPHA  # the interval's family-wise confidence

    def interval(self) -> str:
        if self.ratio is None:
            return "n/a"
        return f"x{self.ratio:.2f} [{self.low:.2f}, {self.high:.2f}]"

    def detectable_text(self) -> str:
        if self.detectable is None:
            return "n/a"
        absolute = (
            f" ({self.detectable * self.base:.1f} {self.unit})"
            if self.unit == "ms" and self.base
            else ""
        )
        return f"±{self.detectable * 100:.0f} %{absolute}"

    def as_dict(self) -> dict:
        return {
            **asdict(self),
            "interval": self.interval(),
            "detectable_text": self.detectable_text(),
        }


def _usable(values: Iterable[float | None]) -> list[float]:
    return [v for v in values if v is not None and v > 0 and math.isfinite(v)]


def _not_measured(metric: Metric, nb: int, nh: int) -> Comparison:
    return Comparison(metric.name, metric.label, metric.unit, None, None, None, None, None, None,
                      None, metric.floor, (nb, nh), NOT_MEASURED)  # fmt: skip


def aa_noise(base: Sequence[float], head: Sequence[float]) -> tuple[float, int]:
    """The pooled standard deviation of one pass's log value (base against base, head against
    head) and its degrees of freedom."""
    logs = [[math.log(v) for v in build] for build in (base, head)]
    squares = sum(sum((x - statistics.fmean(b)) ** 2 for x in b) for b in logs)
    df = len(base) + len(head) - 2
    return math.sqrt(squares / df), df


def compare(
    metric: Metric,
    base: Iterable[float | None],
    head: Iterable[float | None],
    metrics: int = len(METRICS),
) -> Comparison:
    """One metric's comparison over the passes of each build (None: not measured); `metrics`
    how many share the family's error rate."""
    b, h = _usable(base), _usable(head)
    if len(b) < 2 or len(h) < 2:
        return _not_measured(metric, len(b), len(h))
    s, df = aa_noise(b, h)
    se = s * math.sqrt(1 / len(b) + 1 / len(h))
    t = stats.t.ppf(1 - FAMILY_ALPHA / metrics / 2, df)
    delta = statistics.fmean(math.log(v) for v in h) - statistics.fmean(math.log(v) for v in b)
    gm_base, gm_head = statistics.geometric_mean(b), statistics.geometric_mean(h)
    # What the noise lets through at 80 % power, and never below what the metric would name.
    detectable = max(math.expm1((t + stats.t.ppf(POWER, df)) * se), metric.min_change,
                     metric.floor / gm_base)  # fmt: skip
    low, high = math.exp(delta - t * se), math.exp(delta + t * se)
    verdict = UNDETECTABLE
    big = abs(gm_head - gm_base) > metric.floor and abs(math.exp(delta) - 1) > metric.min_change
    if (low > 1 or high < 1) and big:
        better = (high < 1) != metric.higher_is_better
        verdict = IMPROVEMENT if better else REGRESSION
    return Comparison(metric.name, metric.label, metric.unit, gm_base, gm_head,
                      math.exp(delta), low, high, math.expm1(s), detectable, metric.floor,
                      (len(b), len(h)), verdict)  # fmt: skip


def compare_all(
    passes: Sequence[tuple[str, Mapping[str, float | None]]], metrics: Sequence[Metric] = METRICS
) -> list[Comparison]:
    """Every metric, from (build, values) per pass, build being "base" or "head"."""
    return [
        compare(
            m,
            [v.get(m.name) for b, v in passes if b == "base"],
            [v.get(m.name) for b, v in passes if b == "head"],
            len(metrics),
        )
        for m in metrics
    ]


def order(passes: int) -> list[str]:
    """The builds' turns, ABBA: base, head, head, base, base, head, ... so that a steady drift
    of the machine over the job falls on both builds alike."""
    turns: list[str] = []
    for i in range(passes):
        turns += ["base", "head"] if i % 2 == 0 else ["head", "base"]
    return turns

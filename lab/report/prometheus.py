"""The report's view of Prometheus: the one client (signals.client), answering Series.

The report draws what it gets, so its reads return finite points only (NaN and Inf are
Prometheus's "no answer here", a quantile of no requests: nothing to draw).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from signals import client
from signals.client import PrometheusError, finite

__all__ = ["Prometheus", "PrometheusError", "Series"]


@dataclass(frozen=True)
class Series:
    """One series of a result: its labels and its finite (time, value) points."""

    labels: dict[str, str]
    points: list[tuple[float, float]] = field(default_factory=list)

    @property
    def last(self) -> float | None:
        return self.points[-1][1] if self.points else None


class Prometheus:
    """signals.client.Prometheus with the report's shapes; it answers `ready()` before use."""

    def __init__(self, url: str, timeout: float = 30):
        self.client = client.Prometheus(url, timeout)
        self.url = self.client.url

    def ready(self) -> bool:
        return self.client.ready()

    def scrape_interval(self, default: float = 5) -> float:
        return self.client.scrape_interval(default)

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        # The client's points are finite already (signals.client.finite).
        result = self.client.query_range(expr, start, end, step)
        return [Series(dict(s["metric"]), s["values"]) for s in result if s["values"]]

    def query(self, expr: str, at: float) -> list[Series]:
        series = [
            Series(dict(s["metric"]), finite([s["value"]])) for s in self.client.query(expr, at)
        ]
        return [s for s in series if s.points]

    def samples(self, selector: str, start: float, end: float) -> list[Series]:
        """Each series' raw samples in (`start`, `end`], as scraped."""
        result = self.client.samples(selector, start, end)
        series = [Series(dict(s["metric"]), finite(s["values"])) for s in result]
        return [s for s in series if s.points]

    def value(self, expr: str, at: float) -> float | None:
        """The first series' value at `at`; None when the query returns nothing."""
        series = self.query(expr, at)
        return series[0].last if series else None

"""Prometheus's HTTP API as the report reads it: range and instant queries, the scrape interval."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import requests
import yaml


class PrometheusError(RuntimeError):
    """Prometheus refused a query or could not be reached; the message says which."""


@dataclass(frozen=True)
class Series:
    """One series of a result: its labels and its finite (time, value) points."""

    labels: dict[str, str]
    points: list[tuple[float, float]] = field(default_factory=list)

    @property
    def last(self) -> float | None:
        return self.points[-1][1] if self.points else None


def _finite(values: list) -> list[tuple[float, float]]:
    # NaN and ±Inf are Prometheus's "no answer here" (a quantile of no requests): nothing to draw.
    points = [(float(t), float(v)) for t, v in values]
    return [(t, v) for t, v in points if math.isfinite(v)]


class Prometheus:
    def __init__(self, url: str, timeout: float = 30):
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _get(self, path: str, params: dict) -> dict:
        try:
            # POST: a panel's query can outgrow a URL; the status endpoints answer GET only.
            if params:
                res = requests.post(f"{self.url}{path}", data=params, timeout=self.timeout)
            else:
                res = requests.get(f"{self.url}{path}", timeout=self.timeout)
            body = res.json()
        except requests.RequestException as exc:
            raise PrometheusError(f"no Prometheus at {self.url} ({type(exc).__name__})") from exc
        except ValueError as exc:
            raise PrometheusError(f"{self.url}{path} did not answer JSON") from exc
        if body.get("status") != "success":
            raise PrometheusError(
                f"Prometheus refused {params.get('query')!r}: {body.get('error')}"
            )
        return body["data"]

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        params = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        result = self._get("/api/v1/query_range", params)["result"]
        series = [Series(dict(s["metric"]), _finite(s.get("values", []))) for s in result]
        return [s for s in series if s.points]

    def query(self, expr: str, at: float) -> list[Series]:
        data = self._get("/api/v1/query", {"query": expr, "time": f"{at:.3f}"})
        if data["resultType"] == "scalar":
            return [Series({}, _finite([data["result"]]))]
        series = [Series(dict(s["metric"]), _finite([s["value"]])) for s in data["result"]]
        return [s for s in series if s.points]

    def value(self, expr: str, at: float) -> float | None:
        """The first series' value at `at`; None when the query returns nothing."""
        series = self.query(expr, at)
        return series[0].last if series else None

    def scrape_interval(self, default: float = 5) -> float:
        """The global scrape interval of the running config: Grafana's $__rate_interval needs it."""
        try:
            config = yaml.safe_load(self._get("/api/v1/status/config", {})["yaml"]) or {}
        except (PrometheusError, yaml.YAMLError):
            return default
        return _seconds(config.get("global", {}).get("scrape_interval"), default)

    def ready(self) -> bool:
        try:
            return requests.get(f"{self.url}/-/ready", timeout=5).status_code == 200
        except requests.RequestException:
            return False


_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}


def _seconds(text: str | None, default: float) -> float:
    """A Prometheus duration as the config prints it (`5s`, `1m`, `500ms`) in seconds."""
    if not text:
        return default
    for suffix in ("ms", "s", "m", "h"):
        if text.endswith(suffix) and text[: -len(suffix)].isdigit():
            return int(text[: -len(suffix)]) * _UNITS[suffix]
    return default

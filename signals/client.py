"""The one Prometheus HTTP client every reader uses (runner verdict, capacity, live dashboard check,
demo, run report, tests): instant values and vectors, range series, label values, readiness.

Reads answer "no data" (None, an empty list) when Prometheus is gone or the query has no
result, so a report says n/a rather than crash; a query Prometheus refuses is an error.
"""

from __future__ import annotations

import math
import time

import requests


def finite(points) -> list[tuple[float, float]]:
    """(t, v) points with a number: NaN and ±Inf are Prometheus's "no answer here" (a quantile
    or a share of no requests), never a figure. The one rule every reader uses."""
    return [(float(t), float(v)) for t, v in points if math.isfinite(float(v))]


class PrometheusError(RuntimeError):
    """Prometheus answered, but refused the query (bad PromQL, bad parameters)."""


class Prometheus:
    def __init__(self, url: str, timeout: float = 10):
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _get(self, path: str, params: dict) -> dict | None:
        """The `data` of an API answer; None when Prometheus cannot be reached."""
        try:
            response = requests.post(f"{self.url}{path}", data=params, timeout=self.timeout)
            body = response.json()
        except (requests.RequestException, ValueError):
            return None
        if body.get("status") != "success":
            raise PrometheusError(f"Prometheus refused {params}: {body.get('error')}")
        return body["data"]

    def value(self, expr: str, at: float | None = None) -> float | None:
        """The first series' value (at `at`, else now); None for no series, no number (`finite`),
        or no Prometheus (an absent metric must not pass for a zero)."""
        params = {"query": expr, **({"time": f"{at:.3f}"} if at is not None else {})}
        data = self._get("/api/v1/query", params)
        if not data or not data["result"]:
            return None
        scalar = data["resultType"] == "scalar"
        value = float(data["result"][1] if scalar else data["result"][0]["value"][1])
        return value if math.isfinite(value) else None

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict]:
        """Every series of a range query: `metric` (labels) and `values` [(t, v)], numbers only;
        native histograms keep their `histograms` as Prometheus gives them."""
        params = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": step}
        data = self._get("/api/v1/query_range", params)
        if not data:
            return []
        return [
            {
                "metric": s["metric"],
                "values": finite(s.get("values", [])),
                **({"histograms": s["histograms"]} if "histograms" in s else {}),
            }
            for s in data["result"]
        ]

    def query(self, expr: str, at: float | None = None) -> list[dict]:
        """Every series of an instant query: `metric` (labels) and `value` (t, v); a scalar
        answers one series without labels."""
        params = {"query": expr, **({"time": f"{at:.3f}"} if at is not None else {})}
        data = self._get("/api/v1/query", params)
        if not data:
            return []
        if data["resultType"] == "scalar":
            t, v = data["result"]
            return [{"metric": {}, "value": (float(t), float(v))}]
        return [
            {"metric": s["metric"], "value": (float(s["value"][0]), float(s["value"][1]))}
            for s in data["result"]
            if "value" in s
        ]

    def samples(self, selector: str, start: float, end: float) -> list[dict]:
        """Every series' raw samples in (`start`, `end`]: `metric` (labels) and `values` [(t, v)]
        as scraped, neither interpolated nor carried over from before `start`."""
        seconds = max(1, math.ceil(end - start))
        params = {"query": f"{selector}[{seconds}s]", "time": f"{end:.3f}"}
        data = self._get("/api/v1/query", params)
        if not data or data["resultType"] != "matrix":
            return []
        return [
            {"metric": s["metric"], "values": [(float(t), float(v)) for t, v in s["values"]]}
            for s in data["result"]
        ]

    def scrape_interval(self, default: float = 5) -> float:
        """The running config's global scrape interval in seconds (Grafana's $__rate_interval
        needs it); `default` when it cannot be read."""
        import yaml

        try:
            response = requests.get(f"{self.url}/api/v1/status/config", timeout=self.timeout)
            config = yaml.safe_load(response.json()["data"]["yaml"]) or {}
        except (requests.RequestException, ValueError, KeyError, yaml.YAMLError):
            return default
        text = str(config.get("global", {}).get("scrape_interval") or "")
        for suffix, seconds in (("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)):
            if text.endswith(suffix) and text[: -len(suffix)].isdigit():
                return int(text[: -len(suffix)]) * seconds
        return default

    def series(self, expr: str, start: float, end: float, step: float = 1) -> list[tuple]:
        """The first series of a range query as [(t, v)]; [] without one."""
        result = self.query_range(expr, start, end, step)
        return result[0]["values"] if result else []

    def label_values(
        self, label: str, match: str | None = None, start: float | None = None,
        end: float | None = None,
    ) -> list[str]:  # fmt: skip
        """Values of `label` on the series `match` selects (every series without it)."""
        params = {
            **({"match[]": match} if match else {}),
            **({"start": f"{start:.3f}"} if start is not None else {}),
            **({"end": f"{end:.3f}"} if end is not None else {}),
        }
        try:
            response = requests.get(
                f"{self.url}/api/v1/label/{label}/values", params=params, timeout=self.timeout
            )
            return list(response.json().get("data") or [])
        except (requests.RequestException, ValueError):
            return []

    def ready(self) -> bool:
        """Prometheus answers /-/ready (its TSDB and rules are loaded)."""
        try:
            return requests.get(f"{self.url}/-/ready", timeout=self.timeout).status_code == 200
        except requests.RequestException:
            return False

    def wait_for(self, expr: str, timeout: float = 30, poll: float = 0.5) -> float:
        """The first value of `expr` once it has one (a first scrape is in); raises
        TimeoutError naming the query after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.value(expr)
            if value is not None:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {expr} in Prometheus within {timeout:.0f} s")
            time.sleep(poll)

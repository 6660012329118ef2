"""All of the load runner's Prometheus HTTP: instant values, range series, readiness.

Narrow on purpose (`value`, `series`, `query_range`, `label_values`, `ready`, `wait_for`): the
same shape as `signals.client.Prometheus`, which may replace it.
"""

from __future__ import annotations

import math
import time

import requests


class PrometheusError(RuntimeError):
    """Prometheus refused a query (bad PromQL) or is unreachable where it must answer."""


class Prometheus:
    def __init__(self, url: str, timeout: float = 10):
        self.url = url.rstrip("/")
        self.timeout = timeout

    def ready(self) -> bool:
        try:
            return requests.get(f"{self.url}/-/ready", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def value(self, expr: str, at: float | None = None) -> float | None:
        """The first series' value (at `at`, else now); None when there is none, NaN included,
        or Prometheus does not answer (a report says n/a rather than crash)."""
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        try:
            data = requests.get(f"{self.url}/api/v1/query", params=params, timeout=5).json()
        except (requests.RequestException, ValueError):
            return None
        result = data.get("data", {}).get("result", [])
        if not result:
            return None
        value = float(result[0]["value"][1])
        return None if math.isnan(value) else value

    def series(
        self, expr: str, start: float, end: float, step: float = 1
    ) -> list[tuple[float, float]]:
        """The first series of a range query as (time, value), NaN samples left out; [] when
        there is none or Prometheus does not answer."""
        try:
            result = self.query_range(expr, start, end, step)
        except (PrometheusError, requests.RequestException, ValueError):
            return []
        if not result:
            return []
        return [(float(t), float(v)) for t, v in result[0].get("values", []) if v != "NaN"]

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict]:
        """Every series of a range query, as Prometheus gives them; raises PrometheusError on
        a refused query."""
        params = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": step}
        body = requests.post(f"{self.url}/api/v1/query_range", data=params,
                             timeout=self.timeout * 3).json()  # fmt: skip
        if body.get("status") != "success":
            raise PrometheusError(f"Prometheus refused {expr!r}: {body.get('error')}")
        return body["data"]["result"]

    def label_values(self, label: str, metric: str | None, start: float, end: float) -> list[str]:
        params = {"start": f"{start:.3f}", "end": f"{end:.3f}"}
        if metric:
            params["match[]"] = metric
        url = f"{self.url}/api/v1/label/{label}/values"
        return requests.get(url, params=params, timeout=self.timeout).json()["data"]

    def wait_for(self, expr: str, timeout: float = 30) -> None:
        """Until an instant query of `expr` returns a series (a first scrape is in)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                params = {"query": expr}
                body = requests.get(f"{self.url}/api/v1/query", params=params, timeout=5).json()
                if body.get("data", {}).get("result"):
                    return
            except (requests.RequestException, ValueError):
                pass
            time.sleep(1)
        raise PrometheusError(f"no {expr} in Prometheus within {timeout:.0f} s")

"""A Locust run judged as k6 judges itself: the thresholds of the plan over Locust's own stats,
and the JSON summary in k6's shape (so the runner reads both tools the same way)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from lab.load.scenarios import Plan


class Stats(Protocol):
    """What Locust's RequestStats offers (environment.stats): an entry per (name, method)."""

    total: Any

    def get(self, name: str, method: str) -> Any: ...


def endpoint_stats(stats: Stats, endpoint: Mapping) -> dict:
    entry = stats.get(endpoint["name"], endpoint["method"])
    count = entry.num_requests
    return {
        "count": count,
        "failures": entry.num_failures,
        "p95_ms": entry.get_response_time_percentile(0.95) if count else None,
        "p99_ms": entry.get_response_time_percentile(0.99) if count else None,
    }


def thresholds(plan: Plan, stats: Stats, seconds: float, final: bool) -> list[dict]:
    """Each endpoint of the mix: p95 under its objective and failures within the error rate;
    at the end also the requests sent against those offered (Locust never drops a request, it
    falls behind its pacing instead: the analogue of k6's dropped iterations)."""
    out = []
    for endpoint in plan.target["endpoints"]:
        if not plan.mix.get(endpoint["name"]):
            continue
        e, limit = endpoint_stats(stats, endpoint), plan.p95_ms(endpoint["name"])
        p95 = e["p95_ms"]
        out.append({"name": f"{endpoint['key']}: p95 < {limit:g} ms",
                    "pass": p95 is None or p95 < limit})  # fmt: skip
        ratio = e["failures"] / e["count"] if e["count"] else 0.0
        out.append({"name": f"{endpoint['key']}: failure rate <= {plan.slo['error_rate']}",
                    "pass": ratio <= plan.slo["error_rate"]})  # fmt: skip
    if final:
        sent = stats.total.num_requests
        out.append({"name": "requests sent >= 90 % of offered",
                    "pass": sent >= 0.9 * plan.offered_requests(seconds) - 2})  # fmt: skip
    return out


def summary(plan: Plan, stats: Stats, *, testid: str, seconds: float, started: float | None,
            aborted: list[str] | None) -> dict:  # fmt: skip
    results = thresholds(plan, stats, seconds, final=True)
    total = stats.total
    return {
        "tool": "locust",
        "scenario": plan.scenario,
        "testid": testid,
        "target": plan.target["name"],
        "target_tps": plan.target_tps,
        # Achieved: successful requests per second (failed ones are sent, not achieved).
        "achieved_tps": (total.num_requests - total.num_failures) / seconds,
        "offered_requests": round(plan.offered_requests(seconds)),
        "duration_s": seconds,
        "started_at": started,
        "requests": total.num_requests,
        "failures": total.num_failures,
        "error_rate": total.num_failures / total.num_requests if total.num_requests else 0.0,
        "dropped_iterations": 0,
        "endpoints": {e["key"]: endpoint_stats(stats, e) for e in plan.target["endpoints"]},
        "thresholds": results,
        # What the shape ran, [seconds, iterations/s] per stage: the plan's, unchanged.
        "start_rate": plan.start_rate,
        "stages": [[stage.seconds, stage.rate] for stage in plan.stages],
        "aborted": aborted,
        "passed": all(t["pass"] for t in results) and not aborted,
    }


def one_line(s: Mapping) -> str:
    return (f"locust: {s['scenario']}: {s['requests']} requests, {s['achieved_tps']:.1f}/s, "
            f"errors {s['error_rate'] * 100:.2f} %, "
            f"thresholds {'passed' if s['passed'] else 'FAILED'}")  # fmt: skip

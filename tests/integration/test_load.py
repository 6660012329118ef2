"""Smoke runs of both load tools through `python -m lab.load`, against a shop under gunicorn
and a Prometheus started by the harness: real requests reach the shop (its own counters), the
summaries and reports are written, and the run's series reach Prometheus under its testid."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from lab.load.scenarios import load_scenarios, plan_from_json, resolve
from stack.ephemeral import ShopServer
from stack.processes import free_port
from stack.settings import REPO
from targets import find_target
from tests.integration.conftest import seeded_database

pytestmark = [pytest.mark.integration, pytest.mark.loadrun]


def shop_requests(url: str) -> dict[str, float]:
    """The shop's own count of answered requests per route, from its /metrics."""
    counts: dict[str, float] = {}
    pattern = re.compile(r"^flask_http_request_duration_seconds_count\{(.*)\} (\S+)$")
    for line in requests.get(f"{url}/metrics", timeout=5).text.splitlines():
        match = pattern.match(line)
        if match:
            route = re.search(r'url_rule="([^"]*)"', match[1])[1]
            counts[route] = counts.get(route, 0) + float(match[2])
    return counts


def query(prometheus_url: str, expr: str) -> list[dict]:
    res = requests.get(f"{prometheus_url}/api/v1/query", params={"query": expr}, timeout=5)
    return res.json()["data"]["result"]


def ran_the_plan(results: Path, summary: dict) -> None:
    """The tool ran the stages of the plan the runner resolved, second for second."""
    plan = plan_from_json((results / "plan.json").read_text())
    assert plan == resolve(load_scenarios(), "smoke", target=find_target({}).as_plan(),
                           target_tps=200, scale=1, base_url=plan.base_url, testid=results.name,
                           results_dir=str(results))  # fmt: skip
    assert summary["stages"] == [[s.seconds, s.rate] for s in plan.stages] == [[5, 2]]
    assert summary["start_rate"] == plan.start_rate


def doc_metric_names(section: str) -> list[str]:
    """Names listed in a docs/metrics.md section, but those documented as appearing only on
    an event (k6's dropped iterations)."""
    text = (REPO / "docs" / "metrics.md").read_text()
    body = text.split(f"<!-- section: {section}", 1)[1].split(f"<!-- end section: {section}", 1)[0]
    rows = re.findall(r"^\| `([a-z0-9_]+)` \|(.*)$", body, re.M)
    return [name for name, rest in rows if "appears with the first" not in rest]


LOAD_DB: list[str] = []  # the module's shop database, once the fixture made it


@pytest.fixture(scope="module")
def shop(harness_root, mariadb, redis_server):
    LOAD_DB[:] = [seeded_database(mariadb, "load_it", users=37, products=12)]
    server = ShopServer(
        harness_root / "load-shop",
        env={"SHOP_DATABASE_URL": mariadb.url("load_it"), "SHOP_REDIS_URL": redis_server.url(5)},
    ).start()  # fmt: skip
    yield server
    server.stop()
    with mariadb.connect() as conn, conn.cursor() as cur:
        cur.execute("DROP DATABASE load_it")


@pytest.fixture(scope="module")
def locust_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def prometheus(make_prometheus, locust_port):
    return make_prometheus({
        "global": {"scrape_interval": "1s"},
        "scrape_configs": [{"job_name": "locust", "static_configs": [
            {"targets": [f"127.0.0.1:{locust_port}"]}]}],
    })  # fmt: skip


def run_load(args: list[str], results: Path, timeout: float = 120) -> tuple[int, str, Path | None]:
    # The shop's database, so that the run audits its books and reconciles its orders.
    env = {**os.environ, "SHOP_DATABASE_URL": LOAD_DB[0]} if LOAD_DB else None
    proc = subprocess.run(
        [sys.executable, "-m", "lab.load", *args, "--results", str(results)],
        cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False, env=env,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    runs = sorted(results.iterdir()) if results.exists() else []
    assert len(runs) <= 1, out
    return proc.returncode, out, runs[0] if runs else None


def smoke(shop, args: list[str], tmp_path: Path) -> tuple[Path, str, int, int]:
    """A passing, audited smoke run of the plan the runner resolved; every request it counted
    reached the shop. Its results, output, and orders and popular counts."""
    before = shop_requests(shop.url)
    rc, out, results = run_load(["--scenario", "smoke", "--shop-url", shop.url, *args], tmp_path)
    assert rc == 0, out
    assert "verdict: PASS" in out
    tool = args[args.index("--tool") + 1]
    summary = json.loads((results / f"{tool}-summary.json").read_text())
    assert summary["tool"] == tool and summary["passed"] and summary["testid"] == results.name
    ran_the_plan(results, summary)
    orders = summary["endpoints"]["POST /api/orders"]["count"]
    popular = summary["endpoints"]["GET /api/products/popular"]["count"]
    assert_audited(out, results, orders, popular)
    assert summary["requests"] == orders + popular
    after = shop_requests(shop.url)
    assert after["/api/orders"] - before.get("/api/orders", 0) == orders
    assert after["/api/products/popular"] - before.get("/api/products/popular", 0) == popular
    return results, out, orders, popular


@pytest.mark.parametrize("processes", [0, 2], ids=["one-process", "distributed"])
def test_locust_smoke(shop, prometheus, locust_port, tmp_path, processes):
    results, out, orders, popular = smoke(
        shop,
        ["--tool", "locust", "--prometheus-url", prometheus.url,
         "--locust-metrics-port", str(locust_port), "--locust-scrape-wait", "10",
         "--locust-processes", str(processes)],
        tmp_path,
    )  # fmt: skip
    testid = results.name
    written = sorted(p.name for p in results.iterdir())
    for name in ("locust_stats.csv", "locust_failures.csv", "locust.html"):
        assert name in written and (results / name).stat().st_size > 0, (name, written, out)
    # Smoke offers 2 requests/s for 5 s, half orders and half popular.
    assert orders >= 3 and popular >= 3
    # The master's counters reached Prometheus whole: the last scrape saw every request.
    sel = f'job="locust",testid="{testid}"'
    series = query(prometheus.url, f"max_over_time(locust_requests_total{{{sel}}}[2m])")
    seen = {s["metric"]["name"]: float(s["value"][1]) for s in series}
    assert seen == {"orders": orders, "popular": popular}  # by endpoint name
    workers = query(prometheus.url, f"max_over_time(locust_workers{{{sel}}}[2m])")
    assert float(workers[0]["value"][1]) == processes
    for name in doc_metric_names("locust"):
        expr = f"count(last_over_time({{__name__=~'{name}(_bucket)?',{sel}}}[2m]))"
        assert query(prometheus.url, expr), f"{name} (docs/metrics.md) never reached Prometheus"


def test_k6_smoke(shop, prometheus, tmp_path):
    results, _, orders, popular = smoke(
        shop, ["--tool", "k6", "--prometheus-url", prometheus.url], tmp_path
    )
    assert (results / "k6-raw-summary.json").stat().st_size > 0
    assert "<html" in (results / "k6-report.html").read_text()[:2000].lower()
    assert orders + popular >= 8
    # Half and half, interleaved: within one request of each other, not by chance.
    assert abs(orders - popular) <= 1, (orders, popular)
    testid = results.name
    stage = query(prometheus.url, f'max_over_time(k6_loadtest_stage{{testid="{testid}"}}[2m])')
    assert float(stage[0]["value"][1]) == 1  # smoke has one stage
    series = query(
        prometheus.url,
        f'sum by (endpoint) (max_over_time(k6_http_reqs_total{{testid="{testid}"}}[2m]))',
    )
    seen = {s["metric"]["endpoint"]: float(s["value"][1]) for s in series}
    assert seen["orders"] == orders and seen["popular"] == popular
    for name in doc_metric_names("k6"):
        expr = f'count(last_over_time({name}{{testid="{testid}"}}[2m]))'
        assert query(prometheus.url, expr), f"{name} (docs/metrics.md) never reached Prometheus"


def test_strategy_mismatch_on_a_given_shop_is_refused(shop, tmp_path):
    rc, out, results = run_load(
        ["--tool", "k6", "--scenario", "smoke", "--shop-url", shop.url, "--strategy", "naive"],
        tmp_path,
    )  # fmt: skip
    assert rc == 2
    assert "runs the safe strategy, not naive: restart it with SHOP_ORDER_STRATEGY=naive" in out
    assert results is None  # nothing was run, nothing written


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scale", "abc"], "load: SCALE='abc' is not a number"),
        (
            ["--scenario", "bogus"],
            "SCENARIO='bogus' is not one of smoke, load, soak, stress, probe, spike",
        ),
        (["--target-tps", "0"], "TARGET_TPS='0' must be a positive number"),
        (["--hot-ratio", "2"], "HOT_RATIO='2' is out of range: from 0 to 1"),
        (["--target", "nosuch"], "TARGET='nosuch' is neither a built-in (shop, spring-shop) nor a"),
        (
            ["--shop-url", "http://127.0.0.1:9"],
            "the service at http://127.0.0.1:9 is not ready: GET /readyz",
        ),
    ],
)
def test_bad_input_is_one_clear_line(args, message, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "lab.load", *args, "--results", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert proc.returncode == 2
    assert message in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr


def assert_audited(out: str, results: Path, orders: int, popular: int) -> None:
    """The run audited the books and reconciled every order attempt it logged: one logged
    attempt per order the tool counted (the mix is random: a smoke run may hold none), and
    one timed line per popular read (what make chaos reads)."""
    assert "audit: the books balance (every invariant holds)" in out, out
    lines = [json.loads(line) for line in (results / "orders.jsonl").read_text().splitlines()]
    attempts = [a for a in lines if a["endpoint"] == "orders"]
    assert len(attempts) == orders, (len(attempts), orders)
    assert len(lines) - len(attempts) == popular, (len(lines), orders, popular)
    assert all(a["t"] > 1e9 and a["ms"] >= 0 for a in lines)
    acked = {a["key"] for a in attempts if a["status"] == 201}
    audit = json.loads((results / "audit.json").read_text())
    assert audit["passed"] and audit["reconciliation"]["acknowledged"] == len(acked)
    assert audit["reconciliation"]["lost"] == [] == audit["reconciliation"]["double_charged"]

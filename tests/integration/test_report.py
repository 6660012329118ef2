"""The deck of real short k6 runs: a naive and a safe shop under the same hot-user load (and
the same bursts of one user's orders), scraped by a harness Prometheus with the InnoDB
exporter; the report names the deadlock on `users` for naive and none for safe, and its HTML
draws every graph in a real headless Chromium without a request leaving the file."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from exporters.innodb.collector import InnoDBCollector
from exporters.innodb.config import Settings
from exporters.innodb.server import ExporterServer
from lab.load.provoke import provoke_deadlock
from lab.report.__main__ import READY, main, make_report
from lab.report.browser import chromium, find_chromium
from lab.report.prometheus import Prometheus
from shop.schema import metadata
from shop.seed import seed_catalog
from stack.ephemeral import ShopServer
from stack.processes import free_port
from stack.settings import REPO

# Its module fixture runs two k6 loads before the first test (~70 s on a quiet box).
pytestmark = [pytest.mark.integration, pytest.mark.loadrun, pytest.mark.timeout(300)]

DATABASE = "report_it"
# Every drawn graph, from the page itself: its traces and the points of its drawn lines/bars.
GRAPHS_JS = """
[...document.querySelectorAll('[data-graph]')].map(g => ({
  id: g.id,
  traces: (g.data || []).length,
  points: (g.data || []).reduce((n, t) => n + (t.y || []).length, 0),
  drawn: g.querySelectorAll('.scatterlayer path.js-line, .barlayer path').length,
}))
"""


@dataclass(frozen=True)
class Stack:
    shops: dict[str, ShopServer]
    prometheus: Prometheus
    exporter_url: str


@pytest.fixture(scope="module")
def stack(harness_root, mariadb, redis_server, make_prometheus):
    with mariadb.connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {DATABASE}")
    engine = create_engine(mariadb.url(DATABASE))
    metadata.create_all(engine)
    seed_catalog(engine, users=37, products=12)
    engine.dispose()
    env = {"SHOP_DATABASE_URL": mariadb.url(DATABASE), "SHOP_REDIS_URL": redis_server.url(6)}
    shops = {
        strategy: ShopServer(
            harness_root / f"report-shop-{strategy}", env={**env, "SHOP_ORDER_STRATEGY": strategy}
        ).start()
        for strategy in ("naive", "safe")
    }
    collector = InnoDBCollector(
        Settings.from_env(
            {
                "INNODB_EXPORTER_DSN": mariadb.dsn(),
                "INNODB_EXPORTER_ERROR_LOG": str(mariadb.error_log),
            }
        )
    )
    exporter = ExporterServer(collector, port=free_port()).start()
    targets = [shop.url.removeprefix("http://") for shop in shops.values()]
    server = make_prometheus({
        # The project's recording rules: the dashboards read the vocabulary's recorded series.
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(REPO / "provisioning" / "prometheus" / "rules" / "*.rules.yml")],
        "scrape_configs": [
            {"job_name": "shop", "static_configs": [{"targets": targets}]},
            {"job_name": "innodb", "static_configs": [
                {"targets": [exporter.url.removeprefix("http://")]}]},
        ],
    })  # fmt: skip
    yield Stack(shops, Prometheus(server.url), exporter.url)
    exporter.stop()
    for shop in shops.values():
        shop.stop()
    with mariadb.connect() as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE {DATABASE}")


def run_k6(stack: Stack, strategy: str, results: Path) -> str:
    """A ~20 s hot-user load against one shop, with bursts of user 1's orders part-way in
    (the same for both strategies: what naive turns into deadlocks, safe takes in its stride)."""
    shop = stack.shops[strategy]
    before = set(results.iterdir()) if results.exists() else set()
    bursts = threading.Timer(8, provoke_deadlock, args=(shop.url,))
    bursts.start()
    proc = subprocess.run(
        [sys.executable, "-m", "lab.load", "--tool", "k6", "--scenario", "load",
         "--target-tps", "30", "--scale", "0.05", "--hot-users", "2", "--shop-url", shop.url,
         "--prometheus-url", stack.prometheus.url, "--results", str(results)],
        cwd=REPO, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    bursts.join()
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr  # 1: an SLO failed
    (run,) = set(results.iterdir()) - before
    return run.name


@pytest.fixture(scope="module")
def runs(stack, tmp_path_factory) -> tuple[Path, dict[str, str]]:
    results = tmp_path_factory.mktemp("report-results")
    return results, {strategy: run_k6(stack, strategy, results) for strategy in ("naive", "safe")}


def test_naive_vs_safe_baseline_report_names_the_users_deadlock_for_naive_only(stack, runs):
    results, testids = runs
    result = make_report(results, testids["naive"], stack.prometheus,
                         baseline=testids["safe"], exporter_url=stack.exporter_url,
                         with_screenshot=False)  # fmt: skip
    naive, safe = result.deck, result.baseline
    assert naive.run["strategy"] == "naive" and safe.run["strategy"] == "safe"
    rules = {f.rule: f for f in naive.findings}
    assert "deadlock-users-naive" in rules, [f.title for f in naive.findings]
    assert naive.deadlocks.on_table("users") and naive.server.deadlocks >= 1
    assert "users" in rules["deadlock-users-naive"].evidence
    assert not [f for f in safe.findings if f.rule.startswith("deadlock")], safe.findings
    assert safe.server.deadlocks == 0
    body = json.loads(result.paths["json"].read_text())
    compared = {row["figure"]: row for row in body["compared"]}
    assert compared["strategy"]["run"] == "naive" and compared["strategy"]["baseline"] == "safe"
    assert compared["InnoDB deadlocks"]["delta"] == naive.server.deadlocks
    markdown = result.paths["md"].read_text()
    assert "InnoDB deadlocks on `users` under the naive strategy" in markdown
    assert "Baseline findings:" in markdown


@pytest.mark.skipif(find_chromium() is None, reason="no chromium (make setup installs it)")
def test_report_loads_offline_in_chromium_and_draws_every_graph(stack, runs):
    results, testids = runs
    # Every wait below is bounded and fails naming what it waited for (the browser's page, its
    # screenshot), so the deck's cost is judged by the graphs drawn, not by a clock.
    result = make_report(results, testids["naive"], stack.prometheus,
                         exporter_url=stack.exporter_url)  # fmt: skip
    html = result.paths["html"]
    assert result.screenshot_error is None
    assert html.stat().st_size < 8_000_000
    drawn = [p for b in result.deck.boards for p in b.panels
             if p.kind == "timeseries" and p.has_data]  # fmt: skip
    titles = {p.title for p in drawn}
    # The run's own graphs, from the cockpit, load, shop and locks dashboards, have data.
    for title in (
        "Offered vs answered TPS",
        "Latency vs SLO: orders",  # the dashboards' per-endpoint and per-route panels, repeated
        "Requests by endpoint and outcome",
        "Route latency: /api/orders",
        "Deadlocks per minute: counted vs captured",
    ):
        assert title in titles, sorted(titles)
    with chromium() as page:
        load = page.load(html.resolve().as_uri(), READY, timeout=60)
        graphs = page.evaluate(GRAPHS_JS)
        csp = page.evaluate(
            "document.querySelector('meta[http-equiv=\"Content-Security-Policy\"]').content"
        )
    assert load.console_errors == []
    assert load.outside(html.resolve().as_uri()) == []
    assert "default-src 'none'" in csp
    assert len(graphs) == len(drawn)
    assert [g for g in graphs if not (g["traces"] and g["points"] and g["drawn"])] == []
    png = result.paths["png"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 50_000


def test_the_cli_writes_the_deck_beside_the_run_and_says_where(stack, runs, capsys):
    results, testids = runs
    rc = main([testids["safe"], "--baseline", testids["naive"], "--results", str(results),
               "--prometheus-url", stack.prometheus.url, "--exporter-url", stack.exporter_url,
               "--no-screenshot"])  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 0, out
    for fmt in ("html", "md", "json"):
        path = results / testids["safe"] / f"report.{fmt}"
        assert f"report: {fmt}: {path}" in out and path.stat().st_size > 0
    assert out.splitlines()[0].startswith(f"report: {testids['safe']}: client ")


def test_the_cli_names_a_missing_run_in_one_line(tmp_path, capsys):
    assert main(["k6-load-nope", "--results", str(tmp_path)]) == 2
    assert (
        capsys.readouterr().err.strip() == f"report: no results folder {tmp_path / 'k6-load-nope'}"
    )

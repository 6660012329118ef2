"""The dashboards on the Spring shop's dialect, without a stack: a real Spring shop (the session's
JVM) scraped by a Prometheus from the harness that runs the generated recording rules. Every
query a panel needs the app's own metrics for, and that the micrometer dialect has, returns data
(each per-route panel for each of the target's routes); every query of the Flask shop's alone
returns nothing from it. The rest of the panels (load tools, MySQL, containers) read the same
series whatever the target: the shared stack's live check covers them with the Flask shop."""

from __future__ import annotations

import json
import time
import uuid

import pytest
import requests
import yaml

from dashboards import build, queries
from lab.verify import verify
from signals.build import RULES_DIR
from signals.client import Prometheus
from signals.dialects import DIALECT_NAMES
from stack.processes import NotReady, wait_until
from targets import find_target

pytestmark = pytest.mark.integration

TARGET = find_target({"TARGET": "spring-shop"})
SCRAPE_S = 1
# The app's rule groups at the harness's pace (the shop group runs every 5 s, the SLO's every
# 30 s as shipped): the same expressions, evaluated every second.
APP_RULES = ("shop", "slo")


@pytest.fixture
def engine(spring_engine):
    """make_user and make_product on the Spring shop's schema."""
    return spring_engine


@pytest.fixture
def scraped_spring(spring_shops, make_prometheus, tmp_path) -> tuple[str, Prometheus]:
    shop = spring_shops("safe")
    files = []
    for name in APP_RULES:
        rules = yaml.safe_load((RULES_DIR / f"{name}.rules.yml").read_text())
        for group in rules["groups"]:
            group["interval"] = f"{SCRAPE_S}s"
        files.append(tmp_path / f"{name}.rules.yml")
        files[-1].write_text(yaml.safe_dump(rules))
    server = make_prometheus({
        "global": {"scrape_interval": f"{SCRAPE_S}s", "evaluation_interval": f"{SCRAPE_S}s"},
        "rule_files": [str(path) for path in files],
        "scrape_configs": [{"job_name": "shop", "metrics_path": TARGET.metrics_path,
                            "static_configs": [{"targets": [f"{shop.host}:{shop.port}"]}]}],
    })  # fmt: skip
    return shop.url, Prometheus(server.url)


def app_queries() -> list[tuple[str, str, str, tuple[str, ...]]]:
    """(dashboard, panel copy, expression with the template variables filled, dialects) of
    every query that not every dialect has: the app's own."""
    found = []
    for text in build.build().values():
        dashboard = json.loads(text)
        values = queries.template_values(dashboard, testid="none", step_s=SCRAPE_S,
                                         range_s=300, scrape_s=SCRAPE_S)  # fmt: skip
        for raw in queries.panels(dashboard):
            routes = {"route": tuple(e.route for e in TARGET.endpoints), "endpoint": TARGET.names}
            for panel, own in queries.repeated(raw, routes):
                for target in panel["targets"]:
                    needs = queries.query_dialects(target["expr"])
                    if needs != DIALECT_NAMES:
                        expr = queries.substitute(target["expr"], values | own)
                        found.append((dashboard["title"], panel["title"], expr, needs))
    return found


def test_every_micrometer_query_of_the_dashboards_has_data_from_the_spring_shop(
    scraped_spring, make_user, make_product
):
    url, prometheus = scraped_spring
    user, product = make_user(), make_product()
    checked = app_queries()
    start = time.time()  # Prometheus runs on this machine: one clock
    scope = verify.Scope.of(TARGET, None, "sync")
    assert {panel for _, panel, _, needs in checked if needs == ("micrometer",)} == {
        "DB pool connections (HikariCP)", "JVM heap used vs max", "JVM GC pauses", "JVM threads",
        "JVM process CPU",
    }  # fmt: skip
    empty: list[str] = []

    def every_micrometer_query_has_data() -> bool:
        for _ in range(3):  # traffic on both routes, so every rate and quantile has a sample
            order = {"user_id": user, "items": [{"product_id": product, "quantity": 1}]}
            answer = requests.post(f"{url}/api/orders", json=order, timeout=10,
                                   headers={"Idempotency-Key": str(uuid.uuid4())})  # fmt: skip
            assert answer.status_code == 201, answer.text
            assert requests.get(f"{url}/api/products/popular?days=3&limit=5", timeout=10).ok
        run = verify.LoadRun("k6", "none", start, time.time(), 0)
        empty[:] = [
            f"{dashboard} / {panel}: {expr}"
            for dashboard, panel, expr, needs in checked
            if "micrometer" in needs
            and (r := verify.query_result(prometheus, "A", expr, run, {}, scope)).series == 0
            and not r.note  # sparse by design: retries (the safe shop retries only deadlocks)
        ]
        return not empty

    try:
        wait_until(every_micrometer_query_has_data, 120, "every micrometer query with data",
                   poll=SCRAPE_S)  # fmt: skip
    except NotReady:
        pytest.fail("queries without data from the Spring shop:\n" + "\n".join(empty))
    end = time.time()
    # The table's other side: what it says the Spring shop does not export, it does not.
    for dashboard, panel, expr, needs in checked:
        if "micrometer" not in needs:
            assert verify.series_count(prometheus, expr, start, end, SCRAPE_S) == 0, (
                dashboard, panel, expr)  # fmt: skip

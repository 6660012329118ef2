"""The deck's server figures agree with the client's across a strategy switch (issue 31).

The seed's story on one native stack: a naive run, a safe run (the switch restarts the stack,
the shop and Prometheus with it), and the deck of the safe run against the naive one. The
restart used to leave Prometheus with the old process's values (the series the new shop did
not have yet were never marked stale), and the deck subtracted them from the new process's
counts. Short runs: 40 TPS, SCALE 0.05 (a 3 s ramp, a 15 s hold)."""

from __future__ import annotations

import os
import re

import pytest

from lab.load.run import run
from lab.load.settings import read_load_settings
from lab.report.__main__ import make_report
from lab.report.prometheus import Prometheus

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

KNOBS = {"SCENARIO": "load", "TARGET_TPS": "40", "SCALE": "0.05", "HOT_USERS": "3",
         "ABORT_ON_FAIL": "0"}  # fmt: skip


@pytest.mark.shared_stack("naive")
def test_server_counts_and_tps_match_the_clients_on_both_runs_of_a_switch(stack, harness_root):
    results = harness_root / "deck-switch-results"
    testids = {}
    try:
        for strategy in ("naive", "safe"):
            knobs = {**KNOBS, "STRATEGY": strategy, "RESULTS_ROOT": str(results)}
            settings = read_load_settings({**os.environ, **stack.environ, **knobs})
            outcome = run(settings, print, testid=f"k6-deck-{strategy}")
            assert outcome.summary, outcome.verdict
            testids[strategy] = outcome.testid
    finally:
        # The run switched the shop itself: the next test's shape is taken from here.
        stack.shop = {"LOCAL_ORDER_STRATEGY": "safe"}
    prom = Prometheus(stack.url("LOCAL_PROMETHEUS_PORT"))
    report = make_report(results, testids["safe"], prom, baseline=testids["naive"],
                         with_screenshot=False)  # fmt: skip
    for deck in (report.baseline, report.deck):
        served = {view.route: view.requests for view in deck.server.routes}
        for row, route in zip(
            deck.endpoints, ("/api/orders", "/api/products/popular"), strict=True
        ):
            figures = f"{deck.run['strategy']} {row['endpoint']}: client {row['requests']} at "
            figures += f"{row['tps']:.1f}/s, server {served[route]} at {row['server_tps']:.1f}/s"
            print(figures)
            assert row["requests"] > 0, figures
            assert served[route] == pytest.approx(row["requests"], rel=0.01), figures
            assert row["server_tps"] == pytest.approx(row["tps"], rel=0.03), figures
    # Counts read as whole numbers beside the baseline, their deltas too.
    markdown = report.paths["md"].read_text()
    assert re.search(r"\| InnoDB deadlocks \| \d+ \| \d+ \| [+-]\d+ \|", markdown), markdown

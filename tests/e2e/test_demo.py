"""`make demo`'s story on the shared stack, shorter (a 15 s hold): naive deadlocks on the
users row and the InnoDB exporter's account of one, the safe fix with none, the TARGET_TPS
answer, and the deck of the safe run beside the naive one. The deck's server figures agree with
the client's on both runs although the switch restarted the shop between them (issue 31: the
restart used to leave Prometheus with the old process's values, and the deck subtracted them)."""

from __future__ import annotations

import os
import re

import pytest

from lab.demo import demo

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(360)]

SHORT = {"TARGET_TPS": "200", "SCALE": "0.05", "WATCH": "0"}


@pytest.mark.shared_stack("naive")
def test_the_demo_tells_the_story_and_its_deck_agrees_with_the_client(stack, harness_root):
    lines: list[str] = []
    env = {**os.environ, **stack.environ, "RESULTS_ROOT": str(harness_root / "demo-results")}
    try:
        result = demo(env, lines.append, **SHORT)
    finally:
        stack.shop = {"LOCAL_ORDER_STRATEGY": "safe"}  # where the demo leaves the shop
    told = "\n".join(lines)
    assert result.exit_code == 0, f"{result.error}\n{told}"
    # Every step said, in order; the deadlock told as the exporter saw it, on the users row.
    steps = [int(m) for m in re.findall(r"^(\d)/5 ", told, re.M)]
    assert steps == [1, 2, 3, 4, 5], told
    assert result.naive.observations.deadlocks > 0, told
    assert re.search(r"tables [^\n]*shop\.users", told), told
    assert re.search(r"update users set .*<- rolled back \(the victim\)", told), told
    assert result.safe.observations.deadlocks == 0, told
    assert re.search(r"^4/5 .*(PASS|FAIL: .*broke: )", told, re.M), told
    assert result.deck.exists() and result.screenshot and result.screenshot.exists()
    # The deck opens with the same answer: PASS, or what broke.
    assert re.search(r"<h2>Does shop hold 200 TPS on its limits", result.deck.read_text())
    # The deck's findings: the naive run's deadlocks on users, none for the safe run.
    naive_findings = re.search(r"the naive run's findings: (.*)", told)[1]
    safe_findings = re.search(r"the safe run's findings: (.*)", told)[1]
    assert "InnoDB deadlocks on `users`" in naive_findings, told
    assert "deadlock" not in safe_findings.lower(), told
    markdown = result.deck.with_suffix(".md").read_text()
    assert re.search(r"\| InnoDB deadlocks \| \d+ \| 0 \| -\d+ \|", markdown), markdown
    # Server counts within 1 % and TPS within 3 % of the client's, per endpoint, both runs.
    for deck in (result.report.baseline, result.report.deck):
        served = {view.route: view.requests for view in deck.server.routes}
        for row, route in zip(deck.endpoints, ("/api/orders", "/api/products/popular"),
                              strict=True):  # fmt: skip
            figures = f"{deck.run['strategy']} {row['endpoint']}: client {row['requests']} at "
            figures += f"{row['tps']:.1f}/s, server {served[route]} at {row['server_tps']:.1f}/s"
            assert row["requests"] > 0, figures
            assert served[route] == pytest.approx(row["requests"], rel=0.01), figures
            assert row["server_tps"] == pytest.approx(row["tps"], rel=0.03), figures

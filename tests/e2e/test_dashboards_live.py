"""`make verify-dashboards` in short, on the shared native stack (naive, async daily sales, so
its consumer runs too): a ~20 s naive k6 run and a ~20 s Locust run with hot users, then every
panel's queries against its Prometheus, each run with its testid and tool; no panel may come
back empty except those whose source cannot exist here (cAdvisor-only series) and those the Flask
shop's dialect cannot fill (HikariCP's pool, the JVM), listed as not applicable. Per-endpoint
and per-route panels are checked once per endpoint and route of the target."""

from __future__ import annotations

import pytest

from dashboards import build
from lab.verify import verify

pytestmark = [pytest.mark.e2e, pytest.mark.shared_stack("naive"), pytest.mark.timeout(480)]


def test_every_panel_shows_data_during_a_short_k6_run_and_a_short_locust_run(stack, harness_root):
    assert build.stale() == [], "run `make dashboards` first"
    # Async daily sales, as `make verify-dashboards` runs: the sales queue's panel has data.
    assert stack.settings.values["LOCAL_SALES_MODE"] == "async"
    outcome = verify.verify(stack.environ, harness_root, scale=0.05, own_stack=False)

    table = verify.render(outcome.results, outcome.problems)
    print("\n".join(f"{r.tool}: testid {r.testid}" for r in outcome.runs) + f"\n{table}")
    assert [r.tool for r in outcome.runs] == ["k6", "locust"]
    assert len({r.testid for r in outcome.runs}) == 2
    assert verify.failures(outcome.results, outcome.problems) == [], table
    skipped = [r for r in outcome.results if r.status == "skipped"]
    # Both tools ran: only what the native stack cannot have is skipped.
    assert all("cAdvisor" in r.reason for r in skipped), table
    # The Flask shop's dialect: the micrometer panels are not applicable, and they alone.
    assert outcome.scope.dialect == "flask"
    not_applicable = sorted(r.panel for r in outcome.results if r.status == "n/a")
    assert not_applicable == [
        "DB pool connections (HikariCP)",
        "JVM GC pauses",
        "JVM heap used vs max",
        "JVM process CPU",
        "JVM threads",
    ], table
    # Every repeated panel once per endpoint and route of the target.
    titles = {r.panel for r in outcome.results}
    for endpoint in outcome.scope.endpoints:
        assert {f"Latency vs SLO: {endpoint}", f"Latency: {endpoint}"} <= titles, endpoint
    for route in outcome.scope.routes:
        assert {f"Server latency vs SLO: {route}", f"Route latency: {route}"} <= titles, route
    data = sum(r.status == "data" for r in outcome.results)
    assert data == len(outcome.results) - len(skipped) - len(not_applicable)

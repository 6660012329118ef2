"""`make verify-dashboards` in short, on the shared native stack (naive, async daily sales, so
its consumer runs too): a ~20 s naive k6 run and a ~20 s Locust run with hot users, then every
panel's queries against its Prometheus, each run with its testid and tool; no panel may come
back empty except those whose source cannot exist here (cAdvisor-only series)."""

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
    assert sum(r.status == "data" for r in outcome.results) == len(outcome.results) - len(skipped)

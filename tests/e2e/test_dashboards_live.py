"""`make verify-dashboards` in short: the native stack on free ports, a ~20 s naive k6 run with
hot users, then every panel's queries against its Prometheus; no panel may come back empty
except those whose source cannot exist here (Locust during a k6 run, cAdvisor-only series)."""

from __future__ import annotations

import pytest

from dashboards import build, verify
from tests.e2e.native import native_stack

pytestmark = pytest.mark.integration


def test_every_panel_shows_data_during_a_short_naive_k6_run(harness_root):
    assert build.stale() == [], "run `make dashboards` first"
    with native_stack(harness_root / "dashboards-stack", LOCAL_ORDER_STRATEGY="naive") as stack:
        env, _ports, _state = stack
        results, problems, run = verify.verify(env, harness_root, tool="k6", scale=0.05,
                                               own_stack=False)  # fmt: skip

    table = verify.render(results, problems)
    print(f"testid {run.testid}\n{table}")
    assert verify.failures(results, problems) == [], table
    skipped = [r for r in results if r.status == "skipped"]
    assert all("Locust" in r.reason or "cAdvisor" in r.reason for r in skipped), table
    assert sum(r.status == "data" for r in results) == len(results) - len(skipped) > 0

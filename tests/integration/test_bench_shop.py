"""`make bench-shop`'s library end to end, small: the three apps, interleaved steps, a summary."""

from __future__ import annotations

import pytest

from bench.compare import APPS, BenchSettings, report, run

pytestmark = [pytest.mark.integration, pytest.mark.loadrun]


def test_bench_runs_every_app_interleaved_and_summarises_each_workload():
    settings = BenchSettings(
        order_rates=(20,), popular_rates=(50,), passes=2, step_seconds=2, warm_seconds=1,
        spring_warm_seconds=1, workers=1, threads=2, users=200, products=50, orders=500,
    )  # fmt: skip
    lines: list[str] = []
    result = run(settings, log=lines.append)
    # Every rate offered to every app in both passes, the order reversed per pass.
    for workload in ("orders", "popular"):
        mine = [s for s in result.steps if s.workload == workload]
        assert [(s.run, s.app) for s in mine] == [
            (1, "peer"),
            (1, "shop"),
            (1, "spring"),
            (2, "spring"),
            (2, "shop"),
            (2, "peer"),
        ]
        assert all(s.requests > 0 and s.errors == 0 for s in mine)
        assert all(s.cpu_ms["app"] > 0 for s in mine)
    assert [w.workload for w in result.workloads] == ["orders", "popular"]
    for w in result.workloads:
        assert set(w.apps) == set(APPS)
        assert all(len(a.held_per_pass) == 2 for a in w.apps.values())
        assert set(w.cpu_ms) == set(APPS)  # compared at a rate all ran
    text = "\n".join(report(result))
    assert "ratio shop/peer" in text and "ratio spring/shop" in text
    assert "CPU ms per request" in text and "its JVM was warmed up first" in text
    assert any("warming the Spring shop's JVM first" in line for line in lines)
    assert result.warmth is not None and result.warmth.compile_ms > 0

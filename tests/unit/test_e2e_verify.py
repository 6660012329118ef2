"""The live check's bookkeeping across runs: a panel has data when any run gave it data; a panel
the target's dialect cannot fill is not applicable, never empty."""

from __future__ import annotations

from lab.verify.verify import (
    LoadRun,
    PanelResult,
    Scope,
    TargetResult,
    _dashboard_values,
    own_stack_env,
)
from targets import find_target


def panel(*targets) -> PanelResult:
    return PanelResult("d", "p", [TargetResult(*t) for t in targets])


def test_a_panel_skipped_in_one_run_takes_the_other_runs_answer():
    k6_run = panel(("A", 3), ("B", None, "Locust series: a k6 run"))
    locust_run = panel(("A", 0), ("B", 2))
    k6_run.merge(locust_run)
    assert [(t.ref_id, t.series) for t in k6_run.targets] == [("A", 3), ("B", 2)]
    assert k6_run.status == "data"


def test_a_query_empty_in_every_run_stays_empty():
    first = panel(("A", 0), ("B", None, "k6 series: a locust run"))
    first.merge(panel(("A", 0), ("B", None, "Locust series: a k6 run")))
    assert first.status == "EMPTY"


def test_skipped_in_every_run_is_skipped():
    first = panel(("A", None, "cAdvisor only"))
    first.merge(panel(("A", None, "cAdvisor only")))
    assert first.status == "skipped" and first.reason == "cAdvisor only"


def test_a_tool_variable_gets_the_runs_tool_and_testid_its_run():
    dashboard = {"title": "load", "templating": {"list": [
        {"name": "datasource", "type": "datasource"},
        {"name": "tool", "type": "custom"},
        {"name": "testid", "type": "query", "definition": "label_values(testid)"},
    ]}}  # fmt: skip
    values = _dashboard_values(dashboard, LoadRun("locust", "locust-load-1", 0.0, 30.0, 0), 5)
    assert values["tool"] == "locust" and values["testid"] == "locust-load-1"
    without = {"title": "k6", "templating": {"list": dashboard["templating"]["list"][2:]}}
    assert "tool" not in _dashboard_values(without, LoadRun("k6", "k6-1", 0.0, 30.0, 0), 5)


def test_a_panel_whose_queries_the_dialect_cannot_have_is_not_applicable_not_empty():
    assert panel(("A", None, "not applicable: micrometer", False)).status == "n/a"
    # One query of another dialect in a panel that applies: the others decide.
    assert panel(("A", None, "not applicable", False), ("B", 3)).status == "data"
    assert panel(("A", None, "not applicable", False), ("B", 0)).status == "EMPTY"
    assert panel(("A", None, "not applicable", False), ("B", None, "cAdvisor")).status == "skipped"


def test_the_scope_of_a_target_is_its_dialect_endpoints_and_routes():
    spring = Scope.of(find_target({"TARGET": "spring-shop"}), None, "sync")
    assert spring.dialect == "micrometer"
    assert spring.repeats == {"endpoint": ("orders", "popular"),
                              "route": ("/api/orders", "/api/products/popular")}  # fmt: skip
    assert spring.not_applicable("sum(hikaricp_connections_active)") is None
    assert "dialect flask only" in spring.not_applicable("sum(shop_db_pool_connections)")
    none = Scope("none", ("a",), ())
    assert "the app's own metrics" in none.not_applicable("shop:http_requests:rate1m")
    assert none.not_applicable("rate(innodb_deadlocks_total[5m])") is None


def test_the_own_stack_runs_async_sales_only_for_the_flask_shop(tmp_path):
    assert own_stack_env(tmp_path, {})["LOCAL_SALES_MODE"] == "async"
    assert own_stack_env(tmp_path, {"TARGET": "spring-shop"})["LOCAL_SALES_MODE"] == "sync"

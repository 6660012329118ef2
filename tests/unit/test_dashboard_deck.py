"""The dashboards' panels as the deck and the live check read them: a repeated panel becomes one
panel per endpoint or route of the run's target, its value escaped as Grafana escapes it; a
panel the target's dialect cannot fill is listed as not applicable, not drawn empty."""

from __future__ import annotations

import json

import pytest

from dashboards import build, queries
from lab.report import html, panels

DASHBOARDS = {path.stem: json.loads(text) for path, text in build.build().items()}
SHOP = {p["title"]: p for p in queries.panels(DASHBOARDS["shoplab-shop"])}


def test_a_repeated_panel_is_one_copy_per_route_named_in_its_title_and_queries():
    raw = SHOP["Route latency: $route"]
    copies = queries.repeated(raw, {"route": ("/api/orders", "/api/products/{id}")})
    assert [c["title"] for c, _ in copies] == [
        "Route latency: /api/orders",
        "Route latency: /api/products/{id}",
    ]
    assert "/api/orders" in copies[0][0]["description"]
    _, own = copies[1]
    expr = queries.substitute(raw["targets"][0]["expr"], own)
    # Grafana's escape for a multi-value variable in a regex matcher: it still parses.
    assert 'route=~"/api/products/\\\\{id\\\\}"' in expr
    assert queries.metric_names(expr) == {"shop:http_request_duration_seconds:p50_1m"}


def test_a_panel_without_repeat_is_itself_and_a_repeat_without_values_is_none():
    assert queries.repeated(SHOP["JVM threads"], {}) == [(SHOP["JVM threads"], {})]
    assert queries.repeated(SHOP["Route latency: $route"], {"route": ()}) == []


@pytest.mark.parametrize(
    ("value", "escaped"),
    [("orders", "orders"), ("/a.b", "/a\\\\.b"), ("a|b", "a\\\\|b"), ("a\\b", "a\\\\\\\\b")],
)
def test_values_are_escaped_as_grafana_escapes_a_multi_value_variable(value, escaped):
    assert queries.regex_value(value) == escaped


@pytest.mark.parametrize(
    ("dialect", "applies", "not_applicable"),
    [
        ("flask", "DB pool connections (SQLAlchemy)", "JVM threads"),
        ("micrometer", "JVM threads", "DB pool connections (SQLAlchemy)"),
        ("none", "Redis commands and memory", "Requests by route"),
        (None, "JVM threads", None),  # a plan without a dialect: every panel drawn
    ],
)
def test_a_panel_the_targets_dialect_cannot_fill_says_why(dialect, applies, not_applicable):
    assert panels.not_applicable(SHOP[applies], dialect) is None
    if not_applicable:
        why = panels.not_applicable(SHOP[not_applicable], dialect)
        assert why.endswith(f"the target's dialect is {dialect}")


def test_a_query_of_another_dialect_is_left_out_of_a_panel_that_applies():
    cockpit = {p["title"]: p for p in queries.panels(DASHBOARDS["shoplab-cockpit"])}
    window = panels.Window(1000, 1060, scrape_s=5)
    values = panels.fill_values(DASHBOARDS["shoplab-cockpit"], "k6-1", "k6", window)
    errors = cockpit["Error rate vs SLO"]
    shown = panels._shape(DASHBOARDS["shoplab-cockpit"], errors, values, "none")
    assert [q.legend for q in shown.queries] == ["{{tool}} failed"]
    assert len(panels._shape(DASHBOARDS["shoplab-cockpit"], errors, values, "flask").queries) == 2


def test_the_deck_names_not_applicable_panels_in_one_line():
    board = panels.Board("shoplab / shop", "shoplab-shop", [], [], not_applicable={
        "JVM threads": "needs metrics of dialect micrometer only; the target's dialect is flask",
        "JVM heap used vs max": "needs metrics of dialect micrometer only; the target's "
                                "dialect is flask",
    })  # fmt: skip
    line = html._not_applicable(board)
    assert line.count("<p") == 1 and 'data-notapplicable="2"' in line
    assert "JVM threads, JVM heap used vs max" in line
    assert line.count("micrometer only") == 1
    assert panels.generic_title(SHOP["Route latency: $route"]) == "Route latency: each route"


def test_in_range_stats_count_the_run_not_the_margin_drawn_around_it():
    """The deck draws the run with a margin, but $__range (deadlocks, requests, dropped "in
    range") is the run's own span: the margin may hold the previous run's tail."""
    drawn_only = panels.Window(1000, 1090, scrape_s=5)
    with_run = panels.Window(1000, 1090, scrape_s=5, run_start=1015, run_end=1057.5)
    assert drawn_only.range_s == 90
    assert with_run.range_s == 43
    assert with_run.step_s == drawn_only.step_s  # the graphs keep their resolution


def test_an_external_targets_deck_lists_the_stacks_own_panels_as_not_applicable():
    """A service running elsewhere has no cgroup of the stack's, nor its Redis or nginx: their
    panels are not applicable (they were 17 of 88 "without data"); the machine's are drawn."""
    containers = {p["title"]: p for p in queries.panels(DASHBOARDS["shoplab-containers"])}
    cases = [
        (containers["CPU used vs limit"], "the service runs outside the stack's cgroups"),
        (SHOP["Redis commands and memory"], "the service does not use the stack's Redis"),
        (SHOP["nginx connections"], "the stack's nginx is not in front of the service"),
    ]
    for raw, why in cases:
        assert panels.not_applicable(raw, "micrometer", external=True) == why
        assert panels.not_applicable(raw, "micrometer") is None  # the stack's own service
    machine = [raw for title, raw in containers.items() if "node_" in json.dumps(raw["targets"])]
    assert machine and all(panels.not_applicable(raw, "none", external=True) is None
                           for raw in machine)  # fmt: skip
    assert panels.not_applicable(SHOP["Requests by route"], "flask", external=True) is None

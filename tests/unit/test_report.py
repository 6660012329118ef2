"""The report's pure parts: units, legends, variables, panels read from the generated JSON,
rules over a deck's figures, the page's CSP, the run read from a results folder."""

from __future__ import annotations

import base64
import hashlib
import json
import re

import pytest

from lab.load.scenarios import load_scenarios, resolve
from lab.report import findings, panels, units
from lab.report.deadlocks import Deadlocks
from lab.report.deck import Deck, compare
from lab.report.html import render_html
from lab.report.recorded import RunError, read_run
from lab.report.render import render_json, render_markdown
from lab.report.server import Resource, RouteView, ServerView, Span, growth
from targets import find_target


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (0.2, "s", "200.0 ms"),
        (1.5, "s", "1.50 s"),
        (0.0123, "percentunit", "1.23 %"),
        (3 * 1024**3, "bytes", "3.0 GiB"),
        (12.34, "reqps", "12.3 /s"),
        (None, "s", "n/a"),
        (3.21, "short", "3.21"),
        (0, "dateTimeFromNow", "never"),
    ],
)
def test_values_read_in_their_grafana_unit(value, unit, text):
    assert units.fmt(value, unit) == text


def test_stat_decimals_round_a_count_as_the_panel_asks():
    assert units.fmt(3.21, "short", 0) == "3"


def test_legend_fills_grafana_placeholders_and_falls_back_to_labels():
    assert panels.legend("{{name}} used", {"name": "shop"}, "A") == "shop used"
    assert panels.legend("", {"__name__": "up", "job": "shop"}, "A") == '{job="shop"}'
    assert panels.legend("", {}, "B") == "B"


def _dashboards(tool: str) -> dict[str, dict]:
    return {d["uid"]: d for d in panels.select_dashboards(tool)}


def test_the_deck_shows_the_runs_tool_dashboard_not_the_other():
    chosen = _dashboards("locust")
    assert "shoplab-locust" in chosen and "shoplab-k6" not in chosen
    assert {"shoplab-cockpit", "shoplab-shop", "shoplab-mysql-locks"} <= set(chosen)


def test_the_load_dashboard_comes_with_the_runs_own_tool_detail(tmp_path):
    for uid in ("shoplab-cockpit", "shoplab-k6", "shoplab-locust", "shoplab-load"):
        (tmp_path / f"{uid}.json").write_text(json.dumps({"uid": uid}))
    chosen = [d["uid"] for d in panels.select_dashboards("k6", tmp_path)]
    assert "shoplab-load" in chosen and "shoplab-k6" in chosen and "shoplab-locust" not in chosen


def test_variables_are_filled_like_grafana_with_the_runs_tool():
    window = panels.Window(1000, 1060, scrape_s=5)
    dashboard = {
        "title": "load",
        "templating": {"list": [
            {"name": "datasource", "type": "datasource"},
            {"name": "testid", "type": "query"},
            {"name": "tool", "type": "query"},
        ]},
    }  # fmt: skip
    values = panels.fill_values(dashboard, "k6-load-1", "locust", window)
    assert values["testid"] == "k6-load-1" and values["tool"] == "locust"
    assert values["__rate_interval"] == "20s"  # max(step 5 + scrape 5, 4 x scrape 5)


def test_panel_shape_keeps_unit_slo_line_and_dashed_limit_series():
    cockpit = _dashboards("k6")["shoplab-cockpit"]
    raw = {p["title"]: p for p in panels.queries.panels(cockpit)}
    window = panels.Window(1000, 1060, scrape_s=5)
    values = panels.fill_values(cockpit, "k6-load-1", "k6", window)
    [(copy, own)] = panels.queries.repeated(
        raw["Latency vs SLO: $endpoint"], {"endpoint": ("orders",)}
    )
    latency = panels._shape(cockpit, copy, values | own)
    assert latency.title == "Latency vs SLO: orders" and latency.unit == "s"
    assert all("$" not in q.expr for q in latency.queries)
    assert all('testid=~"k6-load-1",endpoint=~"orders"' in q.expr for q in latency.queries)
    # The objective is a series of its own, dashed by a regex override.
    overrides = panels._overrides(copy)
    assert panels.series_overrides(overrides, "k6 objective")["dashed"] is True
    assert panels.series_overrides(overrides, "k6 p95") == {}
    assert panels._overrides(raw["Offered vs answered TPS"])["target"]["dashed"] is True


def test_a_marker_true_for_consecutive_steps_is_one_event_like_grafanas_region():
    times = [100.0, 105.0, 110.0, 160.0, 165.0, 300.0]
    assert panels.first_of_each_run(times, 5) == [100.0, 160.0, 300.0]
    assert panels.first_of_each_run([], 5) == []


def test_growth_is_the_rise_after_the_windows_start_from_the_last_sample_before_it():
    points = [(90.0, 100.0), (95.0, 110.0), (105.0, 130.0), (110.0, 150.0)]
    assert growth(points, since=100) == 40


def test_a_counter_scraped_late_before_the_window_is_not_taken_for_a_newborn():
    """The demo's safe run once counted the naive run's 72 deadlocks: the scrape before its
    window came more than two (1 s) scrapes early on a busy machine, so the counter looked born
    inside the window. The baseline is read from 30 s back at least."""
    from lab.report.server import Span

    span = Span.of_run(1000.0, 1020.0, scrape_s=1.0)
    assert span.counted_from == 1000.0 and span.baseline_since == 970.0
    late = [(995.5, 72.0), (1001.0, 72.0), (1021.0, 72.0)]  # nothing between 997 and 1000
    assert growth([p for p in late if p[0] >= span.baseline_since], since=span.counted_from) == 0
    assert growth([p for p in late if p[0] >= 997.0], since=span.counted_from) == 72  # old lookback


def test_the_run_before_scraped_after_a_switch_began_is_not_the_runs():
    """2026-12-08, a clean clone's demo test: the safe run's deck counted 1,774 orders where the
    client sent 1,700. The old shop's last scrape, 74 of the naive run's orders after the one
    before, came in the scrape interval before the safe run's start, inside the graph window;
    the new shop counts from 0. Counted from the run's own start, they are not the run's."""
    from lab.report.server import Span

    span = Span.of_run(1000.0, 1020.0, scrape_s=5.0)
    old = [(990.0, 5000.0), (997.5, 5074.0)]  # the naive run's shop, stopped by the switch
    new = [(1004.0, 300.0), (1024.0, 1700.0)]  # the safe run's, a new process
    starts = {990.0: 100.0, 997.5: 100.0, 1004.0: 999.0, 1024.0: 999.0}
    assert growth(old + new, since=span.counted_from, starts=starts) == 1700
    assert growth(old + new, since=span.start, starts=starts) == 1774  # from a scrape before


def test_growth_counts_a_series_born_inside_the_window_from_zero():
    # increase() would drop the first scrape (5) and extrapolate the rest.
    assert growth([(105.0, 5.0), (110.0, 12.0)], since=100) == 12


def test_growth_adds_what_a_restarted_process_counted_after_the_reset():
    # Restarted inside the window: 100 -> 150 by the old process, then 20 and 50 by the new one.
    points = [(95.0, 100.0), (105.0, 150.0), (110.0, 20.0), (115.0, 50.0)]
    assert growth(points, since=100) == 50 + 50


def test_growth_never_subtracts_the_old_process_after_a_restart_before_the_window():
    # The old process's 1672 was scraped before the restart; the new one counts from 0, its first
    # scrape after the window opened (a strategy switch restarts the shop and Prometheus).
    assert growth([(80.0, 1672.0), (105.0, 258.0), (110.0, 765.0)], since=100) == 765
    # ... or before it: then that first scrape is the window's starting value.
    assert growth([(80.0, 1672.0), (98.0, 3.0), (105.0, 500.0)], since=100) == 497


def test_growth_knows_a_new_process_by_its_start_time_even_above_the_old_ones_count():
    # As measured: the old shop had counted 214 orders; the restarted one (the switch restarts
    # Prometheus too) was first scraped 5 s into the run, at 216. A drop alone would miss it.
    points = [(874.0, 214.0), (889.0, 216.0), (894.0, 424.0)]
    starts = {874.0: 791.17, 889.0: 878.26, 894.0: 878.26}
    assert growth(points, since=878.6, starts=starts) == 424
    assert growth(points, since=878.6) == 210


def test_the_runs_span_leaves_out_the_graphs_margins():
    span = Span.of_run(1000, 1020, scrape_s=1)
    assert (span.start, span.end, span.run_seconds) == (999, 1022, 20)


def _endpoint(name: str, p95_ms: float) -> dict:
    figures = ("tps", "p50_ms", "p99_ms", "errors", "server_tps", "server_p50_ms",
               "server_p99_ms", "server_5xx")  # fmt: skip
    return {"endpoint": name, "requests": 50, "p95_ms": p95_ms, "server_p95_ms": p95_ms,
            **dict.fromkeys(figures, 1.0)}  # fmt: skip


def _deck(**server) -> Deck:
    view = ServerView(
        routes=[RouteView("/api/orders", 100, 10, 5, 50, 90, 0.0)],
        **{"deadlocks": 0.0, **server},
    )
    return Deck(
        run={"strategy": "naive", "tool": "k6", "testid": "k6-load-1", "target_tps": 10,
             "scenario": "load", "description": "d", "scale": None, "hot_users": None,
             "limits": {}, "versions": {"k6": "1"}, "git_commit": "abc", "started": "s",
             "ended": "e", "duration_s": 10.0},
        summary={"thresholds": [{"name": "p95", "pass": True}], "achieved_tps": 10,
                 "error_rate": 0, "dropped_iterations": 0, "requests": 100, "failures": 0},
        client_verdict={"thresholds": [{"name": "p95", "pass": True}], "passed": True,
                        "aborted": []},
        server_verdict={"checks": [{"name": "p95", "value": 50, "pass": True,
                                    "evidence": "ok"}], "passed": True},
        endpoints=[_endpoint("POST /api/orders", 50), _endpoint("GET /api/products/popular", 5)],
        server=view,
        deadlocks=Deadlocks("none"),
        boards=[],
        window={"start": 990, "end": 1030, "step_s": 1, "scrape_s": 1},
    )  # fmt: skip


def test_deadlocks_on_users_under_naive_propose_the_safe_strategy():
    deck = _deck(deadlocks=4.0)
    deck.deadlocks = Deadlocks("exporter /deadlocks", count=4, tables={"shop.users": 4})
    (finding,) = findings.derive(deck)
    assert finding.rule == "deadlock-users-naive"
    assert "4 deadlock(s)" in finding.evidence and "shop.users (4)" in finding.evidence
    assert "SHOP_ORDER_STRATEGY=safe" in finding.proposal


def test_no_deadlock_no_saturation_no_finding():
    assert findings.derive(_deck()) == []


def test_cpu_throttled_at_the_limit_proposes_scaling():
    deck = _deck(resources=[Resource("shop", cpu_cores=1.95, cpu_limit=2, throttled=0.3)])
    (finding,) = findings.derive(deck)
    assert finding.rule == "cpu-limit-shop" and "1.95 cores" in finding.evidence
    assert "30.0 %" in finding.evidence and "Scale out" in finding.proposal


def test_drops_while_the_server_idles_blame_the_generator():
    deck = _deck(resources=[Resource("shop", cpu_cores=0.2, cpu_limit=2)])
    deck.summary["dropped_iterations"] = 12
    (finding,) = findings.derive(deck)
    assert finding.rule == "generator-saturated" and "12 dropped" in finding.evidence


def test_a_handful_of_drops_at_the_knee_is_not_the_generator():
    """4 of 3,658 (a probe aborted at the knee): the shop slowed down; k6 was not short of VUs."""
    deck = _deck(resources=[Resource("shop", cpu_cores=0.2, cpu_limit=2)])
    deck.summary.update(dropped_iterations=4, requests=3654)
    assert [f.rule for f in findings.derive(deck)] == []


def test_pool_and_cache_rules_cite_their_numbers():
    deck = _deck(pool_in_use_max=19, pool_capacity=20, cache_lookups=100, cache_hits=40)
    rules = {f.rule: f for f in findings.derive(deck)}
    assert "19 of 20" in rules["db-pool-saturated"].evidence
    assert "40.0 % hits of 100" in rules["cache-hit-low"].evidence


def test_a_run_beside_busy_neighbours_is_said_in_the_facts_and_the_findings():
    deck = _deck()
    deck.neighbours = {"seconds": 74.0, "machine_cores": 1.9, "ours_cores": 1.3,
                       "neighbour_cores": 0.6, "steal_cores": 0.05, "top": [["pytest", 0.45]],
                       "disturbed": True}  # fmt: skip
    (finding,) = findings.derive(deck)
    assert finding.rule == "machine-shared" and "0.60 cores" in finding.evidence
    assert "pytest 0.45" in finding.evidence and "interleaved" in finding.proposal
    assert "other processes 0.60 cores (pytest 0.45), hypervisor steal 0.05: DISTURBED" in (
        render_markdown(deck)
    )
    quiet = _deck()
    quiet.neighbours = {**deck.neighbours, "neighbour_cores": 0.01, "top": [], "disturbed": False}
    assert findings.derive(quiet) == []
    assert "other processes 0.01 cores, hypervisor steal 0.05" in render_html(quiet)


def test_the_page_fetches_nothing_and_allows_only_its_own_scripts():
    page = render_html(_deck())
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)[1]
    assert "default-src 'none'" in csp
    scripts = re.findall(r"<script>(.*?)</script>", page, re.S)
    hashes = {"'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
              for s in scripts}  # fmt: skip
    assert len(scripts) == 2 and all(h in csp for h in hashes)
    # Outside the scripts (plotly.js names its website in strings), nothing links out.
    markup = re.sub(r"<script>.*?</script>", "", page, flags=re.S)
    assert not re.search(r"""(src|href)=["']https?:""", markup)


def test_markdown_and_json_carry_the_comparison():
    run, base = _deck(deadlocks=3.0), _deck()
    base.run = {**base.run, "strategy": "safe", "testid": "k6-load-0"}
    rows = compare(run, base)
    deadlocks = next(r for r in rows if r["figure"] == "InnoDB deadlocks")
    assert deadlocks["delta"] == 3.0
    markdown = render_markdown(run, base, rows)
    # Counts as the whole numbers they are, their deltas too; measures keep their decimals.
    assert "| InnoDB deadlocks | 0 | 3 | +3 |" in markdown
    assert "| dropped iterations | 0 | 0 | +0 |" in markdown
    assert "| findings | 0 | 0 | +0 |" in markdown
    assert "| achieved TPS | 10.00/s | 10.00/s | +0.00/s |" in markdown
    assert '<td class="n">3</td><td class="n">+3</td>' in render_html(run, base, rows)
    body = json.loads(render_json(run, base, rows))
    assert body["baseline"]["run"]["strategy"] == "safe" and body["compared"] == rows


def test_a_folder_without_a_summary_is_one_clear_error(tmp_path):
    with pytest.raises(RunError, match=r"has no k6-summary\.json or locust-summary\.json"):
        read_run(tmp_path)


def test_the_run_window_comes_from_the_summary(tmp_path):
    summary = {"tool": "k6", "scenario": "smoke", "target_tps": 2, "started_at": 1000.5,
               "duration_s": 6.0, "thresholds": []}  # fmt: skip
    (tmp_path / "k6-summary.json").write_text(json.dumps(summary))
    (tmp_path / "run.json").write_text(json.dumps({"strategy": "naive", "other": 1}))
    with pytest.raises(RunError, match=r"has no plan\.json of its k6-summary\.json's scenario"):
        read_run(tmp_path)
    plan = resolve(load_scenarios(), "smoke", target=find_target({}).as_plan(), target_tps=2,
                   scale=1)  # fmt: skip
    (tmp_path / "plan.json").write_text(plan.to_json())
    run = read_run(tmp_path)
    assert (run.tool, run.started_at, run.ended_at) == ("k6", 1000.5, 1006.5)
    assert run.recorded == {"strategy": "naive"} and run.slo["error_rate"] == 0.0
    assert [e["route"] for e in run.endpoints] == ["/api/orders", "/api/products/popular"]


def test_limits_line_names_a_replicated_service_and_its_total():
    line = units.limits({
        "shop": {"cpus": 1.0, "memory_bytes": 8 * 2**30, "replicas": 2},
        "mysql": {"cpus": 2.0, "memory_bytes": 4 * 2**30},
    })  # fmt: skip
    assert line.startswith("shop (2 replicas): 1 CPUs, ")
    assert "; mysql: 2 CPUs, " in line
    assert units.limits({}) == "none known"


def test_the_decks_first_answer_says_pass_or_names_what_broke():
    from lab.report.deck import tps_answer

    run = {"scenario": "load", "target": "shop", "target_tps": 200.0,
           "limits": {"shop": {"cpus": 2.0, "memory_bytes": 4 * 2**30}}}  # fmt: skip
    held = {"thresholds": [{"name": "checks: rate>=0.99", "pass": True}], "passed": True,
            "aborted": []}  # fmt: skip
    server_ok = {"checks": [{"pass": True, "evidence": "5xx 0.0 %"}]}
    answer = tps_answer(run, {"achieved_tps": 199.6}, held, server_ok)
    assert (
        answer["passed"]
        and answer["line"] == "PASS: achieved 199.6/s of 200/s, every threshold held"
    )
    assert answer["question"].startswith("Does shop hold 200 TPS on its limits (shop: 2 CPUs")
    broke = {"thresholds": [{"name": "dropped_iterations: count<=0", "pass": False}],
             "passed": False, "aborted": []}  # fmt: skip
    server_bad = {"checks": [{"pass": False, "evidence": "/api/orders p95 250 ms vs SLO 200"}]}
    answer = tps_answer(run, {"achieved_tps": 180.6}, broke, server_bad)
    assert not answer["passed"]
    assert answer["line"] == ("FAIL: achieved 180.6/s of 200/s; broke: dropped_iterations: "
                              "count<=0; server: /api/orders p95 250 ms vs SLO 200")  # fmt: skip
    assert tps_answer({**run, "scenario": "stress"}, {}, broke, server_bad) is None
    theirs = tps_answer({**run, "target": "mine", "limits": {}}, {}, held, server_ok)
    assert theirs["question"] == "Does mine hold 200 TPS?"  # a service the user runs: no limits

"""The generated dashboards, checked without Grafana: they build, byte for byte the same as the
committed JSON; the grid is tidy; every query parses and reads only documented metrics; every
datasource is the provisioned one; every panel says what it shows, in a unit; no target's names
are built in (per-endpoint and per-route panels repeat, against their objective series); each
panel knows the metrics dialects it can have data in."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import subprocess
import sys

import pytest
import yaml

from dashboards import build, common, queries
from dashboards.common import REPO, UIDS
from lab.verify import verify
from signals import dialects
from signals.catalog import catalog
from signals.slo import slo_of
from targets import find_target

CATALOG = catalog(slo_of(find_target({})))


DASHBOARDS = {uid: json.loads(text) for uid, text in
              ((path.stem, text) for path, text in build.build().items())}  # fmt: skip
LISTED = queries.listed_metrics((REPO / "docs" / "metrics.md").read_text())
params = pytest.mark.parametrize("uid", list(DASHBOARDS))


def test_every_dashboard_builds_with_its_uid_and_title():
    assert list(DASHBOARDS) == list(UIDS.values())
    for uid, dashboard in DASHBOARDS.items():
        assert dashboard["uid"] == uid
        assert dashboard["title"].startswith(common.TITLE_PREFIX)
        assert dashboard["schemaVersion"] == common.SCHEMA_VERSION
        assert dashboard["__inputs"] == []  # file provisioning resolves no import placeholders


def test_output_is_byte_stable_across_interpreters():
    script = ("import hashlib; from dashboards.build import build; "
              "print(hashlib.sha256(''.join(build().values()).encode()).hexdigest())")  # fmt: skip
    digests = {
        subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True,
                       check=True, env={**os.environ, "PYTHONHASHSEED": seed}).stdout.strip()
        for seed in ("1", "2")
    }  # fmt: skip
    here = hashlib.sha256("".join(build.build().values()).encode()).hexdigest()
    assert digests == {here}


def test_committed_json_equals_a_fresh_build():
    assert build.stale() == [], "run `make dashboards`"


def test_generated_json_is_where_grafana_reads_it():
    provider = yaml.safe_load((build.OUT / "provider.yml").read_text())["providers"][0]
    compose = yaml.safe_load((REPO / "compose.yml").read_text())
    mounts = dict(v.split(":")[:2] for v in compose["services"]["grafana"]["volumes"])
    mounted = mounts["./provisioning/grafana"]
    relative = build.OUT.relative_to(REPO / "provisioning" / "grafana")
    assert provider["options"]["path"] == f"{mounted}/{relative}"


@params
def test_panel_ids_are_unique_and_the_grid_does_not_overlap(uid):
    panels = DASHBOARDS[uid]["panels"]
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids))
    boxes = [(p["title"], p["gridPos"]) for p in panels]
    for title, g in boxes:
        assert g["w"] > 0 and g["h"] > 0 and g["x"] >= 0 and g["x"] + g["w"] <= 24, title
    for (a, ga), (b, gb) in itertools.combinations(boxes, 2):
        apart = (ga["x"] + ga["w"] <= gb["x"] or gb["x"] + gb["w"] <= ga["x"]
                 or ga["y"] + ga["h"] <= gb["y"] or gb["y"] + gb["h"] <= ga["y"])  # fmt: skip
        assert apart, f"{a!r} overlaps {b!r}"


def test_layout_refuses_a_line_wider_than_the_grid():
    panel = common.stat("x", "x", [common.Query("up")], "short")
    with pytest.raises(ValueError, match="25 columns"):
        common.layout((4, [(13, panel), (12, panel)]))


@params
def test_every_query_parses_and_reads_only_documented_metrics(uid):
    used = queries.used_metrics(DASHBOARDS[uid])  # raises if a query does not parse
    assert used
    assert queries.unlisted(used, LISTED) == set(), "add them to docs/metrics.md"


@params
def test_every_datasource_is_the_provisioned_prometheus(uid):
    provisioned = yaml.safe_load(
        (REPO / "provisioning" / "grafana" / "datasources" / "datasources.yml").read_text()
    )["datasources"]
    prometheus_uid = next(d["uid"] for d in provisioned if d["type"] == "prometheus")
    dashboard = DASHBOARDS[uid]
    (variable,) = [v for v in queries.variables(dashboard) if v["type"] == "datasource"]
    assert variable["query"] == "prometheus"
    assert variable["current"]["value"] == prometheus_uid == common.DATASOURCE_UID

    def references(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "datasource" and value is not None:
                    yield value
                else:
                    yield from references(value)
        elif isinstance(node, list):
            for item in node:
                yield from references(item)

    found = list(references(dashboard))
    assert found
    for reference in found:
        assert reference == {"type": "prometheus", "uid": f"${{{variable['name']}}}"}
    assert "${DS_" not in json.dumps(dashboard)


@params
def test_every_panel_says_what_it_shows_and_in_which_unit(uid):
    for panel in queries.panels(DASHBOARDS[uid]):
        assert len(panel["description"]) > 60, panel["title"]
        assert panel["fieldConfig"]["defaults"]["unit"], panel["title"]
        assert panel["targets"], panel["title"]
        assert panel["maxDataPoints"] == common.MAX_DATA_POINTS


@params
def test_dashboards_link_to_each_other_and_mark_deadlocks_and_runs(uid):
    dashboard = DASHBOARDS[uid]
    assert common.TAG in dashboard["tags"]
    assert {"type": "dashboards", "tags": [common.TAG]}.items() <= dashboard["links"][0].items()
    deadlocks, *runs = dashboard["annotations"]["list"]
    assert queries.metric_names(deadlocks["expr"]) == {"innodb_deadlocks_total"}
    assert [a["name"] for a in runs] == ["Load run start", "Load stage change", "Load run end"]
    for annotation in runs:
        assert queries.metric_names(annotation["expr"]) == {"load:stage"}
    for panel in queries.panels(dashboard):
        for link in panel["links"]:
            target = link["url"].removeprefix("/d/").split("?")[0]
            assert target in DASHBOARDS, link


def _objective_series(panel) -> bool:
    """A query of the panel draws an objective series, dashed by the objective override."""
    drawn = any(t["legendFormat"].endswith(common.OBJECTIVE) for t in panel["targets"])
    dashed = common.OBJECTIVE_LINES in panel["fieldConfig"]["overrides"]
    return drawn and dashed


def test_panels_that_name_the_slo_or_an_objective_draw_it():
    error_rate = find_target({}).error_rate
    named = [
        panel
        for dashboard in DASHBOARDS.values()
        for panel in queries.panels(dashboard)
        if "SLO" in panel["description"]
        or re.search(r"Dashed: [^.]*objective", panel["description"])
    ]
    assert len(named) >= 10  # the check above would pass vacuously on reworded descriptions
    for panel in named:
        steps = {s["value"] for s in panel["fieldConfig"]["defaults"]["thresholds"]["steps"]}
        # The error SLO is a threshold (no series carries it); each latency objective a series
        # of its own; a share of the objective is coloured at 1.
        of_objective = panel["fieldConfig"]["defaults"]["unit"] == "percentunit" and 1 in steps
        assert error_rate in steps or _objective_series(panel) or of_objective, panel["title"]


def test_per_endpoint_and_per_route_panels_repeat_against_their_own_objective():
    repeated = {
        (uid, panel["title"]): panel["repeat"]
        for uid, dashboard in DASHBOARDS.items()
        for panel in queries.panels(dashboard)
        if panel.get("repeat")
    }
    assert repeated == {
        ("shoplab-cockpit", "Latency vs SLO: $endpoint"): "endpoint",
        ("shoplab-cockpit", "Server latency vs SLO: $route"): "route",
        ("shoplab-load", "Latency: $endpoint"): "endpoint",
        ("shoplab-shop", "Route latency: $route"): "route",
    }
    for (uid, title), variable in repeated.items():
        [panel] = [p for p in queries.panels(DASHBOARDS[uid]) if p["title"] == title]
        assert panel["gridPos"]["x"] == 0 and panel["gridPos"]["w"] == 24, title
        assert _objective_series(panel), title
        for target in panel["targets"]:  # a copy's value comes regex-escaped: matched with =~
            assert f'{variable}=~"${variable}"' in target["expr"], (title, target["expr"])
        offered = {v["name"]: v for v in queries.variables(DASHBOARDS[uid])}[variable]
        assert offered["includeAll"] and offered["current"]["value"] == ["$__all"]


def test_no_query_names_a_targets_endpoint_or_route():
    target = find_target({})
    names = [f'"{e.name}"' for e in target.endpoints] + [e.route for e in target.endpoints]
    naming = {
        (dashboard["title"], panel["title"])
        for dashboard in DASHBOARDS.values()
        for panel in queries.panels(dashboard)
        for t in panel["targets"]
        if any(name in t["expr"] for name in names)
    }
    # The order series are the shops' (their contract's order route), read against its objective.
    assert naming == {("shoplab / shop", "Order duration")}


@params
def test_every_query_can_have_data_in_some_dialect_and_says_which_otherwise(uid):
    for panel in queries.panels(DASHBOARDS[uid]):
        for target in panel["targets"]:
            assert queries.query_dialects(target["expr"]), (panel["title"], target["expr"])
        needs = queries.raw_panel_dialects(panel)
        no_value = panel["fieldConfig"]["defaults"].get("noValue", "")
        if needs == dialects.DIALECT_NAMES:
            assert "needs" not in no_value, panel["title"]
        else:
            assert no_value.startswith("No data: needs"), panel["title"]
            assert " or ".join(needs) in no_value and " or ".join(needs) in panel["description"]


def test_the_pool_and_runtime_panels_follow_the_dialect():
    shop = {p["title"]: queries.raw_panel_dialects(p) for p in queries.panels(DASHBOARDS[
        "shoplab-shop"])}  # fmt: skip
    assert shop["DB pool connections (SQLAlchemy)"] == ("flask",)
    assert shop["DB pool connections (HikariCP)"] == ("micrometer",)
    jvm = [title for title, needs in shop.items() if needs == ("micrometer",)]
    assert sorted(jvm) == ["DB pool connections (HikariCP)", "JVM GC pauses",
                           "JVM heap used vs max", "JVM process CPU", "JVM threads"]  # fmt: skip
    assert shop["DB pool in use"] == dialects.APP_DIALECTS  # the recorded ratio: either pool
    # The load tools, MySQL, InnoDB, Redis and the containers: every target has them.
    for uid in ("shoplab-load", "shoplab-k6", "shoplab-locust", "shoplab-mysql-locks",
                "shoplab-containers"):  # fmt: skip
        for panel in queries.panels(DASHBOARDS[uid]):
            assert queries.raw_panel_dialects(panel) == dialects.DIALECT_NAMES, panel["title"]


def test_layout_keeps_a_repeated_panel_alone_on_its_line():
    panel = common.timeseries("x $route", "x", [common.Query("up")], "short", repeat="route")
    other = common.stat("y", "y", [common.Query("up")], "short")
    with pytest.raises(ValueError, match="a line of its own"):
        common.layout((4, [(12, panel), (12, other)]))
    with pytest.raises(ValueError, match=r"must name it"):
        common.timeseries("x", "x", [common.Query("up")], "short", repeat="route")


@params
def test_every_recorded_series_a_dashboard_reads_is_in_the_catalog(uid):
    recorded = {name for name in queries.used_metrics(DASHBOARDS[uid]) if ":" in name}
    assert recorded - set(CATALOG) == set()


def test_load_dashboard_serves_both_tools_and_the_cockpit_reads_only_the_vocabulary():
    load = DASHBOARDS["shoplab-load"]
    assert {"tool", "testid"} <= {v["name"] for v in queries.variables(load)}
    for uid in ("shoplab-load", "shoplab-cockpit"):
        tool_series = {
            name
            for name in queries.used_metrics(DASHBOARDS[uid])
            if name.startswith(("k6_", "locust_"))
        }
        assert tool_series == set(), uid


def test_cockpit_refreshes_every_5s_and_follows_one_run():
    cockpit = DASHBOARDS["shoplab-cockpit"]
    assert cockpit["refresh"] == "5s"
    assert "testid" in [v["name"] for v in queries.variables(cockpit)]


def test_substitute_refuses_an_unknown_variable():
    with pytest.raises(ValueError, match=r"\$nope"):
        queries.substitute("rate(x[$nope])", {"__range": "5m"})


def test_unlisted_accepts_the_series_of_a_listed_histogram():
    listed = queries.listed_metrics("| `a_seconds` | histogram |\n| `b`, `c_total` | counter |\n")
    assert listed == {"a_seconds", "b", "c_total"}
    names = {"a_seconds_bucket", "a_seconds_count", "b", "c_total", "d_total"}
    assert queries.unlisted(names, listed) == {"d_total"}


def test_the_live_check_skips_only_series_that_cannot_exist_natively():
    with_cgroups = verify.absent_sources("k6", None)
    assert verify.skip_reason("locust_users", with_cgroups)
    assert verify.skip_reason("container_network_receive_bytes_total", with_cgroups)
    for name in ("k6_vus", "container_cpu_usage_seconds_total", "container_oom_events_total"):
        assert verify.skip_reason(name, with_cgroups) is None, name
    without = verify.absent_sources("locust", "not root")
    assert "not root" in verify.skip_reason("container_cpu_usage_seconds_total", without)
    assert verify.skip_reason("k6_vus", without)
    assert verify.skip_reason("locust_users", without) is None


def test_a_panel_has_data_only_if_no_needed_query_came_back_empty():
    def panel(*targets):
        return verify.PanelResult("d", "p", [verify.TargetResult(*t) for t in targets])

    assert panel(("A", 2), ("B", None, "Locust series")).status == "data"
    assert panel(("A", 2), ("B", 0, "k6 writes it only once it drops")).status == "data"
    assert panel(("A", 2), ("B", 0)).status == "EMPTY"
    assert panel(("A", 0, "sparse only")).status == "EMPTY"
    assert panel(("A", None, "Locust series")).status == "skipped"


def test_the_dialect_table_takes_an_exact_name_then_the_longest_prefix():
    assert dialects.exported_by("shop_db_pool_connections") == ("flask",)
    assert dialects.exported_by("shop_orders_total") == dialects.APP_DIALECTS
    assert dialects.exported_by("shop:http_requests:rate1m") == dialects.APP_DIALECTS
    assert dialects.exported_by("shop:sales_queue_depth:max") == ("flask",)
    assert dialects.exported_by("hikaricp_connections_active") == ("micrometer",)
    assert dialects.exported_by("process_cpu_usage") == ("micrometer",)
    for everywhere in ("innodb_deadlocks_total", "load:stage", "container:cpu_limit_cores", "up"):
        assert dialects.exported_by(everywhere) == dialects.DIALECT_NAMES, everywhere
    # A query needs every metric it reads.
    assert dialects.needed_by({"shop_db_pool_connections", "up"}) == ("flask",)
    assert dialects.needed_by({"shop_db_pool_connections", "hikaricp_connections_max"}) == ()


def test_a_recorded_signal_applies_only_where_one_of_its_sources_exists():
    for record, signal in CATALOG.items():
        names = queries.metric_names(signal.expr)
        if not names:
            continue  # a constant: the routes' objectives
        # The rules are the `or` of the dialects' forms: any source's dialect may feed them.
        sources = set().union(*(dialects.exported_by(name) for name in names))
        assert set(dialects.exported_by(record)) <= sources, record


def test_every_metric_the_dialect_table_names_is_documented():
    for name in (n for n in dialects.EXPORTED_BY if not n.endswith(("_", ":"))):
        assert name in LISTED, name

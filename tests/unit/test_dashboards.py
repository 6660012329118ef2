"""The generated dashboards, checked without Grafana: they build, byte for byte the same as the
committed JSON; the grid is tidy; every query parses and reads only documented metrics; every
datasource is the provisioned one; every panel says what it shows, in a unit."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import subprocess
import sys

import pytest
import yaml

from dashboards import build, common, promql
from dashboards.common import REPO, UIDS
from lab.verify import verify
from signals.catalog import catalog
from signals.slo import slo_of
from targets import find_target

CATALOG = catalog(slo_of(find_target({})))


DASHBOARDS = {uid: json.loads(text) for uid, text in
              ((path.stem, text) for path, text in build.build().items())}  # fmt: skip
LISTED = promql.listed_metrics((REPO / "docs" / "metrics.md").read_text())
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
    used = promql.used_metrics(DASHBOARDS[uid])  # raises if a query does not parse
    assert used
    assert promql.unlisted(used, LISTED) == set(), "add them to docs/metrics.md"


@params
def test_every_datasource_is_the_provisioned_prometheus(uid):
    provisioned = yaml.safe_load(
        (REPO / "provisioning" / "grafana" / "datasources" / "datasources.yml").read_text()
    )["datasources"]
    prometheus_uid = next(d["uid"] for d in provisioned if d["type"] == "prometheus")
    dashboard = DASHBOARDS[uid]
    (variable,) = [v for v in promql.variables(dashboard) if v["type"] == "datasource"]
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
    for panel in promql.panels(DASHBOARDS[uid]):
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
    assert promql.metric_names(deadlocks["expr"]) == {"innodb_deadlocks_total"}
    assert [a["name"] for a in runs] == ["Load run start", "Load stage change", "Load run end"]
    for annotation in runs:
        assert promql.metric_names(annotation["expr"]) == {"load:stage"}
    for panel in promql.panels(dashboard):
        for link in panel["links"]:
            target = link["url"].removeprefix("/d/").split("?")[0]
            assert target in DASHBOARDS, link


def test_panels_that_name_the_slo_draw_it():
    target = find_target({})
    levels = {e.p95_ms / 1000 for e in target.endpoints} | {target.error_rate}
    named = [
        (
            panel["title"],
            {s["value"] for s in panel["fieldConfig"]["defaults"]["thresholds"]["steps"]},
        )
        for dashboard in DASHBOARDS.values()
        for panel in promql.panels(dashboard)
        if "SLO" in panel["description"]
    ]
    assert len(named) >= 15
    for title, values in named:
        assert values & levels, f"{title!r} names the SLO but draws none of {levels}"


@params
def test_every_recorded_series_a_dashboard_reads_is_in_the_catalog(uid):
    recorded = {name for name in promql.used_metrics(DASHBOARDS[uid]) if ":" in name}
    assert recorded - set(CATALOG) == set()


def test_load_dashboard_serves_both_tools_and_the_cockpit_reads_only_the_vocabulary():
    load = DASHBOARDS["shoplab-load"]
    assert {"tool", "testid"} <= {v["name"] for v in promql.variables(load)}
    for uid in ("shoplab-load", "shoplab-cockpit"):
        tool_series = {
            name
            for name in promql.used_metrics(DASHBOARDS[uid])
            if name.startswith(("k6_", "locust_"))
        }
        assert tool_series == set(), uid


def test_cockpit_refreshes_every_5s_and_follows_one_run():
    cockpit = DASHBOARDS["shoplab-cockpit"]
    assert cockpit["refresh"] == "5s"
    assert "testid" in [v["name"] for v in promql.variables(cockpit)]


def test_substitute_refuses_an_unknown_variable():
    with pytest.raises(ValueError, match=r"\$nope"):
        promql.substitute("rate(x[$nope])", {"__range": "5m"})


def test_unlisted_accepts_the_series_of_a_listed_histogram():
    listed = promql.listed_metrics("| `a_seconds` | histogram |\n| `b`, `c_total` | counter |\n")
    assert listed == {"a_seconds", "b", "c_total"}
    names = {"a_seconds_bucket", "a_seconds_count", "b", "c_total", "d_total"}
    assert promql.unlisted(names, listed) == {"d_total"}


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

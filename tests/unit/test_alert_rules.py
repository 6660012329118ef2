"""The alert rules: promtool accepts and unit-tests them, every alerting rule has a firing and a
silent case, every alert is reviewable (labels, annotations, runbook, dashboard), and the pages
generated from them are fresh."""

from __future__ import annotations

import re

import pytest
import yaml

from dashboards.common import UIDS as DASHBOARD_UIDS
from dashboards.queries import listed_metrics, metric_names, unlisted
from signals.catalog import catalog
from signals.slo import slo_of
from stack.alert_rules import (
    REVIEW_DOC,
    RULES_DIR,
    SEVERITIES,
    cap_for,
    count_cases,
    load_rules,
    promtool,
    render_review,
    rule_files,
    rule_test_files,
)
from stack.settings import REPO
from targets import find_target

CATALOG = catalog(slo_of(find_target({})))

RULES = load_rules()
ALERTS = [r for r in RULES if r.is_alert]
ALERT_NAMES = sorted({r.name for r in ALERTS})
RUNBOOKS = REPO / "docs" / "runbooks"


def test_promtool_check_rules_accepts_every_rule_file():
    result = promtool("check", "rules", *map(str, rule_files()))
    assert result.returncode == 0, result.stdout + result.stderr
    assert sum(int(n) for n in re.findall(r"SUCCESS: (\d+) rules found", result.stdout)) == len(
        RULES
    )


def test_promtool_unit_tests_pass():
    result = promtool("test", "rules", *map(str, rule_test_files()))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_rule_file_has_its_unit_tests():
    tested = set()
    for path in rule_test_files():
        tested |= {p.split("/")[-1] for p in yaml.safe_load(path.read_text())["rule_files"]}
    alert_files = {r.file for r in ALERTS}
    assert alert_files <= tested


def test_every_alerting_rule_has_a_firing_and_a_silent_case():
    counts = count_cases(RULES, rule_test_files())
    assert set(counts) == {r.key for r in ALERTS}
    lacking = {key: c for key, c in counts.items() if c.firing < 1 or c.silent < 1}
    assert lacking == {}
    print(f"\npromtool cases: {len(ALERT_NAMES)} alerts, {len(counts)} alerting rules, "
          f"{sum(c.firing for c in counts.values())} firing and "
          f"{sum(c.silent for c in counts.values())} silent cases")  # fmt: skip


def test_case_counting_tells_severities_apart(tmp_path):
    rules = [r for r in RULES if r.name == "ShopErrorRatioHigh"]
    case = {"alertname": "ShopErrorRatioHigh", "eval_time": "1m",
            "exp_alerts": [{"exp_labels": {"severity": "warning"}}]}  # fmt: skip
    (tmp_path / "t.yml").write_text(yaml.safe_dump({"tests": [{"alert_rule_test": [case]}]}))
    counts = count_cases(rules, [tmp_path / "t.yml"])
    assert (counts[("ShopErrorRatioHigh", "warning")].firing,
            counts[("ShopErrorRatioHigh", "critical")].silent) == (1, 1)  # fmt: skip
    assert counts[("ShopErrorRatioHigh", "critical")].firing == 0


@pytest.mark.parametrize("rule", ALERTS, ids=lambda r: f"{r.name}-{r.severity}")
def test_alert_is_reviewable(rule):
    labels, notes = rule.body.get("labels", {}), rule.annotations
    assert labels.get("severity") in SEVERITIES
    assert labels.get("service")
    assert set(notes) == {"summary", "description", "threshold", "runbook_url", "dashboard"}
    assert "$value" in notes["description"], "the description carries the value"
    runbook = REPO / notes["runbook_url"]
    assert runbook.parent == RUNBOOKS and runbook.is_file(), notes["runbook_url"]
    assert rule.name in runbook.read_text(), f"{runbook.name} does not name {rule.name}"
    uid = notes["dashboard"].removeprefix("/d/")
    assert notes["dashboard"].startswith("/d/") and uid in DASHBOARD_UIDS.values()


def test_alert_names_are_unique_per_severity():
    keys = [r.key for r in ALERTS]
    assert len(keys) == len(set(keys))


def test_runbook_index_lists_every_alert_and_page():
    index = (RUNBOOKS / "README.md").read_text()
    pages = {p.name for p in RUNBOOKS.glob("*.md")} - {"README.md"}
    assert {f"({name})" for name in pages} <= set(re.findall(r"\([\w.-]+\.md\)", index))
    assert [n for n in ALERT_NAMES if n not in index] == []
    assert pages == {(REPO / r.annotations["runbook_url"]).name for r in ALERTS}


def test_docs_alerts_md_is_up_to_date():
    assert REVIEW_DOC.read_text() == render_review(RULES), "run `make alerts-review`"


def test_rules_read_only_series_listed_in_docs_metrics_md():
    used = {r.name for r in RULES if not r.is_alert}
    for rule in RULES:
        used |= metric_names(rule.body["expr"])  # a real PromQL parser: every rule parses
    assert unlisted(used, listed_metrics((REPO / "docs/metrics.md").read_text())) == set()


def test_alerts_read_only_recorded_series_that_the_catalog_names():
    recorded = set().union(*(metric_names(r.body["expr"]) for r in ALERTS))
    recorded = {name for name in recorded if ":" in name}
    assert recorded
    assert recorded - set(CATALOG) == set()


def test_recording_rules_are_exactly_the_catalog():
    assert [r.name for r in RULES if not r.is_alert] == [
        r.name for r in RULES if not r.is_alert and r.name in CATALOG
    ]
    assert {r.name for r in RULES if not r.is_alert} == set(CATALOG)


def test_dashboards_recording_rules_keep_their_names():
    assert {"shop:orders_created:rate1m", "shop:http_requests:rate1m",
            "shop:http_5xx_ratio:rate1m", "shop:http_request_duration_seconds:p95_1m"} <= {
        r.name for r in RULES if not r.is_alert}  # fmt: skip


def test_for_cap_shortens_only_longer_durations(tmp_path):
    out = cap_for(RULES_DIR, tmp_path / "rules", 5)
    capped = {(r.name, r.severity): r.body.get("for") for r in load_rules(out) if r.is_alert}
    shipped = {r.key: r.body.get("for") for r in ALERTS}
    assert capped[("ShopDown", "critical")] == "5s"
    assert capped[("InnoDBLockWaitOld", "warning")] == "5s"
    assert shipped[("InnoDBDeadlocks", "warning")] is None  # no `for:` stays none
    assert capped[("InnoDBDeadlocks", "warning")] is None
    assert set(capped) == set(shipped)
    assert [r.body["expr"] for r in load_rules(out)] == [r.body["expr"] for r in RULES]
    result = promtool("check", "rules", *map(str, sorted(out.glob("*.yml"))))
    assert result.returncode == 0, result.stdout + result.stderr

"""Alertmanager's config for both stacks (routing by severity, inhibitions that name real
alerts, the native webhook, Slack/email only when configured) and the webhook's file format."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime

import pytest
import yaml

from stack.alert_rules import load_rules
from stack.alertmanager_config import (
    BASE_CONFIG,
    AlertmanagerSettings,
    AlertmanagerSettingsError,
    dump,
    load_base,
    native,
    render,
)
from stack.settings import REPO, read_stack_settings
from stack.webhook import AlertFile, alert_lines

BASE = load_base()
ALERTS = {r.name: r for r in load_rules() if r.is_alert}
SLACK_AND_EMAIL = {
    "ALERTMANAGER_SLACK_API_URL": "https://hooks.slack.com/services/T0/B0/x",
    "ALERTMANAGER_EMAIL_TO": "oncall@example.com",
    "ALERTMANAGER_EMAIL_FROM": "alertmanager@example.com",
    "ALERTMANAGER_SMTP_SMARTHOST": "smtp.example.com:587",
    "ALERTMANAGER_SMTP_USERNAME": "alertmanager",
    "ALERTMANAGER_SMTP_PASSWORD": "secret",
    "ALERTS_RUNBOOK_BASE_URL": "https://git.example.com/shoplab/-/blob/main/",
}


def amtool_check(tmp_path, config: dict) -> None:
    amtool = shutil.which("amtool")
    # make setup installs it (prometheus-alertmanager): missing, it is a failure, not a skip.
    assert amtool is not None, "amtool missing: run make setup (prometheus-alertmanager)"
    path = tmp_path / "alertmanager.yml"
    path.write_text(dump(config))
    result = subprocess.run([amtool, "check-config", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def receivers(config: dict) -> dict[str, dict]:
    return {r["name"]: r for r in config["receivers"]}


def test_compose_config_is_valid_and_sends_nothing_by_default(tmp_path):
    amtool_check(tmp_path, BASE)
    assert all(set(r) == {"name"} for r in BASE["receivers"]), "Slack/email are off by default"


def test_routes_by_severity_to_receivers_that_exist():
    routes = {tuple(r["matchers"]): r["receiver"] for r in BASE["route"]["routes"]}
    assert routes == {('severity="critical"',): "critical", ('severity="warning"',): "warning"}
    names = set(receivers(BASE))
    assert {BASE["route"]["receiver"], *routes.values()} <= names
    severities = {r.body["labels"]["severity"] for r in load_rules() if r.is_alert}
    assert severities <= {"critical", "warning"}


def test_inhibit_rules_name_only_real_alerts_and_labels():
    labels = {k for r in ALERTS.values() for k in r.body["labels"]} | {"url_rule", "dependency"}
    for rule in BASE["inhibit_rules"]:
        for matcher in rule["source_matchers"] + rule["target_matchers"]:
            label, value = matcher.split("=", 1)
            label = label.rstrip("!~")
            assert label in labels | {"alertname"}, matcher
            if label == "alertname":
                assert set(value.lstrip("~").strip('"').split("|")) <= set(ALERTS), matcher


def test_native_config_sends_every_receiver_to_the_webhook(tmp_path):
    stack = read_stack_settings({"LOCAL_ALERT_WEBHOOK_PORT": "29999"})
    config = native(stack, AlertmanagerSettings.from_env({}))
    amtool_check(tmp_path, config)
    for receiver in config["receivers"]:
        assert receiver["webhook_configs"] == [
            {"url": "http://127.0.0.1:29999/alerts", "send_resolved": True}
        ]
    # Everything but the receivers' integrations is compose's config, unchanged.
    assert {k: v for k, v in config.items() if k != "receivers"} == {
        k: v for k, v in BASE.items() if k != "receivers"
    }


def test_a_stack_whose_alerts_fire_within_seconds_notifies_within_seconds(tmp_path):
    """LOCAL_ALERT_FOR_MAX (the tests' stacks, make chaos): group_wait and group_interval capped
    too, or an alert of a group that notified a moment ago waits a minute for the next tick."""
    stack = read_stack_settings({"LOCAL_ALERT_WEBHOOK_PORT": "29999",
                                    "LOCAL_ALERT_FOR_MAX": "5s"})  # fmt: skip
    config = native(stack, AlertmanagerSettings.from_env({}))
    amtool_check(tmp_path, config)
    routes = [config["route"], *config["route"]["routes"]]
    assert {r.get("group_interval") for r in routes} <= {"5s", None}
    assert {r.get("group_wait") for r in routes} <= {"5s", None}
    assert config["route"]["group_interval"] == "5s"
    assert [r["repeat_interval"] for r in routes] == [
        r["repeat_interval"] for r in [BASE["route"], *BASE["route"]["routes"]]
    ]


def test_slack_and_email_when_configured(tmp_path):
    config = render(BASE, AlertmanagerSettings.from_env(SLACK_AND_EMAIL))
    amtool_check(tmp_path, config)
    by_name = receivers(config)
    assert set(by_name["critical"]) == {"name", "slack_configs", "email_configs"}
    assert set(by_name["warning"]) == {"name", "slack_configs"}
    assert set(by_name["default"]) == {"name"}
    text = by_name["warning"]["slack_configs"][0]["text"]
    assert "https://git.example.com/shoplab/-/blob/main/{{ .Annotations.runbook_url }}" in text
    assert "http://127.0.0.1:3000{{ .Annotations.dashboard }}" in text


@pytest.mark.parametrize(
    ("env", "variable"),
    [({"ALERTMANAGER_SLACK_API_URL": "http://insecure"}, "ALERTMANAGER_SLACK_API_URL"),
     ({"ALERTMANAGER_EMAIL_TO": "a@b.c"}, "ALERTMANAGER_EMAIL_FROM"),
     ({"ALERTMANAGER_EMAIL_TO": "a@b.c", "ALERTMANAGER_EMAIL_FROM": "x@b.c"},
      "ALERTMANAGER_SMTP_SMARTHOST"),
     ({"ALERTMANAGER_EMAIL_TO": "a@b.c", "ALERTMANAGER_EMAIL_FROM": "x@b.c",
       "ALERTMANAGER_SMTP_SMARTHOST": "smtp.example.com"}, "ALERTMANAGER_SMTP_SMARTHOST")],
)  # fmt: skip
def test_bad_alerting_setting_names_the_variable(env, variable):
    with pytest.raises(AlertmanagerSettingsError, match=variable):
        AlertmanagerSettings.from_env(env)


def test_bad_alert_for_cap_names_the_variable():
    from stack.settings import StackSettingsError, read_stack_settings

    with pytest.raises(StackSettingsError, match="LOCAL_ALERT_FOR_MAX"):
        read_stack_settings({"LOCAL_ALERT_FOR_MAX": "soon"})
    assert read_stack_settings({"LOCAL_ALERT_FOR_MAX": "1m30s"}).alert_for_max == 90
    assert read_stack_settings({}).alert_for_max is None


def test_compose_alertmanager_reads_this_folder_and_a_selectable_file():
    compose = yaml.safe_load((REPO / "compose.yml").read_text())["services"]["alertmanager"]
    assert "./provisioning/alertmanager:/etc/alertmanager:ro" in compose["volumes"]
    assert any(
        arg.startswith("--config.file=/etc/alertmanager/${ALERTMANAGER_CONFIG_FILE:-")
        and arg.endswith(f"{BASE_CONFIG.name}}}")
        for arg in compose["command"]
    ), compose["command"]


def test_webhook_writes_one_json_line_per_alert(tmp_path):
    payload = {
        "version": "4",
        "receiver": "warning",
        "status": "firing",
        "groupKey": '{}:{alertname="InnoDBDeadlocks"}',
        "alerts": [
            {"status": "firing", "labels": {"alertname": "InnoDBDeadlocks", "severity": "warning"},
             "annotations": {"summary": "s"}, "startsAt": "2026-01-01T00:00:00Z",
             "endsAt": "0001-01-01T00:00:00Z", "fingerprint": "abc"},
            {"status": "resolved", "labels": {"alertname": "ShopDown", "severity": "critical"},
             "annotations": {}, "startsAt": "2026-01-01T00:00:00Z",
             "endsAt": "2026-01-01T00:05:00Z", "fingerprint": "def"},
        ],
    }  # fmt: skip
    lines = alert_lines(payload, datetime(2026, 1, 1, tzinfo=UTC))
    records = [json.loads(line) for line in lines]
    assert [(r["alertname"], r["status"], r["severity"]) for r in records] == [
        ("InnoDBDeadlocks", "firing", "warning"),
        ("ShopDown", "resolved", "critical"),
    ]
    assert records[0]["receiver"] == "warning"
    assert records[0]["received_at"] == "2026-01-01T00:00:00.000+00:00"
    out = AlertFile(tmp_path / "alerts.jsonl")
    out.append(lines)
    out.append(lines[:1])
    assert (tmp_path / "alerts.jsonl").read_text().splitlines() == [*lines, lines[0]]
    assert alert_lines({"alerts": []}, datetime.now(UTC)) == []

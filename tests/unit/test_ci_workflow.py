"""The CI definitions: the GitHub workflow runs the gate on pull requests and stress, capacity,
the gate and the A/B by night, keeps the run history between nights, every action pinned to a
version; docs/ci.md's GitLab job is valid GitLab CI and runs the same targets; .ci/run runs the
gate after the suite."""

from __future__ import annotations

import json
import re
from importlib import resources

import jsonschema
import pytest
import yaml

from stack.settings import REPO

WORKFLOW = REPO / ".github" / "workflows" / "loadtest.yml"


def schema(name: str) -> dict:
    return json.loads(
        (resources.files("check_jsonschema") / f"builtin_schemas/vendor/{name}.json").read_text()
    )


def errors(document, name: str) -> list[str]:
    s = schema(name)
    validator = jsonschema.validators.validator_for(s)(s)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


def runs(job: dict) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


@pytest.fixture(scope="module")
def workflow() -> dict:
    data = yaml.safe_load(WORKFLOW.read_text())
    data["on"] = data.pop(True)  # PyYAML reads the key `on` as True (YAML 1.1)
    return data


def test_workflow_follows_githubs_schema(workflow):
    assert errors(workflow, "github-workflows") == []


def test_pull_requests_run_setup_test_and_gate_and_keep_the_results(workflow):
    gate = workflow["jobs"]["gate"]
    assert "pull_request" in gate["if"]
    assert re.findall(r"make (setup|test|gate)\b", runs(gate)) == ["setup", "test", "gate"]
    assert "GITHUB_STEP_SUMMARY" in runs(gate)
    [upload] = [s for s in gate["steps"] if s.get("uses", "").startswith("actions/upload-artifact")]
    assert upload["with"]["path"] == "results/"


def test_nightly_and_by_hand_run_stress_capacity_and_ab(workflow):
    triggers = workflow["on"]
    assert set(triggers) == {"pull_request", "schedule", "workflow_dispatch"}
    assert set(triggers["workflow_dispatch"]["inputs"]) == {"scenario", "scale"}
    nightly = workflow["jobs"]["nightly"]
    assert nightly["env"]["SCENARIO"] == "${{ inputs.scenario || 'stress' }}"
    commands = runs(nightly)
    for target in ("make load", "make capacity", "make gate", "make ab BASE=", "make trend"):
        assert target in commands


def history_caches(job: dict) -> list[dict]:
    return [s for s in job["steps"] if s.get("with", {}).get("path") == "results/history.jsonl"]


def test_the_run_history_is_kept_between_nights_and_only_read_by_pull_requests(workflow):
    nightly, gate = workflow["jobs"]["nightly"], workflow["jobs"]["gate"]
    restore, save = history_caches(nightly)
    assert restore["uses"].startswith("actions/cache/restore@")
    assert save["uses"].startswith("actions/cache/save@")
    # Every night saves under a new key; the next restores the newest by the key's prefix.
    assert save["with"]["key"] == "run-history-${{ github.run_id }}"
    assert restore["with"]["restore-keys"] == "run-history-"
    steps = [s.get("name", s.get("uses")) for s in nightly["steps"]]
    assert steps.index(restore["name"]) < steps.index(
        "make gate (its figures join the run history)"
    )
    assert steps.index(save["name"]) > steps.index("make trend (change points in the run history)")
    assert [s["uses"].split("@")[0] for s in history_caches(gate)] == ["actions/cache/restore"]


def test_every_action_is_pinned_to_a_version_and_the_venv_cached(workflow):
    used = [s["uses"] for job in workflow["jobs"].values() for s in job["steps"] if "uses" in s]
    assert used and all(re.fullmatch(r"[\w-]+/[\w-]+(/[\w-]+)?@v\d+\.\d+\.\d+", u) for u in used)
    caches = [
        s
        for job in workflow["jobs"].values()
        for s in job["steps"]
        if s.get("uses", "").startswith("actions/cache@")
    ]
    assert len(caches) == 2 and all(c["with"]["path"] == ".venv" for c in caches)
    assert all(u.endswith("@v4.2.0") for u in used if u.startswith("actions/cache"))


def test_the_gitlab_example_is_valid_gitlab_ci_running_the_same_targets():
    text = (REPO / "docs" / "ci.md").read_text()
    [block] = re.findall(r"```yaml\n(.*?)```", text, re.S)
    gitlab = yaml.safe_load(block)
    assert errors(gitlab, "gitlab-ci") == []
    assert gitlab["loadtest-gate"]["script"] == ["make setup", "make test", "make gate"]
    assert "make ab BASE=origin/$CI_DEFAULT_BRANCH" in gitlab["loadtest-nightly"]["script"]


def test_ci_run_runs_the_gate_after_the_suite():
    lines = [
        line for line in (REPO / ".ci" / "run").read_text().splitlines() if line.startswith("make ")
    ]
    assert lines == ["make setup </dev/null", "make test </dev/null", "make gate </dev/null"]

"""deploy/k8s/: every kustomization renders and validates offline with the check `make lint` runs
(deploy/check.py), holds compose's limits, env and probes, and the check can fail."""

from __future__ import annotations

import copy

import pytest
import yaml

from deploy import check
from stack.services import SERVICES
from stack.settings import DEFAULTS_FILE, REPO, read_env_file

DIRS = ["base", "load", "spring", "test-cluster"]


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict]]:
    return {d.name: check.render(d) for d in check.kustomizations()}


def find(objects, kind, name):
    found = check.find(objects, kind, name)
    assert found is not None, f"{kind}/{name} not rendered"
    return copy.deepcopy(found)


def shop_container(rendered) -> dict:
    return check.container_of(find(rendered["base"], "Deployment", "shop"))


def test_every_kustomization_is_found_and_renders(rendered):
    assert sorted(rendered) == DIRS
    assert all(rendered[d] for d in DIRS)


def test_the_lint_check_passes_on_the_repository():
    result = check.check()
    assert result.failures == []
    assert result.kustomizations == len(DIRS) and result.objects > 30


@pytest.mark.parametrize("name", DIRS)
def test_every_rendered_object_validates(rendered, name):
    failures = [f"{check.name_of(o)}: {e}" for o in rendered[name] for e in check.validate(o)]
    assert failures == []


def test_shop_requests_and_limits_are_composes_box(rendered):
    # Both of compose's sources: the generated file and the table (and local.env) it comes from.
    compose = yaml.safe_load((REPO / "compose.yml").read_text())["services"]["shop"]
    defaults = read_env_file(DEFAULTS_FILE)
    limits = SERVICES["shop"].limits
    assert (compose["cpus"], compose["mem_limit"]) == (2, "4g")
    assert str(compose["cpus"]) == defaults[limits.cpus]
    assert compose["mem_limit"] == defaults[limits.memory]
    resources = shop_container(rendered)["resources"]
    box = {"cpu": "2", "memory": "4Gi"}
    assert resources == {"requests": box, "limits": box}
    assert resources == check.k8s_resources(compose)


def test_shop_env_command_and_image_are_composes(rendered):
    compose = check.compose_services()["shop"]
    container = shop_container(rendered)
    assert {e["name"]: e["value"] for e in container["env"]} == compose["environment"]
    assert container["command"] == compose["command"]
    assert container["image"] == compose["image"]


def test_shop_probes_ready_on_readyz_alive_on_healthz(rendered):
    container = shop_container(rendered)
    assert container["readinessProbe"]["httpGet"]["path"] == SERVICES["shop"].health.path
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_shop_autoscales_on_cpu_and_on_the_adapters_request_rate(rendered):
    hpa = find(rendered["base"], "HorizontalPodAutoscaler", "shop")
    kinds = {m["type"]: m for m in hpa["spec"]["metrics"]}
    assert kinds["Resource"]["resource"]["name"] == "cpu"
    assert kinds["Pods"]["pods"]["metric"]["name"] == "shop_http_requests_per_second"
    adapter = find(rendered["base"], "ConfigMap", check.ADAPTER_CONFIGMAP)
    config = yaml.safe_load(adapter["data"]["config.yaml"])
    assert check.adapter_metric_names(config) == {"shop_http_requests_per_second"}
    assert "flask_http_request_total" in config["rules"][0]["seriesQuery"]


def test_a_string_parallelism_fails_the_testrun(rendered):
    testrun = find(rendered["load"], "TestRun", "shoplab-load")
    assert check.validate(testrun) == []
    testrun["spec"]["parallelism"] = "4"
    assert check.validate(testrun) == ["spec.parallelism: '4' is not of type 'integer'"]


def test_an_unknown_field_fails_the_testrun_and_a_deployment(rendered):
    testrun = find(rendered["load"], "TestRun", "shoplab-load")
    testrun["spec"]["runner"]["imag"] = "grafana/k6:1.1.0"
    assert any("'imag' was unexpected" in e for e in check.validate(testrun))
    shop = find(rendered["base"], "Deployment", "shop")
    shop["spec"]["replica"] = 3
    assert any("'replica' was unexpected" in e for e in check.validate(shop))


def test_a_wrong_type_fails_a_kubernetes_object(rendered):
    pdb = find(rendered["base"], "PodDisruptionBudget", "shop")
    pdb["spec"]["selector"] = "shop"
    assert check.validate(pdb)


@pytest.mark.parametrize(
    "mutate, says",
    [
        (lambda r: r.update(metricsQuery="sum(rate(<<.Series>>[1m]))"), "LabelMatchers"),
        (lambda r: r.update(seriesQuery='shop_requests_total{pod!=""}'), "not a shop metric"),
        (lambda r: r["name"].update(matches="^nothing$"), "does not match the series"),
        (lambda r: r.pop("resources"), "'resources' is a required property"),
        (lambda r: r.update(seriesQuerry="x"), "'seriesQuerry' was unexpected"),
    ],
)
def test_a_bad_adapter_rule_fails(rendered, mutate, says):
    adapter = find(rendered["base"], "ConfigMap", check.ADAPTER_CONFIGMAP)
    config = yaml.safe_load(adapter["data"]["config.yaml"])
    assert check.check_adapter_config(config) == []
    mutate(config["rules"][0])
    errors = check.check_adapter_config(config)
    assert any(says in e for e in errors), errors


def test_a_shop_limit_drifting_from_compose_fails(rendered):
    shop = find(rendered["base"], "Deployment", "shop")
    shop["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] = "2Gi"
    assert [e for e in check.check_parity([shop]) if "resources" in e]


def test_spring_overlay_runs_composes_spring_shop_in_the_shops_place(rendered):
    assert check.check_parity(rendered["spring"]) == []
    deployment = find(rendered["spring"], "Deployment", "shop")
    c = check.container_of(deployment)
    assert c["image"] == "shoplab/spring-shop:local"
    assert {e["name"] for e in c["env"]} >= {"SHOP_DATABASE_URL", "SHOP_BIND", "SHOP_THREADS"}
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] == "/actuator/prometheus"
    c["env"] = [e for e in c["env"] if e["name"] != "SHOP_THREADS"]
    assert [e for e in check.check_parity([deployment]) if "env" in e]


def test_test_cluster_database_and_cache_run_composes_flags(rendered):
    assert check.check_parity(rendered["test-cluster"]) == []
    args = check.container_of(find(rendered["test-cluster"], "StatefulSet", "mysql"))["args"]
    assert "--innodb-print-all-deadlocks=ON" in args


def test_every_rule_file_dashboard_and_script_is_shipped(rendered):
    assert check.check_sources(rendered["base"]) == []
    assert check.check_sources(rendered["load"]) == []
    without = [o for o in rendered["base"] if o["metadata"]["name"] != "grafana-dashboard-k6"]
    assert check.check_sources(without) == ["ConfigMap/grafana-dashboard: missing shoplab-k6.json"]


def test_the_load_plan_is_fresh_and_a_stale_one_fails(tmp_path):
    assert check.check_plan() == []
    stale = tmp_path / "plan.json"
    stale.write_text(check.fresh_plan().replace('"load"', '"soak"'))
    assert check.check_plan(stale) == [
        f"{stale}: stale against loadtest/scenarios.json: make k8s-plan"
    ]


def test_a_kustomization_that_does_not_render_is_reported(tmp_path):
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "kustomization.yaml").write_text("resources: [missing.yaml]\n")
    with pytest.raises(check.RenderError):
        check.render(tmp_path / "broken")

"""deploy/k8s/: every kustomization renders with plain `kubectl kustomize` (what `kubectl apply -k`
runs) and validates offline with the check `make lint` runs (deploy/check.py), holds compose's
limits, env and probes, ships fresh copies of the repository's files, and the check can fail."""

from __future__ import annotations

import copy
import os

import pytest
import yaml

from deploy import check, parity, render, sources, validate
from lab.load import k8s_plan
from stack import accounts
from stack.extras import TESTRUN_CRD, find_extras
from stack.services import SERVICES
from stack.settings import DEFAULTS_FILE, REPO, read_env_file
from tests.extras import skip_reason

DIRS = ["base", "load", "spring", "test-cluster"]


@pytest.fixture(scope="module")
def testrun() -> dict:
    """The TestRun's schema from k6-operator's CRD in the extras; skipped when absent."""
    extras = find_extras(os.environ)
    if extras.testrun_crd is None:
        pytest.skip(skip_reason(TESTRUN_CRD))
    return validate.testrun_schema(extras.testrun_crd)


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict]]:
    return {d.name: render.render(d) for d in render.kustomizations()}


def find(objects, kind, name):
    found = render.find(objects, kind, name)
    assert found is not None, f"{kind}/{name} not rendered"
    return copy.deepcopy(found)


def shop_container(rendered) -> dict:
    return render.container_of(find(rendered["base"], "Deployment", "shop"))


def test_every_kustomization_is_found_and_renders(rendered):
    assert sorted(rendered) == DIRS
    assert all(rendered[d] for d in DIRS)


def test_a_file_read_from_outside_the_kustomization_fails_the_render(tmp_path):
    (tmp_path / "rules.yml").write_text("groups: []\n")
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        "configMapGenerator:\n  - name: rules\n    files: [../rules.yml]\n"
    )
    with pytest.raises(render.RenderError, match="is not in or below"):
        render.render(overlay)


def test_every_kustomization_that_carries_files_lists_its_generated_configmaps():
    for directory in render.kustomizations():
        generated = directory / sources.GENERATED
        listed = yaml.safe_load((directory / "kustomization.yaml").read_text())["resources"]
        assert generated.exists() == (sources.GENERATED in listed), directory


def test_the_generated_configmaps_are_fresh_and_carry_the_files_byte_for_byte(rendered):
    assert sources.stale() == []
    rules = find(rendered["base"], "ConfigMap", "prometheus-rules")["data"]
    home = REPO / "provisioning/prometheus/rules"
    assert rules == {p.name: p.read_text() for p in sorted(home.glob("*.yml"))}
    model = find(rendered["load"], "ConfigMap", "shoplab-k6")["data"]["model.js"]
    assert model == (REPO / "k6/lib/model.js").read_text()


def test_a_stale_missing_or_orphaned_generated_file_fails_the_check(tmp_path):
    built = sources.build(tmp_path)
    carrying = sorted({source.kustomization for source in sources.sources()})
    assert sorted(p.relative_to(tmp_path).parts[0] for p in built) == carrying
    assert len(sources.stale(tmp_path)) == len(built)  # nothing written yet: all missing
    for path, text in built.items():
        path.parent.mkdir(parents=True)
        path.write_text(text)
    assert sources.stale(tmp_path) == []
    edited = tmp_path / "load" / sources.GENERATED
    edited.write_text(edited.read_text().replace("'k6/http'", "'k6/http' // by hand"))
    orphan = tmp_path / "gone" / sources.GENERATED
    orphan.parent.mkdir()
    orphan.write_text("{}")
    assert sources.stale(tmp_path) == [
        f"{edited}: out of date",
        f"{orphan}: built by nothing (delete it)",
    ]


def test_the_locust_pods_find_every_module_the_locustfile_imports(rendered):
    assert parity.check_locust_layout(rendered["load"]) == []
    master = find(rendered["load"], "Job", "locust-master")
    pod = master["spec"]["template"]["spec"]
    for mount in pod["containers"][0]["volumeMounts"]:
        if mount["name"] == "loadtest":
            mount["mountPath"] = "/shoplab/loadtest"  # where it was before lab/ held it
    others = [o for o in rendered["load"] if render.name_of(o) != "Job/locust-master"]
    missing = parity.check_locust_layout([master, *others])
    assert missing and all(line.startswith("Job/locust-master: the locustfile imports lab.load")
                           for line in missing)  # fmt: skip
    assert (
        "Job/locust-master: the locustfile imports lab.load.scenarios: nothing mounted at "
        "/shoplab/lab/load/scenarios.py (PYTHONPATH=/shoplab)" in missing
    )


def test_the_lint_check_passes_on_the_repository():
    result = check.check(testrun_crd=find_extras(os.environ).testrun_crd)
    assert result.failures == []
    assert result.kustomizations == len(DIRS) and result.objects > 30


@pytest.mark.parametrize("name", DIRS)
def test_every_rendered_object_validates(rendered, name):
    # Without k6-operator's CRD (an extra) the TestRun goes unchecked; every other object is.
    schema = find_extras(os.environ).testrun_crd
    schema = validate.testrun_schema(schema) if schema else None
    failures = [
        f"{render.name_of(o)}: {e}" for o in rendered[name] for e in validate.validate(o, schema)
    ]
    assert failures == []


# A CRD of the extras' shape that wants parallelism as a string, where ours is a number.
STRICT_CRD = """\
spec:
  versions:
    - name: v1alpha1
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties: {parallelism: {type: string}}
              x-kubernetes-preserve-unknown-fields: true
          x-kubernetes-preserve-unknown-fields: true
"""


def test_without_the_crd_lint_skips_the_testrun_in_one_line_and_passes(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("SHOPLAB_EXTRAS", str(tmp_path))
    assert check.main([]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    skipped, summary = out.splitlines()
    assert skipped == (
        "k8s: skipped the TestRun's check against k6-operator's CRD (an extra): "
        f"SHOPLAB_EXTRAS={tmp_path.resolve()} has no {TESTRUN_CRD}"
    )
    assert summary.endswith("valid (Kubernetes 1.34.0, prometheus-adapter's format)")


def test_with_the_crd_lint_validates_the_testrun_against_it(tmp_path, monkeypatch, capsys):
    crd = tmp_path / TESTRUN_CRD
    crd.parent.mkdir(parents=True)
    crd.write_text(STRICT_CRD)
    monkeypatch.setenv("SHOPLAB_EXTRAS", str(tmp_path))
    assert check.main([]) == 1
    out, err = capsys.readouterr()
    assert err.splitlines() == [
        "k8s: deploy/k8s/load: TestRun/shoplab-load: spec.parallelism: 4 is not of type 'string'"
    ]
    assert "FAILED (Kubernetes 1.34.0, k6-operator's TestRun CRD, " in out


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
    assert resources == parity.k8s_resources(compose)


def test_shop_env_command_and_image_are_composes(rendered):
    compose = parity.compose_services()["shop"]
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
    adapter = find(rendered["base"], "ConfigMap", validate.ADAPTER_CONFIGMAP)
    config = yaml.safe_load(adapter["data"]["config.yaml"])
    assert validate.adapter_metric_names(config) == {"shop_http_requests_per_second"}
    assert "flask_http_request_total" in config["rules"][0]["seriesQuery"]


def test_a_string_parallelism_fails_the_testrun(rendered, testrun):
    run = find(rendered["load"], "TestRun", "shoplab-load")
    assert validate.validate(run, testrun) == []
    run["spec"]["parallelism"] = "4"
    assert validate.validate(run, testrun) == ["spec.parallelism: '4' is not of type 'integer'"]


def test_an_unknown_field_fails_the_testrun(rendered, testrun):
    run = find(rendered["load"], "TestRun", "shoplab-load")
    run["spec"]["runner"]["imag"] = "grafana/k6:1.1.0"
    assert any("'imag' was unexpected" in e for e in validate.validate(run, testrun))


def test_an_unknown_field_fails_a_deployment(rendered):
    shop = find(rendered["base"], "Deployment", "shop")
    shop["spec"]["replica"] = 3
    assert any("'replica' was unexpected" in e for e in validate.validate(shop, None))


def test_a_wrong_type_fails_a_kubernetes_object(rendered):
    pdb = find(rendered["base"], "PodDisruptionBudget", "shop")
    pdb["spec"]["selector"] = "shop"
    assert validate.validate(pdb, None)


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
    adapter = find(rendered["base"], "ConfigMap", validate.ADAPTER_CONFIGMAP)
    config = yaml.safe_load(adapter["data"]["config.yaml"])
    assert validate.check_adapter_config(config) == []
    mutate(config["rules"][0])
    errors = validate.check_adapter_config(config)
    assert any(says in e for e in errors), errors


def test_a_shop_limit_drifting_from_compose_fails(rendered):
    shop = find(rendered["base"], "Deployment", "shop")
    shop["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] = "2Gi"
    assert [e for e in parity.check_parity([shop]) if "resources" in e]


def test_the_innodb_exporter_runs_composes_image_args_and_own_account(rendered):
    assert parity.check_parity(rendered["base"]) == []
    exporter = find(rendered["base"], "Deployment", "innodb-exporter")
    env = exporter["spec"]["template"]["spec"]["containers"][0]["env"]
    dsn = next(e for e in env if e["name"] == "INNODB_EXPORTER_DSN")
    assert dsn["value"].startswith(f"mysql://{accounts.INNODB_EXPORTER.user}:")
    dsn["value"] = "mysql://exporter:exporter@mysql:3306/"  # the other exporter's account
    assert [e for e in parity.check_parity([exporter]) if e.startswith("Deployment/innodb")]


def test_the_test_clusters_mariadb_runs_the_accounts_sql_for_mariadb(rendered):
    init = find(rendered["test-cluster"], "ConfigMap", "mariadb-init")
    assert init["data"] == {"01-users.sql": accounts.init_sql(accounts.MARIADB)}


def test_spring_overlay_runs_composes_spring_shop_in_the_shops_place(rendered):
    assert parity.check_parity(rendered["spring"]) == []
    deployment = find(rendered["spring"], "Deployment", "shop")
    c = render.container_of(deployment)
    assert c["image"] == "shoplab/spring-shop:local"
    assert {e["name"] for e in c["env"]} >= {"SHOP_DATABASE_URL", "SHOP_BIND", "SHOP_THREADS"}
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] == "/actuator/prometheus"
    c["env"] = [e for e in c["env"] if e["name"] != "SHOP_THREADS"]
    assert [e for e in parity.check_parity([deployment]) if "env" in e]
    adapter = find(rendered["spring"], "ConfigMap", validate.ADAPTER_CONFIGMAP)
    assert "http_server_requests_seconds_count" in adapter["data"]["config.yaml"]


def test_test_cluster_database_and_cache_run_composes_flags(rendered):
    assert parity.check_parity(rendered["test-cluster"]) == []
    args = render.container_of(find(rendered["test-cluster"], "StatefulSet", "mysql"))["args"]
    assert "--innodb-print-all-deadlocks=ON" in args


def test_every_rule_file_dashboard_and_script_is_shipped(rendered):
    assert parity.check_sources(rendered["base"]) == []
    assert parity.check_sources(rendered["load"]) == []
    without = [o for o in rendered["base"] if o["metadata"]["name"] != "grafana-dashboard-k6"]
    assert parity.check_sources(without) == ["ConfigMap/grafana-dashboard: missing shoplab-k6.json"]


def test_the_load_plan_is_fresh_and_a_stale_one_fails(tmp_path):
    assert k8s_plan.stale() == []
    stale = tmp_path / "plan.json"
    stale.write_text(k8s_plan.fresh_plan().replace('"load"', '"soak"'))
    assert k8s_plan.stale(stale) == [f"{stale}: out of date"]


def test_a_kustomization_that_does_not_render_is_reported(tmp_path):
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "kustomization.yaml").write_text("resources: [missing.yaml]\n")
    with pytest.raises(render.RenderError):
        render.render(tmp_path / "broken")

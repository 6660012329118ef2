"""One source of Prometheus jobs for both stacks; compose.yml's structure."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from stack.prometheus_config import COMPOSE_CONFIG, dump, load_jobs, render
from stack.settings import REPO, StackSettings, StackSettingsError

COMPOSE = yaml.safe_load((REPO / "compose.yml").read_text())
SERVICES = COMPOSE["services"]
# Images without a shell or HTTP client inside, or one-shot jobs: no healthcheck possible.
NO_HEALTHCHECK = {
    "shop-init": "one-shot job, gated by service_completed_successfully",
    "redis-exporter": "built FROM scratch: nothing inside can make a request",
    "k6": "load generator run on demand",
    "locust": "load generator run on demand",
}


def native_settings() -> StackSettings:
    return StackSettings.from_env({})


def test_committed_compose_config_is_fresh():
    assert COMPOSE_CONFIG.read_text() == dump(render("compose")), "run `make prometheus-config`"


def test_both_stacks_scrape_the_same_jobs_with_the_same_rules():
    compose = render("compose")
    native = render(
        "native", native_settings(), rules_dir=str(REPO / "provisioning/prometheus/rules")
    )
    assert [j["job_name"] for j in compose["scrape_configs"]] == [
        j["job_name"] for j in native["scrape_configs"]
    ]
    assert {Path(p).name for p in compose["rule_files"]} == {
        Path(p).name for p in native["rule_files"]
    }
    assert compose["global"]["scrape_interval"] == native["global"]["scrape_interval"]
    jobs = {j["job_name"] for j in compose["scrape_configs"]}
    assert jobs == {"shop", "innodb", "mysql", "redis", "node", "cadvisor", "locust",
                    "prometheus", "alertmanager"}  # fmt: skip
    for job in native["scrape_configs"]:
        for target in [t for sc in job.get("static_configs", []) for t in sc["targets"]]:
            assert target.startswith("127.0.0.1:"), target


@pytest.mark.parametrize("kind", ["compose", "native"])
def test_promtool_accepts_the_config(tmp_path, kind):
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: run `make setup`"
    rules = tmp_path / "rules"
    shutil.copytree(REPO / "provisioning/prometheus/rules", rules)
    config = render(kind, native_settings() if kind == "native" else None, rules_dir=str(rules))
    (tmp_path / "locust.json").write_text("[]")
    (tmp_path / "prometheus.yml").write_text(dump(config))
    result = subprocess.run([promtool, "check", "config", str(tmp_path / "prometheus.yml")],
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_compose_scrape_target_is_a_service_port():
    for job in load_jobs()["jobs"]:
        if "compose" not in job:
            continue
        host, port = job["compose"].split(":")
        assert host in SERVICES, job
        published = {p.rsplit(":", 1)[1] for p in SERVICES[host].get("ports", [])}
        assert port in published, f"{job['name']}: {host} does not expose {port}"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_service_has_pinned_image_or_build(name):
    service = SERVICES[name]
    assert "image" in service or "build" in service
    if "build" not in service:
        image = service["image"]
        assert re.search(r":[\w.-]*\d[\w.-]*$", image), f"{name}: {image} is not pinned"
        assert not image.endswith(":latest")


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_service_has_healthcheck_or_a_reason(name):
    assert "healthcheck" in SERVICES[name] or name in NO_HEALTHCHECK


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_published_ports_are_loopback_only(name):
    for port in SERVICES[name].get("ports", []):
        assert port.startswith("127.0.0.1:"), f"{name}: {port}"


def test_shop_has_the_missions_limits():
    assert SERVICES["shop"]["cpus"] == 2
    assert SERVICES["shop"]["mem_limit"] == "4g"


def test_startup_order_waits_on_health():
    assert (
        SERVICES["shop"]["depends_on"]["shop-init"]["condition"] == "service_completed_successfully"
    )
    assert SERVICES["shop-init"]["depends_on"]["mysql"]["condition"] == "service_healthy"
    assert SERVICES["grafana"]["depends_on"]["prometheus"]["condition"] == "service_healthy"
    assert set(SERVICES["k6"]["profiles"]) == {"k6"}
    assert set(SERVICES["locust"]["profiles"]) == {"locust"}


def test_grafana_is_provisioned_with_fixed_uids_and_no_anonymous_access():
    env = SERVICES["grafana"]["environment"]
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert "GRAFANA_ADMIN_PASSWORD" in env["GF_SECURITY_ADMIN_PASSWORD"]
    sources = yaml.safe_load(
        (REPO / "provisioning/grafana/datasources/datasources.yml").read_text()
    )
    uids = {d["type"]: d["uid"] for d in sources["datasources"]}
    assert uids == {"prometheus": "prometheus", "alertmanager": "alertmanager"}
    for uid in uids.values():
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,40}", uid)


def test_mysql_logs_deadlocks_to_a_volume_the_exporter_reads():
    assert "--innodb-print-all-deadlocks=ON" in SERVICES["mysql"]["command"]
    assert "mysql-log:/var/log/mysql:ro" in SERVICES["innodb-exporter"]["volumes"]
    assert SERVICES["innodb-exporter"]["environment"]["INNODB_EXPORTER_ERROR_LOG"] == (
        "/var/log/mysql/error.log"
    )


@pytest.mark.parametrize(
    ("env", "variable"),
    [({"LOCAL_SHOP_PORT": "http"}, "LOCAL_SHOP_PORT"),
     ({"LOCAL_SHOP_PORT": "80"}, "LOCAL_SHOP_PORT"),
     ({"LOCAL_ORDER_STRATEGY": "x"}, "LOCAL_ORDER_STRATEGY"),
     ({"LOCAL_SHOP_MEMORY": "lots"}, "LOCAL_SHOP_MEMORY")],
)  # fmt: skip
def test_bad_stack_setting_names_the_variable(env, variable):
    with pytest.raises(StackSettingsError, match=variable):
        StackSettings.from_env(env)


def test_each_stack_has_its_own_cgroups(tmp_path):
    default = native_settings()
    other = StackSettings.from_env({"LOCAL_STATE_DIR": str(tmp_path / "stack")})
    assert default.cgroup("shop") == "shop" and default.cgroup("mysql") == "mysql"
    assert other.cgroup("shop").startswith("shop-") and other.cgroup("shop") != "shop"
    assert other.cgroup("shop") == StackSettings.from_env(
        {"LOCAL_STATE_DIR": str(tmp_path / "stack")}
    ).cgroup("shop")  # stable: down finds what up created

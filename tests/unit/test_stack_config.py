"""One service table and one list of Prometheus jobs for both stacks; compose.yml's structure."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
import yaml

from stack import accounts, services
from stack.compose_file import render_compose
from stack.prometheus_config import COMPOSE_CONFIG, dump, render
from stack.runner import _replicas_to_restart, components, mysqld_exporter_cnf
from stack.settings import (
    DEFAULTS_FILE,
    REPO,
    StackSettings,
    StackSettingsError,
    read_env_file,
    read_stack_settings,
)

COMPOSE = yaml.safe_load((REPO / "compose.yml").read_text())
SERVICES = COMPOSE["services"]
# Images without a shell or HTTP client inside, or one-shot jobs: no healthcheck possible.
NO_HEALTHCHECK = {
    "shop-init": "one-shot job, gated by service_completed_successfully",
    "load-plan": "one-shot job, gated by service_completed_successfully",
    "redis-exporter": "built FROM scratch: nothing inside can make a request",
    "nginx-exporter": "built FROM scratch: nothing inside can make a request",
    "k6": "load generator run on demand",
    "locust": "load generator run on demand",
}


def native_settings(**values: str) -> StackSettings:
    return read_stack_settings(values)


# The knobs under which every native row runs (the sales consumer only with async sales).
EVERY_ROW = {"LOCAL_SALES_MODE": "async"}


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
    assert jobs == {"shop", "nginx", "sales", "innodb", "mysql", "redis", "node", "cadvisor",
                    "locust", "prometheus", "alertmanager"}  # fmt: skip
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
    config = render("compose")
    targets = [t for job in config["scrape_configs"] for sc in job.get("static_configs", [])
               for t in sc["targets"]]  # fmt: skip
    targets += config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    for target in targets:
        host, port = target.split(":")
        assert host in SERVICES, target
        published = {p.rsplit(":", 1)[1] for p in SERVICES[host].get("ports", [])}
        assert port in published, f"{host} does not expose {port}"


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
    # compose refuses to start Grafana without a password from .env: `:?`, never a default.
    assert env["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:?")
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
        read_stack_settings(env)


def test_each_stack_has_its_own_cgroups(tmp_path):
    default = native_settings()
    other = read_stack_settings({"LOCAL_STATE_DIR": str(tmp_path / "stack")})
    assert default.cgroup("shop") == "shop" and default.cgroup("mysql") == "mysql"
    assert other.cgroup("shop").startswith("shop-") and other.cgroup("shop") != "shop"
    assert other.cgroup("shop") == read_stack_settings(
        {"LOCAL_STATE_DIR": str(tmp_path / "stack")}
    ).cgroup("shop")  # stable: down finds what up created


# --- one service table -------------------------------------------------------------------------
# Flags that only one stack has, each for a reason that is not drift.
NATIVE_ONLY = {
    "--no-defaults", "--datadir", "--socket", "--pid-file",  # mariadbd's own files
    "--port", "--bind-address", "--bind", "--dir",  # the image's defaults in compose
    "--user",  # mariadbd runs as root natively only
    "--config.my-cnf",  # Debian's mysqld_exporter 0.14 reads its account from a file
    "-e", "-p",  # nginx's early log and prefix: the image's defaults in compose
}  # fmt: skip
COMPOSE_ONLY = {
    "--log-error-verbosity",  # MySQL 8 only; MariaDB has no such option
    "--path.rootfs",  # node_exporter sees the host through a mount
    "--mysqld.address", "--mysqld.username",  # mysqld_exporter 0.15's way to the server
}  # fmt: skip


def flags(argv: list[str]) -> dict[str, str]:
    """{flag: value} of a command line: `--k=v`, `--k v`, `-k v`, or a bare `--k`."""
    out, i = {}, 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("-"):
            name, eq, value = arg.partition("=")
            if not eq and i + 1 < len(argv) and not argv[i + 1].startswith("-"):
                value, i = argv[i + 1], i + 1
            assert name not in out, f"{name} given twice: the last one wins, hiding drift"
            out[name] = value
        i += 1
    return out


def is_place(value: str) -> bool:
    """A path or an address: what legitimately differs between a container and this machine."""
    return "/" in value or ":" in value


def native_command(name: str) -> list[str]:
    """The command of the row's process (its first replica's, for a replicated row); a row
    the defaults leave off (Service.when) as the knob that switches it on renders it."""
    settings = native_settings()
    if not services.SERVICES[name].runs_in(settings):
        settings = native_settings(**EVERY_ROW)
    [component] = [c for c in components(settings) if c.name in (name, f"{name}-1")]
    return component.command


def native_program_args(name: str) -> list[str]:
    """The native command after its program: env, cgroup wrapper and executable stripped."""
    command = native_command(name)
    first, *program = services.SERVICES[name].program_for(services.Native(native_settings()))
    # "python" is this interpreter, which the keeper and the cgroup wrapper run too.
    start = next(i for i, part in enumerate(command)
                 if (part.endswith("python") if first == "python" else Path(part).name == first)
                 and command[i + 1 : i + 1 + len(program)] == list(program))  # fmt: skip
    return command[start + 1 + len(program) :]


BOTH = [r.name for r in services.native_services() if r.compose is not None]


def test_committed_compose_file_is_fresh():
    assert (REPO / "compose.yml").read_text() == render_compose(), (
        "compose.yml is stale: run `make compose-config`"
    )


def test_compose_file_follows_the_compose_spec():
    schema_file = resources.files("check_jsonschema") / "builtin_schemas/vendor/compose-spec.json"
    schema = json.loads(schema_file.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(COMPOSE)]
    assert errors == []


def test_every_process_of_both_stacks_is_a_row_of_the_table():
    assert [c.name for c in components(native_settings(**EVERY_ROW))] == [
        f"{r.name}-1" if r.replicas else r.name for r in services.native_services()
    ]
    assert set(SERVICES) == {name for name, r in services.SERVICES.items() if r.compose is not None}
    assert set(BOTH) >= {"mysql", "redis", "shop", "prometheus", "alertmanager"}


@pytest.mark.parametrize("name", BOTH)
def test_a_service_has_the_same_flags_in_both_stacks(name):
    compose = SERVICES[name].get("command", [])
    row = services.SERVICES[name]
    compose_flags = flags(compose[len(row.entry) :])
    native_flags = flags(native_program_args(name))
    for flag in compose_flags.keys() & native_flags.keys():
        here, there = native_flags[flag], compose_flags[flag]
        assert here == there or (is_place(here) and is_place(there)), f"{name} {flag}"
    assert native_flags.keys() - compose_flags.keys() <= NATIVE_ONLY, name
    assert compose_flags.keys() - native_flags.keys() <= COMPOSE_ONLY, name


@pytest.mark.parametrize("name", BOTH)
def test_a_compose_knob_defaults_to_the_native_value(name):
    """`${SHOP_WORKERS:-4}` in compose, 4 natively: one default, from stack/local.env."""
    native = dict(
        part.split("=", 1) for part in native_command(name)[1:] if "=" in part and "/" not in part
    ) if native_command(name)[0] == "env" else {}  # fmt: skip
    for key, value in SERVICES[name].get("environment", {}).items():
        knob = re.fullmatch(r"\$\{(\w+):-([^}]*)\}", value)
        if knob and key in native:
            assert native[key] == knob[2], f"{name} {key}"


def test_buffer_pool_is_the_same_in_both_stacks():
    compose = flags(SERVICES["mysql"]["command"])["--innodb-buffer-pool-size"]
    native = flags(native_program_args("mysql"))["--innodb-buffer-pool-size"]
    assert compose == native == services.INNODB_BUFFER_POOL == "512M"


@pytest.mark.parametrize("name", ["shop", "mysql"])
def test_limits_are_the_same_in_both_stacks(name):
    command = native_command(name)
    wrapper = command[command.index("cgroup-exec") :]
    native = flags(wrapper[: wrapper.index("--")])
    assert (SERVICES[name]["cpus"], SERVICES[name]["mem_limit"]) == (
        float(native["--cpus"]), native["--memory"],
    )  # fmt: skip


def test_native_ports_are_stack_settings_and_compose_ports_the_services_own():
    local = read_env_file(DEFAULTS_FILE)
    for row in services.native_services():
        assert row.port.local in local, row.name
    for row in services.SERVICES.values():
        if row.compose is not None and row.port and row.port.publish:
            assert SERVICES[row.name]["ports"] == [
                f"127.0.0.1:${{{row.port.publish}:-{row.port.published or row.port.container}}}"
                f":{row.port.container}"
            ]


def test_native_shop_and_compose_start_the_same_server(tmp_path):
    settings = read_stack_settings({"LOCAL_STATE_DIR": str(tmp_path)})
    [shop] = [c for c in components(settings) if c.name == "shop-1"]
    serve = shop.command.index("shop.serve")
    assert shop.command[serve - 2 : serve + 3] == [
        sys.executable, "-m", "shop.serve", "--bind", f"127.0.0.1:{shop.port}",
    ]  # fmt: skip
    assert SERVICES["shop"]["command"] == ["python", "-m", "shop.serve", "--bind", "0.0.0.0:8000"]
    assert f"PROMETHEUS_MULTIPROC_DIR={tmp_path / 'shop-metrics' / 'shop-1'}" in shop.command


def test_spring_target_runs_the_jar_in_the_shops_place_sized_for_its_box(tmp_path):
    settings = read_stack_settings(
        {"LOCAL_STATE_DIR": str(tmp_path), "TARGET": "spring-shop", "LOCAL_SHOP_REPLICAS": "2"}
    )
    shops = [c for c in components(settings) if c.name.startswith("shop-")]
    assert [c.name for c in shops] == ["shop-1", "shop-2"]
    for c in shops:
        java = c.command.index(services.tool("java"))
        assert c.command[java + 1 :] == [
            "-XX:ActiveProcessorCount=2", "-XX:MaxRAM=4g", "-XX:MaxRAMPercentage=50",
            "-XX:+ExitOnOutOfMemoryError", "-jar", str(services.SPRING_SHOP_JAR),
        ]  # fmt: skip
        # Under the shop's cgroup, with the Flask shop's concurrency (4 workers x 4 threads).
        assert "cgroup-exec" in c.command and c.cgroup
        assert f"SHOP_BIND=127.0.0.1:{c.port}" in c.command
        assert "SHOP_THREADS=16" in c.command
        assert not any(part.startswith("PROMETHEUS_MULTIPROC_DIR") for part in c.command)
    [job] = [j for j in render("native", settings)["scrape_configs"] if j["job_name"] == "shop"]
    assert job["metrics_path"] == "/actuator/prometheus"
    assert len(job["static_configs"]) == 2


@pytest.mark.parametrize(
    ("env", "says"),
    [({"TARGET": "quarkus"}, "TARGET='quarkus' is neither a built-in (shop, spring-shop) nor a "),
     ({"TARGET": "spring-shop", "LOCAL_SALES_MODE": "async"},
      "LOCAL_SALES_MODE=async needs the Flask shop (TARGET=shop)")],
)  # fmt: skip
def test_a_bad_target_for_the_stack_is_refused_naming_the_knob(env, says):
    with pytest.raises(StackSettingsError, match=re.escape(says)):
        read_stack_settings(env)


def test_an_external_target_gets_prometheus_and_the_exporters_on_its_own_database(tmp_path):
    mine = tmp_path / "mine.yaml"
    mine.write_text("like: spring-shop\nname: mine\napp: {url: 'http://127.0.0.1:8081'}\n"
                    "database: {dsn: 'mysql://mon:pw@127.0.0.1:3307/orders'}\n")  # fmt: skip
    settings = read_stack_settings({"LOCAL_STATE_DIR": str(tmp_path), "TARGET": str(mine)})
    names = [c.name for c in components(settings)]
    for theirs in (
        "mysql",
        "redis",
        "shop-1",
        "nginx",
        "redis-exporter",
        "nginx-exporter",
        "cgroup-exporter",
    ):  # no cgroup of theirs here to export
        assert theirs not in names
    assert {"innodb-exporter", "mysqld-exporter", "prometheus", "alertmanager"} <= set(names)
    innodb = next(c for c in components(settings) if c.name == "innodb-exporter")
    assert "INNODB_EXPORTER_DSN=mysql://mon:pw@127.0.0.1:3307/" in innodb.command
    assert "port=3307" in mysqld_exporter_cnf(settings)
    jobs = {j["job_name"]: j for j in render("native", settings)["scrape_configs"]}
    assert jobs["shop"]["static_configs"] == [{"targets": ["127.0.0.1:8081"]}]
    assert jobs["shop"]["metrics_path"] == "/actuator/prometheus"
    assert not {"redis", "nginx", "sales", "cadvisor"} & set(jobs)
    assert settings.database_url == "mysql+pymysql://mon:pw@127.0.0.1:3307/orders"


def test_compose_scrapes_the_spring_profile_under_the_shop_job():
    config = yaml.safe_load(COMPOSE_CONFIG.read_text())
    [job] = [j for j in config["scrape_configs"] if j["job_name"] == "shop"]
    assert [d["names"] for d in job["dns_sd_configs"]] == [["shop"], ["spring-shop"]]
    assert "metrics_path" not in job  # both answer /metrics (the contract's route)
    assert SERVICES["spring-shop"]["profiles"] == ["spring"]


def test_a_switch_of_the_shops_own_knobs_restarts_the_replicas_alone(tmp_path):
    """`stack.runner.switch`: a strategy or a debug delay changes only the replicas' command lines
    (their keepers restart them); replicas, limits or the sales mode change other processes, a
    whole restart."""
    base = {"LOCAL_STATE_DIR": str(tmp_path), "LOCAL_SHOP_REPLICAS": "2"}
    now = read_stack_settings(base)
    for knobs in ({"LOCAL_ORDER_STRATEGY": "naive"}, {"LOCAL_SHOP_DEBUG_DELAY_MS": "60"}):
        wanted = read_stack_settings({**base, **knobs})
        assert _replicas_to_restart(now, wanted) == ["shop-1", "shop-2"], knobs
    assert _replicas_to_restart(now, now) == []
    for knobs in ({"LOCAL_SHOP_REPLICAS": "3"}, {"LOCAL_SHOP_CPUS": "0.5"},
                  {"LOCAL_SALES_MODE": "async"}, {"LOCAL_PROMETHEUS_PORT": "29999"}):  # fmt: skip
        assert _replicas_to_restart(now, read_stack_settings({**base, **knobs})) is None, knobs
    # What the keeper restarts is the replica's own line, without the keeper around it.
    [shop] = [p for p in services.native_processes(now) if p.name == "shop-1"]
    kept = services.kept_command(shop, now)
    assert services.native_command(shop, now)[-len(kept) :] == kept
    assert "keep" not in kept and kept[-2:] == ["--bind", f"127.0.0.1:{now.replica_port(1)}"]


def test_each_replica_has_its_port_cgroup_metrics_and_socket_behind_one_nginx(tmp_path):
    settings = read_stack_settings({"LOCAL_STATE_DIR": str(tmp_path), "LOCAL_SHOP_REPLICAS": "3",
                                       "LOCAL_SHOP_REPLICA_PORT": "28001"})  # fmt: skip
    shops = [c for c in components(settings) if c.name.startswith("shop-")]
    assert [(c.name, c.port) for c in shops] == [("shop-1", 28001), ("shop-2", 28002),
                                                 ("shop-3", 28003)]  # fmt: skip
    assert len({c.cgroup for c in shops}) == 3
    for c in shops:
        # The keeper first (honcho watches it), then the cgroup of its own, then the server.
        assert c.command[1:5] == ["-m", "stack", "keep", c.name]
        assert c.command[c.command.index("cgroup-exec") + 5] == c.cgroup
        assert c.command[-2:] == ["--bind", f"127.0.0.1:{c.port}"]
        assert f"PROMETHEUS_MULTIPROC_DIR={tmp_path / 'shop-metrics' / c.name}" in c.command
    [nginx] = [c for c in components(settings) if c.name == "nginx"]
    assert nginx.port == settings.port("LOCAL_SHOP_PORT")
    exporter = render("native", settings)["scrape_configs"]
    [shop_job] = [j for j in exporter if j["job_name"] == "shop"]
    assert shop_job["static_configs"] == [
        {"targets": [f"127.0.0.1:{c.port}"], "labels": {"replica": c.name[-1]}} for c in shops
    ]
    groups = services.cgroup_names(settings)
    assert list(groups) == ["mysql", "shop:1", "shop:2", "shop:3"]
    assert [groups[f"shop:{i}"] for i in (1, 2, 3)] == [c.cgroup for c in shops]


def test_nginx_retries_only_failed_connections_over_every_replica(tmp_path):
    from stack import balancer

    settings = read_stack_settings({"LOCAL_STATE_DIR": str(tmp_path), "LOCAL_SHOP_REPLICAS": "2",
                                       "LOCAL_SHOP_REPLICA_PORT": "28001"})  # fmt: skip
    conf = balancer.render(services.nginx_balancer(services.Native(settings)))
    directives = {line.strip().rstrip(";") for line in conf.splitlines()}
    assert "server 127.0.0.1:28001 max_fails=1 fail_timeout=5s" in directives
    assert "server 127.0.0.1:28002 max_fails=1 fail_timeout=5s" in directives
    # A POST that reached a replica is never re-sent: `error` alone, no `non_idempotent`.
    assert "proxy_next_upstream error" in directives
    assert "non_idempotent" not in conf
    assert f"proxy_connect_timeout {balancer.CONNECT_TIMEOUT}" in directives
    assert f"keepalive {balancer.KEEPALIVE}" in directives
    assert f"listen 127.0.0.1:{settings.port('LOCAL_SHOP_PORT')} backlog=2048" in directives
    compose = balancer.COMPOSE_CONF.read_text()
    assert "server shop:8000 max_fails=1 fail_timeout=5s;" in compose


@pytest.mark.parametrize("kind", ["compose", "native"])
def test_nginx_accepts_the_config(tmp_path, kind):
    from stack import balancer

    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    assert nginx, "nginx missing: run `make setup`"
    settings = read_stack_settings({"LOCAL_STATE_DIR": str(tmp_path)})
    target = services.Native(settings) if kind == "native" else services.Compose({})
    conf = balancer.render(services.nginx_balancer(target))
    # compose's upstream is a service name nginx resolves at start: stand it in for loopback.
    conf = conf.replace("server shop:8000", "server 127.0.0.1:8000")
    (tmp_path / "logs").mkdir()
    (tmp_path / "nginx").mkdir()
    (tmp_path / "nginx.conf").write_text(conf)
    result = subprocess.run([nginx, "-t", "-q", "-e", "stderr", "-p", str(tmp_path / "nginx"),
                             "-c", str(tmp_path / "nginx.conf")],
                            capture_output=True, text=True, timeout=30)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_runs_replicas_behind_nginx_and_scrapes_each():
    shop = SERVICES["shop"]
    assert shop["deploy"] == {"replicas": "${SHOP_REPLICAS:-1}"}
    assert "container_name" not in shop and "ports" not in shop  # N containers, one door
    assert SERVICES["nginx"]["ports"] == ["127.0.0.1:${SHOP_PORT:-8000}:8000"]
    [job] = [j for j in render("compose")["scrape_configs"] if j["job_name"] == "shop"]
    assert job["dns_sd_configs"][0]["names"] == ["shop"]
    assert SERVICES["load-plan"]["environment"]["SHOP_URL"] == "http://nginx:8000"


@pytest.mark.parametrize("raw", ["0", "17", "two", "-1"])
def test_bad_replica_count_names_the_variable(raw):
    with pytest.raises(StackSettingsError, match="LOCAL_SHOP_REPLICAS"):
        read_stack_settings({"LOCAL_SHOP_REPLICAS": raw})


def test_procfile_lines_run_the_table_commands(tmp_path):
    from stack.runner import _procfile

    settings = read_stack_settings({"LOCAL_STATE_DIR": str(tmp_path)})
    (tmp_path / "logs").mkdir()
    lines = dict(line.split(": ", 1) for line in _procfile(settings).read_text().splitlines())
    for component in components(settings):
        words = shlex.split(lines[component.name])
        if component.restartable:
            # Started again while a fault holds it down (make chaos), else its exit ends all.
            hold = str(tmp_path / "hold" / component.name)
            loop = words.index("do") + 1
            assert words[loop : loop + len(component.command)] == component.command
            assert f"[ -e {hold} ] || exit $rc;" in lines[component.name]
        else:
            assert words[0] == "exec"
            assert words[1 : 1 + len(component.command)] == component.command


def test_compose_load_tools_read_the_plan_the_runner_code_resolves(tmp_path):
    """k6 and Locust in compose parse no knob: both read results/plan.json, written once by
    `load-plan` with `python -m lab.load plan`, whose imports the containers mount."""
    services = COMPOSE["services"]
    plan = services["load-plan"]
    for tool in ("k6", "locust"):
        assert services[tool]["environment"]["LOAD_PLAN"] == "/shoplab/results/plan.json"
        assert services[tool]["depends_on"]["load-plan"] == {
            "condition": "service_completed_successfully"
        }
    assert "python -m lab.load plan > /shoplab/results/plan.json" in plan["command"]
    mounted = {v.split(":")[0].removeprefix("./") for v in plan["volumes"]}
    # What `python -m lab.load plan` imports of this repo, measured in a fresh interpreter.
    probe = subprocess.run(
        [sys.executable, "-c", "import sys, lab.load.cli; print(' '.join(sorted({m.split('.')[0] "
         "for m in sys.modules})))"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    ours = {name for name in probe if (REPO / name / "__init__.py").exists()}
    assert ours <= mounted, ours - mounted
    locust_mounts = {v.split(":")[0].removeprefix("./") for v in services["locust"]["volumes"]}
    assert ours <= locust_mounts


def grants_of(user: str, sql: list[str] | str) -> list[str]:
    lines = sql.splitlines() if isinstance(sql, str) else sql
    return [line.rstrip(";") for line in lines if line.startswith("GRANT") and f"'{user}'" in line]


def test_the_exporters_use_their_own_least_privilege_accounts_in_every_stack(tmp_path):
    from stack.runner import mysqld_exporter_cnf

    innodb, mysqld = accounts.INNODB_EXPORTER, accounts.MYSQLD_EXPORTER
    dsn = f"mysql://{innodb.user}:{innodb.password}@"
    row = services.SERVICES["innodb-exporter"]
    assert row.env(services.Native(native_settings()))["INNODB_EXPORTER_DSN"].startswith(dsn)
    assert SERVICES["innodb-exporter"]["environment"]["INNODB_EXPORTER_DSN"].startswith(dsn)
    assert f"--mysqld.username={mysqld.user}" in SERVICES["mysqld-exporter"]["command"]
    assert SERVICES["mysqld-exporter"]["environment"]["MYSQLD_EXPORTER_PASSWORD"] == (
        f"${{MYSQL_EXPORTER_PASSWORD:-{mysqld.password}}}"
    )
    cnf = mysqld_exporter_cnf(native_settings(LOCAL_STATE_DIR=str(tmp_path)))
    assert f"user={mysqld.user}\npassword={mysqld.password}\n" in cnf
    # One source: the native seed and compose's init SQL (the file is generated, and fresh).
    native = accounts.native_statements()
    init = accounts.INIT_SQL.read_text()
    assert init == accounts.init_sql(accounts.MYSQL)
    assert grants_of(mysqld.user, native) == [
        f"GRANT PROCESS ON *.* TO '{mysqld.user}'@'127.0.0.1'"
    ]
    assert grants_of(mysqld.user, init) == [f"GRANT PROCESS ON *.* TO '{mysqld.user}'@'%'"]
    assert grants_of(innodb.user, native) == [
        f"GRANT PROCESS ON *.* TO '{innodb.user}'@'127.0.0.1'"
    ]
    assert grants_of(innodb.user, init) == [
        f"GRANT PROCESS ON *.* TO '{innodb.user}'@'%'",
        f"GRANT SELECT ON performance_schema.data_locks TO '{innodb.user}'@'%'",
        f"GRANT SELECT ON performance_schema.data_lock_waits TO '{innodb.user}'@'%'",
    ]
    # MariaDB (the test cluster's) gets the same, less MySQL 8's tables it does not have.
    mariadb = accounts.init_sql(accounts.MARIADB)
    assert grants_of(mysqld.user, mariadb) == grants_of(mysqld.user, init)
    assert grants_of(innodb.user, mariadb) == grants_of(innodb.user, init)[:1]


def test_the_sales_consumer_runs_and_is_scraped_only_with_async_sales(tmp_path):
    def stack(mode: str):
        settings = native_settings(LOCAL_STATE_DIR=str(tmp_path), LOCAL_SALES_MODE=mode)
        names = [c.name for c in components(settings)]
        jobs = render("native", settings)["scrape_configs"]
        [job] = [j for j in jobs if j["job_name"] == "sales"]
        [shop] = [c for c in components(settings) if c.name == "shop-1"]
        return names, job, shop.command

    names, job, shop = stack("sync")
    assert "sales-consumer" not in names
    assert job == {"job_name": "sales"}  # a job without targets: nothing down to alert on
    assert "SHOP_SALES_MODE=sync" in shop
    names, job, shop = stack("async")
    assert "sales-consumer" in names
    port = native_settings(LOCAL_SALES_CONSUMER_PORT="19110").port("LOCAL_SALES_CONSUMER_PORT")
    assert job["static_configs"] == [{"targets": [f"127.0.0.1:{port}"]}]
    assert "SHOP_SALES_MODE=async" in shop
    # compose: the service behind a profile, found by DNS (no container, no target).
    assert SERVICES["sales-consumer"]["profiles"] == ["sales"]
    [compose_job] = [j for j in render("compose")["scrape_configs"] if j["job_name"] == "sales"]
    assert compose_job["dns_sd_configs"][0]["names"] == ["sales-consumer"]
    assert SERVICES["shop"]["environment"]["SHOP_SALES_MODE"] == "${SHOP_SALES_MODE:-sync}"


def test_a_bad_sales_mode_is_named():
    with pytest.raises(StackSettingsError, match="LOCAL_SALES_MODE"):
        native_settings(LOCAL_SALES_MODE="later")


def test_a_failed_start_names_the_process_that_exited_first(tmp_path):
    """honcho stops every process when one exits: the one to read is the first that did."""
    from stack.runner import _first_exit

    log = tmp_path / "honcho.log"
    log.write_text(
        "19:07:09 system            | nginx-exporter.1 started (pid=11)\n"
        "19:07:10 system            | nginx-exporter.1 stopped (rc=1)\n"
        "19:07:10 system            | sending SIGTERM to mysql.1 (pid 12)\n"
        "19:07:10 system            | mysql.1 stopped (rc=143)\n"
    )
    assert _first_exit(log) == "nginx-exporter"
    assert _first_exit(tmp_path / "none.log") == ""


def test_the_native_nginx_exporter_waits_for_nginx_instead_of_exiting(tmp_path):
    """Debian's exporter (0.11) exits at once when nginx is not up yet, which stops the whole
    stack: natively it retries (its environment; the image's 1.x ignores it)."""
    settings = read_stack_settings({"LOCAL_STATE_DIR": str(tmp_path)})
    [exporter] = [c for c in components(settings) if c.name == "nginx-exporter"]
    assert "NGINX_RETRIES=60" in exporter.command and "NGINX_RETRY_INTERVAL=1s" in exporter.command

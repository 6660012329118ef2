"""compose.yml, rendered from the service table (`make compose-config`; checked fresh by a test)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import yaml

from stack import accounts, balancer
from stack.services import SERVICES, VOLUMES, Compose, Service, nginx_balancer
from stack.settings import DEFAULTS_FILE, REPO, read_env_file

COMPOSE_FILE = REPO / "compose.yml"


def _healthcheck(row: Service) -> dict | None:
    health = row.health
    if health.test:
        test = ["CMD", *health.test]
    elif health.probe == "wget":
        url = f"http://127.0.0.1:{row.port.container}{health.path}"
        test = ["CMD", "wget", "-q", "-O", "/dev/null", url]
    elif health.probe == "python":
        url = f"http://127.0.0.1:{row.port.container}{health.path}"
        test = [
            "CMD",
            "python",
            "-c",
            f"import urllib.request; urllib.request.urlopen('{url}', timeout=2)",
        ]
    else:
        return None
    check = {"test": test, "interval": health.interval, "timeout": "3s", "retries": health.retries}
    if health.start_period:
        check["start_period"] = health.start_period
    return check


def _number(raw: str) -> int | float:
    value = float(raw)
    return int(value) if value.is_integer() else value


def compose_service(row: Service, defaults: Mapping[str, str]) -> dict:
    """The compose.yml entry of one row of the table."""
    t = Compose(defaults)
    extra = dict(row.compose)
    depends_on = extra.pop("depends_on", None)
    out: dict = {k: extra.pop(k) for k in ("build", "image") if k in extra}
    if row.replicas:
        # Replicas are named by compose (shoplab-shop-1, ...): Prometheus relabels cAdvisor's
        # `name` to the service and `replica` to the container's number (jobs.yml).
        out["deploy"] = {"replicas": t.knob(row.replicas.removeprefix("LOCAL_"), row.replicas)}
    else:
        out["container_name"] = row.name  # cAdvisor's `name` label is then the service
    if "profiles" in extra:
        out["profiles"] = extra.pop("profiles")
    args = row.args(t)
    if row.entry or args:
        out["command"] = [*row.entry, *args]
    env = row.env(t)
    if env:
        out["environment"] = env
    out.update(extra)
    if row.port and row.port.publish:
        container = row.port.container
        published = row.port.published or container
        out["ports"] = [f"127.0.0.1:${{{row.port.publish}:-{published}}}:{container}"]
    if row.limits:
        out["cpus"] = _number(defaults[row.limits.cpus])
        out["mem_limit"] = defaults[row.limits.memory]
    check = _healthcheck(row) if row.health else None
    if check:
        out["healthcheck"] = check
    if depends_on:
        out["depends_on"] = depends_on
    return out


HEADER = """\
# GENERATED from stack/services.py by `make compose-config` (stack/compose_file.py): edit those.
# The shoplab stack under Docker: `make up` (or `docker compose up -d`), then Grafana at
# http://127.0.0.1:3000. Every published port is bound to 127.0.0.1; image tags are pinned.
# Load generators run on demand: `docker compose --profile k6 run --rm k6 ...`,
# `docker compose --profile locust up locust`.
"""


def _comment(text: str, indent: str) -> str:
    lines, line = [], ""
    for word in text.split():
        if line and len(indent) + len(line) + len(word) + 3 > 100:
            lines.append(line)
            line = ""
        line = f"{line} {word}".strip()
    return "".join(f"{indent}# {part}\n" for part in [*lines, line])


def render_compose(defaults: Mapping[str, str] | None = None) -> str:
    """compose.yml's text: every service of the table that runs in compose."""
    defaults = read_env_file(DEFAULTS_FILE) if defaults is None else defaults
    parts = [HEADER, "name: shoplab\n\nservices:"]
    for row in SERVICES.values():
        if row.compose is None:
            continue
        body = yaml.safe_dump(
            {row.name: compose_service(row, defaults)},
            sort_keys=False,
            width=100,
            default_flow_style=False,
        )
        parts.append("\n" + (_comment(row.note, "  ") if row.note else ""))
        parts.append("\n".join(f"  {line}" for line in body.splitlines()) + "\n")
    parts.append("\nvolumes:\n" + "".join(f"  {name}: {{}}\n" for name in VOLUMES))
    return "".join(parts)


def rendered() -> dict[Path, str]:
    """Every file `make compose-config` writes: compose.yml, the nginx.conf and the MySQL
    accounts' init SQL it mounts."""
    nginx = balancer.render(nginx_balancer(Compose(read_env_file(DEFAULTS_FILE))))
    return {
        COMPOSE_FILE: render_compose(),
        balancer.COMPOSE_CONF: nginx,
        accounts.INIT_SQL: accounts.init_sql(accounts.MYSQL),
    }


def write_compose() -> list[Path]:
    for path, text in rendered().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return list(rendered())


def stale() -> list[Path]:
    return [p for p, text in rendered().items() if not p.exists() or p.read_text() != text]

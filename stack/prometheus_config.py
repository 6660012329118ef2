"""Renders provisioning/prometheus/jobs.yml into the compose and the native prometheus.yml."""

from __future__ import annotations

from pathlib import Path

import yaml

from stack.settings import REPO, StackSettings

JOBS_FILE = REPO / "provisioning" / "prometheus" / "jobs.yml"
COMPOSE_CONFIG = REPO / "provisioning" / "prometheus" / "prometheus.yml"
HEADER = (
    "# GENERATED from provisioning/prometheus/jobs.yml by `make prometheus-config`: edit that.\n"
)


def load_jobs() -> dict:
    return yaml.safe_load(JOBS_FILE.read_text())


def render(kind: str, settings: StackSettings | None = None, rules_dir: str = "rules") -> dict:
    """The Prometheus config for `kind` ("compose" or "native")."""
    source = load_jobs()
    scrape_configs = []
    for job in source["jobs"]:
        config: dict = {"job_name": job["name"]}
        if "file_sd" in job:
            config["file_sd_configs"] = [{"files": [job["file_sd"]], "refresh_interval": "5s"}]
        elif kind == "compose":
            config["static_configs"] = [{"targets": [job["compose"]]}]
        else:
            port = settings.port(job["native_port"])
            config["static_configs"] = [{"targets": [f"127.0.0.1:{port}"]}]
        scrape_configs.append(config)
    alerting = source["alerting"]
    target = (
        alerting["compose"]
        if kind == "compose"
        else f"127.0.0.1:{settings.port(alerting['native_port'])}"
    )
    return {
        "global": dict(source["global"], external_labels={"stack": kind}),
        "rule_files": [f"{rules_dir}/{Path(p).name}" for p in source["rule_files"]],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [target]}]}]},
        "scrape_configs": scrape_configs,
    }


def dump(config: dict) -> str:
    return HEADER + yaml.safe_dump(config, sort_keys=False)


def write_compose_config() -> Path:
    COMPOSE_CONFIG.write_text(dump(render("compose")))
    return COMPOSE_CONFIG

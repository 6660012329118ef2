"""Renders provisioning/prometheus/jobs.yml into the compose and the native prometheus.yml."""

from __future__ import annotations

from pathlib import Path

import yaml

from stack.services import SERVICES, Compose, Native
from stack.settings import DEFAULTS_FILE, REPO, StackSettings, read_env_file

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
    where = Compose(read_env_file(DEFAULTS_FILE)) if kind == "compose" else Native(settings)

    def target(entry: dict) -> str:
        service = entry["service"] if kind == "compose" else entry.get("native_service")
        return where.addr(service or entry["service"])

    def replicas(service: str) -> dict:
        """Every replica of a replicated service: natively each port with its `replica`
        label; in compose every address Docker's DNS holds for the service's name."""
        if kind == "compose":
            host, port = where.addr(service).split(":")
            return {"dns_sd_configs": [{"names": [host], "type": "A", "port": int(port),
                                        "refresh_interval": "5s"}]}  # fmt: skip
        count = settings.replicas
        return {"static_configs": [
            {"targets": [Native(settings, i).addr(service)], "labels": {"replica": str(i)}}
            for i in range(1, count + 1)
        ]}  # fmt: skip

    def optional(service: str) -> dict:
        """A service that runs only when a knob says so (Service.when): in compose the
        addresses Docker's DNS holds for its name (none while its profile is off), natively
        its port only while it runs, so a stack without it has no down target."""
        if kind == "compose":
            host, port = where.addr(service).split(":")
            return {"dns_sd_configs": [{"names": [host], "type": "A", "port": int(port),
                                        "refresh_interval": "30s"}]}  # fmt: skip
        if not SERVICES[service].runs_in(settings):
            return {}
        return {"static_configs": [{"targets": [where.addr(service)]}]}

    def external(job: dict) -> dict | None:
        """The app's job for a target the user runs: where its file says to scrape it."""
        if kind != "native" or job.get("service") != "shop" or not settings.target.external:
            return None
        target = settings.target
        if target.dialect == "none":
            return {}
        return {"static_configs": [{"targets": list(target.scrape)}],
                "metrics_path": target.metrics_path}  # fmt: skip

    scrape_configs = []
    for job in source["jobs"]:
        config: dict = {"job_name": job["name"]}
        outside = external(job)
        if outside is None and _not_here(kind, job, settings):
            continue  # a service of the app this stack does not run (the user runs the app)
        if outside is not None:
            config.update(outside)
        elif "file_sd" in job:
            config["file_sd_configs"] = [{"files": [job["file_sd"]], "refresh_interval": "5s"}]
        elif SERVICES[job["service"]].replicas:
            config.update(replicas(job["service"]))
        elif SERVICES[job["service"]].when:
            config.update(optional(job["service"]))
        else:
            config["static_configs"] = [{"targets": [target(job)]}]
        if "file_sd" not in job and outside is None:
            native = job.get("native_service") if kind == "native" else None
            row = SERVICES[native or job["service"]]
            path = row.metrics_path(where) if row.metrics_path else "/metrics"
            if path != "/metrics":
                config["metrics_path"] = path
        if kind == "compose":
            # Services a compose profile adds beside the job's own (the Spring shop), each found
            # by its DNS name: no target while the profile is off.
            for service in job.get("compose_also", []):
                host, port = where.addr(service).split(":")
                config.setdefault("dns_sd_configs", []).append(
                    {"names": [host], "type": "A", "port": int(port), "refresh_interval": "5s"}
                )
        if "metric_relabel_configs" in job:
            config["metric_relabel_configs"] = job["metric_relabel_configs"]
        scrape_configs.append(config)
    alertmanager = target(source["alerting"])
    return {
        "global": dict(source["global"], external_labels={"stack": kind}),
        "rule_files": [f"{rules_dir}/{Path(p).name}" for p in source["rule_files"]],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
        "scrape_configs": scrape_configs,
    }


def _not_here(kind: str, job: dict, settings: StackSettings | None) -> bool:
    """Natively, a job whose service the stack does not run for its target (serves_app)."""
    if kind != "native" or "file_sd" in job:
        return False
    row = SERVICES[job.get("native_service") or job["service"]]
    return row.serves_app and settings.target.external


def dump(config: dict) -> str:
    return HEADER + yaml.safe_dump(config, sort_keys=False)


def write_compose_config() -> Path:
    COMPOSE_CONFIG.write_text(dump(render("compose")))
    return COMPOSE_CONFIG

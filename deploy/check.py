"""deploy/k8s/ checked offline (`make lint`): every kustomization rendered with the venv's kubectl,
every object validated (Kubernetes' schemas, k6-operator's CRD, prometheus-adapter's config
format), and what the manifests share with compose held to the service table."""

from __future__ import annotations

import argparse
import copy
import json
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml

from dashboards.promql import listed_metrics, metric_names, unlisted

REPO = Path(__file__).resolve().parents[1]
K8S_DIR = REPO / "deploy" / "k8s"
# The API the manifests are written for (kubernetes-validate ships its schemas offline).
K8S_VERSION = "1.34.0"
# k6-operator's CRD, read in place from the shared folder beside the repository.
TESTRUN_CRD = REPO.parent / "shared" / "k8s-crds" / "k6.io_testruns.yaml"
ADAPTER_CONFIGMAP = "prometheus-adapter-shoplab"
# The plan the load overlay's tools run: `python -m loadtest plan` with these flags.
PLAN_FILE = K8S_DIR / "load" / "plan.json"
PLAN_ARGS = ("--scenario", "load", "--shop-url", "http://shop:8000")
KUBECTL = Path(sys.executable).parent / "kubectl"


class RenderError(RuntimeError):
    """kubectl kustomize failed; the message is its first line of complaint."""


@dataclass
class CheckResult:
    failures: list[str] = field(default_factory=list)
    objects: int = 0
    kustomizations: int = 0


def kustomizations(root: Path = K8S_DIR) -> list[Path]:
    """Every folder under deploy/k8s/ that kustomize can build."""
    return sorted(p.parent for p in root.rglob("kustomization.yaml"))


def render(directory: Path) -> list[dict]:
    """The objects `kubectl kustomize` builds from `directory` (files outside deploy/k8s are
    read in place: the rules, dashboards and scripts have one home, in the repository)."""
    if not KUBECTL.exists():
        raise RenderError(f"{KUBECTL} not found: run `make setup`")
    proc = subprocess.run(
        [str(KUBECTL), "kustomize", "--load-restrictor", "LoadRestrictionsNone", str(directory)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"]
        raise RenderError(lines[0])
    return [obj for obj in yaml.safe_load_all(proc.stdout) if obj]


def name_of(obj: Mapping) -> str:
    return f"{obj.get('kind', '?')}/{obj.get('metadata', {}).get('name', '?')}"


def _path(error: jsonschema.ValidationError) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "(top)"


# --- the schemas -----------------------------------------------------------------------------


def _closed(schema: dict) -> dict:
    """The schema with unknown fields refused, as the API server's strict field validation
    does for a structural CRD schema (unless it preserves unknown fields)."""
    schema = copy.deepcopy(schema)

    def close(node: object) -> None:
        if isinstance(node, dict):
            if (
                "properties" in node
                and "additionalProperties" not in node
                and not node.get("x-kubernetes-preserve-unknown-fields")
            ):
                node["additionalProperties"] = False
            for value in node.values():
                close(value)
        elif isinstance(node, list):
            for value in node:
                close(value)

    close(schema)
    return schema


@cache
def testrun_schema(crd_path: Path = TESTRUN_CRD) -> dict:
    """The TestRun's openAPIV3Schema (k6.io/v1alpha1), closed to unknown fields."""
    crd = yaml.safe_load(crd_path.read_text())
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1")
    return _closed(version["schema"]["openAPIV3Schema"])


def validate_testrun(obj: Mapping) -> list[str]:
    if obj.get("apiVersion") != "k6.io/v1alpha1":
        return [f"apiVersion {obj.get('apiVersion')!r}: the CRD serves k6.io/v1alpha1"]
    validator = jsonschema.Draft7Validator(testrun_schema())
    errors = sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path))
    return [f"{_path(e)}: {e.message}" for e in errors]


def validate_kubernetes(obj: Mapping) -> list[str]:
    try:
        kubernetes_validate.validate(dict(obj), K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [f"{_path(exc)}: {exc.message}"]
    except kubernetes_validate.SchemaNotFoundError as exc:
        return [exc.message]
    return []


# prometheus-adapter's config.yaml (its docs/config.md): discovery, association, naming, querying.
ADAPTER_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "rules": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/rule"}},
        "externalRules": {"type": "array", "items": {"$ref": "#/$defs/rule"}},
        "resourceRules": {"type": "object"},
    },
    "required": ["rules"],
    "$defs": {
        "rule": {
            "type": "object",
            "additionalProperties": False,
            "required": ["seriesQuery", "resources", "name", "metricsQuery"],
            "properties": {
                "seriesQuery": {"type": "string", "minLength": 1},
                "seriesFilters": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {"is": {"type": "string"}, "isNot": {"type": "string"}},
                    },
                },
                "resources": {
                    "type": "object",
                    "additionalProperties": False,
                    "minProperties": 1,
                    "properties": {
                        "template": {"type": "string", "pattern": "<<\\.Resource>>"},
                        "overrides": {
                            "type": "object",
                            "minProperties": 1,
                            "additionalProperties": {
                                "type": "object",
                                "additionalProperties": False,
                                "required": ["resource"],
                                "properties": {
                                    "group": {"type": "string"},
                                    "resource": {"type": "string", "minLength": 1},
                                },
                            },
                        },
                        "namespaced": {"type": "boolean"},
                    },
                },
                "name": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["matches"],
                    "properties": {"matches": {"type": "string"}, "as": {"type": "string"}},
                },
                "metricsQuery": {
                    "type": "string",
                    "allOf": [{"pattern": "<<\\.Series>>"}, {"pattern": "<<\\.LabelMatchers>>"}],
                },
            },
        }
    },
}


def shop_metrics(metrics_md: str | None = None) -> set[str]:
    """The metric names docs/metrics.md lists in the shop's section."""
    text = (REPO / "docs" / "metrics.md").read_text() if metrics_md is None else metrics_md
    section = text.split("<!-- section: shop")[1].split("<!-- end section: shop -->")[0]
    return listed_metrics(section)


def adapter_metric_names(config: Mapping) -> set[str]:
    """The custom metrics the adapter's rules serve (name.as, or the series name)."""
    return {rule["name"].get("as") or rule["seriesQuery"] for rule in config.get("rules", [])}


def check_adapter_config(config: object) -> list[str]:
    """prometheus-adapter's format, and every rule on a series the shop really exports."""
    validator = jsonschema.Draft202012Validator(ADAPTER_SCHEMA)
    errors = [f"{_path(e)}: {e.message}" for e in validator.iter_errors(config)]
    if errors:
        return errors
    exported = shop_metrics()
    for i, rule in enumerate(config["rules"]):
        where = f"rules.{i}"
        try:
            names = metric_names(rule["seriesQuery"])
        except ValueError as exc:
            errors.append(f"{where}.seriesQuery: {str(exc).splitlines()[0]}")
            continue
        errors += [
            f"{where}.seriesQuery: {name} is not a shop metric of docs/metrics.md"
            for name in sorted(unlisted(names, exported))
        ]
        try:
            matches = re.compile(rule["name"]["matches"])
        except re.error as exc:
            errors.append(f"{where}.name.matches: {exc}")
            continue
        errors += [
            f"{where}.name.matches: does not match the series {name}"
            for name in sorted(names)
            if not matches.search(name)
        ]
    return errors


def validate(obj: Mapping) -> list[str]:
    """One line per problem of one rendered object (empty: valid)."""
    if str(obj.get("apiVersion", "")).startswith("k6.io/"):
        return validate_testrun(obj)
    errors = validate_kubernetes(obj)
    if obj.get("kind") == "ConfigMap" and obj["metadata"].get("name") == ADAPTER_CONFIGMAP:
        errors += [f"config.yaml: {e}" for e in check_adapter_config(_adapter_config(obj))]
    return errors


def _adapter_config(obj: Mapping) -> object:
    return yaml.safe_load(obj.get("data", {}).get("config.yaml", "") or "{}")


# --- what the manifests share with the repository --------------------------------------------


def find(objects: Iterable[Mapping], kind: str, name: str) -> Mapping | None:
    return next((o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name), None)


def container_of(obj: Mapping) -> Mapping:
    return obj["spec"]["template"]["spec"]["containers"][0]


def compose_services() -> dict[str, dict]:
    """compose's services as the service table renders them, `${VAR:-default}` at defaults."""
    from stack.compose_file import compose_service
    from stack.services import SERVICES
    from stack.settings import DEFAULTS_FILE, read_env_file

    defaults = read_env_file(DEFAULTS_FILE)
    rendered = {
        name: compose_service(row, defaults)
        for name, row in SERVICES.items()
        if row.compose is not None
    }
    return json.loads(re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", json.dumps(rendered)))


def k8s_memory(compose_memory: str) -> str:
    """Docker's binary units (4g, 512m) in Kubernetes' spelling (4Gi, 512Mi)."""
    number, unit = re.fullmatch(r"(\d+)([kmg]?)b?", compose_memory.lower()).groups()
    return number + {"": "", "k": "Ki", "m": "Mi", "g": "Gi"}[unit]


def k8s_resources(compose: Mapping) -> dict:
    """compose's cpus / mem_limit as requests equal to limits (the box, guaranteed)."""
    box = {"cpu": str(compose["cpus"]), "memory": k8s_memory(compose["mem_limit"])}
    return {"requests": box, "limits": dict(box)}


def _env(container: Mapping) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def check_parity(objects: Sequence[Mapping]) -> list[str]:
    """The shop (and, where rendered, the test cluster's MariaDB, Redis and seed) run what
    compose runs: one source, stack/services.py."""
    compose, errors = compose_services(), []
    shop = find(objects, "Deployment", "shop")
    if shop:
        c = container_of(shop)
        # The Spring overlay runs compose's `spring-shop` in the shop's place (deploy/k8s/spring).
        spring = c.get("image") == compose["spring-shop"]["image"]
        want = compose["spring-shop" if spring else "shop"]
        pairs = {
            "image": (c.get("image"), want["image"]),
            "command": (c.get("command"), want["command"]),
            "env": (_env(c), want["environment"]),
            "resources": (c.get("resources"), k8s_resources(want)),
            "readinessProbe": (c.get("readinessProbe", {}).get("httpGet", {}).get("path"),
                               "/readyz"),
            "livenessProbe": (c.get("livenessProbe", {}).get("httpGet", {}).get("path"),
                              "/healthz"),
        }  # fmt: skip
        errors += [f"Deployment/shop: {key} {got!r}, compose: {exp!r}"
                   for key, (got, exp) in pairs.items() if got != exp]  # fmt: skip
    init = find(objects, "Job", "shop-init")
    if init and container_of(init).get("command") != compose["shop-init"]["command"]:
        errors.append("Job/shop-init: command differs from compose's shop-init")
    mysql = find(objects, "StatefulSet", "mysql")
    if mysql:
        c = container_of(mysql)
        # MySQL-only and file-log flags stay in compose (the log goes to stderr here).
        want = [a for a in compose["mysql"]["command"] if not a.startswith("--log-error")]
        if c.get("args") != want:
            errors.append(f"StatefulSet/mysql: args {c.get('args')!r}, compose: {want!r}")
        if c.get("resources") != k8s_resources(compose["mysql"]):
            errors.append("StatefulSet/mysql: resources differ from compose's mysql limits")
    redis = find(objects, "StatefulSet", "redis")
    if redis and container_of(redis).get("command") != compose["redis"]["command"]:
        errors.append("StatefulSet/redis: command differs from compose's redis")
    return errors


def check_autoscaler(objects: Sequence[Mapping]) -> list[str]:
    """Every Pods metric an HPA targets is one the adapter's rules serve."""
    adapter = find(objects, "ConfigMap", ADAPTER_CONFIGMAP)
    served = adapter_metric_names(_adapter_config(adapter)) if adapter else set()
    return [
        f"{name_of(hpa)}: Pods metric {m['pods']['metric']['name']} is served by no "
        f"prometheus-adapter rule"
        for hpa in objects
        if hpa["kind"] == "HorizontalPodAutoscaler"
        for m in hpa["spec"].get("metrics", [])
        if m["type"] == "Pods" and m["pods"]["metric"]["name"] not in served
    ]


def _keys(objects: Iterable[Mapping], prefix: str) -> set[str]:
    maps = [o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == prefix]
    maps += [o for o in objects if o["kind"] == "ConfigMap"
             and o["metadata"]["name"].startswith(prefix + "-")]  # fmt: skip
    return {key for o in maps for key in o.get("data", {})}


def check_sources(objects: Sequence[Mapping]) -> list[str]:
    """Every rule file, dashboard and k6 script of the repository is in its ConfigMap (their
    lists in the kustomizations are by hand: kustomize has no glob)."""
    errors = []
    names = {o["metadata"]["name"] for o in objects if o["kind"] == "ConfigMap"}
    expected = {
        "prometheus-rules": (REPO / "provisioning/prometheus/rules", "*.yml"),
        "grafana-dashboard": (REPO / "provisioning/grafana/dashboards", "*.json"),
        "shoplab-k6": (REPO / "k6", "**/*.js"),
    }
    for prefix, (folder, pattern) in expected.items():
        if not any(n == prefix or n.startswith(prefix + "-") for n in names):
            continue
        want = {p.name for p in folder.glob(pattern)}
        missing = sorted(want - _keys(objects, prefix))
        if missing:
            errors.append(f"ConfigMap/{prefix}: missing {', '.join(missing)}")
    testrun = find(objects, "TestRun", "shoplab-load")
    if testrun:
        items = [i for v in testrun["spec"]["runner"].get("volumes", [])
                 for i in v.get("configMap", {}).get("items", [])]  # fmt: skip
        laid = {i["path"] for i in items}
        want = {str(p.relative_to(REPO / "k6")) for p in (REPO / "k6").glob("**/*.js")}
        if laid != want:
            errors.append(f"TestRun/shoplab-load: runner volume lays out {sorted(laid)}, "
                          f"k6/ has {sorted(want)}")  # fmt: skip
    return errors


def fresh_plan() -> str:
    """The load overlay's plan as `python -m loadtest plan` prints it for PLAN_ARGS."""
    from loadtest.run import plan_of
    from loadtest.settings import LoadSettings

    return plan_of(LoadSettings.from_args(list(PLAN_ARGS), {}), "", "").to_json() + "\n"


def check_plan(path: Path = PLAN_FILE) -> list[str]:
    if not path.exists() or path.read_text() != fresh_plan():
        shown = path.relative_to(REPO) if path.is_relative_to(REPO) else path
        return [f"{shown}: stale against loadtest/scenarios.json: make k8s-plan"]
    return []


# --- the whole check -------------------------------------------------------------------------


def check(root: Path = K8S_DIR) -> CheckResult:
    result = CheckResult(failures=check_plan())
    for directory in kustomizations(root):
        where = directory.relative_to(REPO)
        result.kustomizations += 1
        try:
            objects = render(directory)
        except RenderError as exc:
            result.failures.append(f"{where}: does not render: {exc}")
            continue
        result.objects += len(objects)
        for obj in objects:
            result.failures += [f"{where}: {name_of(obj)}: {e}" for e in validate(obj)]
        for rule in (check_parity, check_sources, check_autoscaler):
            result.failures += [f"{where}: {e}" for e in rule(objects)]
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.check", description=__doc__)
    parser.add_argument("--write-plan", action="store_true", help=f"write {PLAN_FILE.name}")
    args = parser.parse_args(argv)
    if args.write_plan:
        PLAN_FILE.write_text(fresh_plan())
        print(f"k8s: wrote {PLAN_FILE.relative_to(REPO)}")
        return 0
    if not TESTRUN_CRD.exists():
        print(f"k8s: the TestRun CRD {TESTRUN_CRD} is missing: shared/ must sit beside the "
              "checkout (../shared)", file=sys.stderr)  # fmt: skip
        return 1
    result = check()
    for line in result.failures:
        print(f"k8s: {line}", file=sys.stderr)
    verdict = "FAILED" if result.failures else "valid"
    against = f"Kubernetes {K8S_VERSION}, k6-operator's TestRun CRD, prometheus-adapter's format"
    print(f"k8s: {result.objects} objects of {result.kustomizations} kustomizations {verdict} "
          f"({against})")  # fmt: skip
    return 1 if result.failures else 0


if __name__ == "__main__":
    raise SystemExit(main())

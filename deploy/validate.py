"""One rendered object checked against its format: Kubernetes' schemas (kubernetes-validate,
offline), k6-operator's TestRun CRD, and prometheus-adapter's config.yaml (its schema is the data
file schemas/prometheus-adapter.json; its series must be shop metrics of docs/metrics.md)."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml

from dashboards.queries import listed_metrics, metric_names, unlisted
from deploy.render import REPO

# The API the manifests are written for (kubernetes-validate ships its schemas offline).
K8S_VERSION = "1.34.0"
TESTRUN_API = "k6.io/v1alpha1"
ADAPTER_CONFIGMAP = "prometheus-adapter-shoplab"
ADAPTER_SCHEMA_FILE = Path(__file__).resolve().parent / "schemas" / "prometheus-adapter.json"


def _path(error: jsonschema.ValidationError) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "(top)"


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
def testrun_schema(crd_path: Path) -> dict:
    """The TestRun's openAPIV3Schema (k6.io/v1alpha1) from k6-operator's CRD, closed to
    unknown fields."""
    crd = yaml.safe_load(crd_path.read_text())
    version = next(v for v in crd["spec"]["versions"] if v["name"] == TESTRUN_API.split("/")[1])
    return _closed(version["schema"]["openAPIV3Schema"])


def validate_testrun(obj: Mapping, schema: dict) -> list[str]:
    if obj.get("apiVersion") != TESTRUN_API:
        return [f"apiVersion {obj.get('apiVersion')!r}: the CRD serves {TESTRUN_API}"]
    validator = jsonschema.Draft7Validator(schema)
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


@cache
def adapter_schema() -> dict:
    return json.loads(ADAPTER_SCHEMA_FILE.read_text())


def shop_metrics(metrics_md: str | None = None) -> set[str]:
    """The metric names docs/metrics.md lists for the shops: the Flask shop's section and the
    Spring shop's (Micrometer's dialect)."""
    text = (REPO / "docs" / "metrics.md").read_text() if metrics_md is None else metrics_md
    names: set[str] = set()
    for section in ("shop", "spring-shop"):
        body = text.split(f"<!-- section: {section} ")[1]
        names |= listed_metrics(body.split(f"<!-- end section: {section} -->")[0])
    return names


def adapter_config(obj: Mapping) -> object:
    """prometheus-adapter's config.yaml, from its ConfigMap."""
    return yaml.safe_load(obj.get("data", {}).get("config.yaml", "") or "{}")


def adapter_metric_names(config: Mapping) -> set[str]:
    """The custom metrics the adapter's rules serve (name.as, or the series name)."""
    return {rule["name"].get("as") or rule["seriesQuery"] for rule in config.get("rules", [])}


def check_adapter_config(config: object) -> list[str]:
    """prometheus-adapter's format, and every rule on a series the shop really exports."""
    validator = jsonschema.Draft202012Validator(adapter_schema())
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


def validate(obj: Mapping, testrun: dict | None) -> list[str]:
    """One line per problem of one rendered object (empty: valid). `testrun`: the TestRun's
    schema, or None when k6-operator's CRD is absent (a TestRun is then not checked)."""
    if str(obj.get("apiVersion", "")).startswith("k6.io/"):
        return validate_testrun(obj, testrun) if testrun is not None else []
    errors = validate_kubernetes(obj)
    if obj.get("kind") == "ConfigMap" and obj["metadata"].get("name") == ADAPTER_CONFIGMAP:
        errors += [f"config.yaml: {e}" for e in check_adapter_config(adapter_config(obj))]
    return errors

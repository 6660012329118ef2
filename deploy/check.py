"""`make lint`'s offline check of deploy/k8s/ (`python -m deploy.check`): every kustomization
rendered, every object validated, what the manifests share with the repository held; one line
per failure and exit 1."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from deploy.parity import check_autoscaler, check_locust_layout, check_parity, check_sources
from deploy.render import K8S_DIR, REPO, RenderError, kustomizations, name_of, render
from deploy.validate import K8S_VERSION, testrun_schema, validate
from stack.extras import TESTRUN_CRD, find_extras

RULES = (check_parity, check_sources, check_locust_layout, check_autoscaler)


@dataclass
class CheckResult:
    failures: list[str] = field(default_factory=list)
    objects: int = 0
    kustomizations: int = 0


def check(root: Path = K8S_DIR, testrun_crd: Path | None = None) -> CheckResult:
    """Every kustomization under `root`; a TestRun against k6-operator's CRD when given (it is
    an extra, stack/extras.py), else not at all."""
    result = CheckResult()
    schema = testrun_schema(testrun_crd) if testrun_crd is not None else None
    for directory in kustomizations(root):
        where = directory.relative_to(REPO) if directory.is_relative_to(REPO) else directory
        result.kustomizations += 1
        try:
            objects = render(directory)
        except RenderError as exc:
            result.failures.append(f"{where}: does not render: {exc}")
            continue
        result.objects += len(objects)
        for obj in objects:
            result.failures += [f"{where}: {name_of(obj)}: {e}" for e in validate(obj, schema)]
        for rule in RULES:
            result.failures += [f"{where}: {e}" for e in rule(objects)]
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.check", description=__doc__)
    parser.parse_args(argv)
    extras = find_extras(os.environ)
    crd = extras.testrun_crd
    if crd is None:
        print(f"k8s: skipped the TestRun's check against k6-operator's CRD (an extra): "
              f"{extras.why_not(TESTRUN_CRD)}")  # fmt: skip
    result = check(testrun_crd=crd)
    for line in result.failures:
        print(f"k8s: {line}", file=sys.stderr)
    verdict = "FAILED" if result.failures else "valid"
    crd_part = ", k6-operator's TestRun CRD" if crd is not None else ""
    against = f"Kubernetes {K8S_VERSION}{crd_part}, prometheus-adapter's format"
    print(f"k8s: {result.objects} objects of {result.kustomizations} kustomizations {verdict} "
          f"({against})")  # fmt: skip
    return 1 if result.failures else 0


if __name__ == "__main__":
    raise SystemExit(main())

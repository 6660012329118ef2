"""`make lint`'s offline check of deploy/k8s/ (`python -m deploy.check`): every kustomization
rendered, every object validated, what the manifests share with the repository held; one line
per failure and exit 1."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from deploy.parity import check_autoscaler, check_parity, check_sources
from deploy.render import K8S_DIR, REPO, RenderError, kustomizations, name_of, render
from deploy.validate import K8S_VERSION, testrun_schema, validate

# k6-operator's CRD, read in place from the shared folder beside the repository.
TESTRUN_CRD = REPO.parent / "shared" / "k8s-crds" / "k6.io_testruns.yaml"
RULES = (check_parity, check_sources, check_autoscaler)


@dataclass
class CheckResult:
    failures: list[str] = field(default_factory=list)
    objects: int = 0
    kustomizations: int = 0


def check(root: Path = K8S_DIR, testrun_crd: Path = TESTRUN_CRD) -> CheckResult:
    result, schema = CheckResult(), testrun_schema(testrun_crd)
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

"""The plan the Kubernetes load overlay runs (deploy/k8s/load/plan.json): this scenario's plan as
`python -m lab.load plan` prints it, written by `make k8s-plan` (and `make generate`) and checked
fresh by `make check`. It lives in the lab so that deploy/ reads a file and never imports it."""

from __future__ import annotations

from pathlib import Path

from lab.load.run import plan_of
from lab.load.settings import REPO, read_load_settings
from signals import generated

PLAN_FILE = REPO / "deploy" / "k8s" / "load" / "plan.json"
# `python -m lab.load plan` with these flags: the load scenario against the cluster's Service.
PLAN_ARGS = ("--scenario", "load", "--shop-url", "http://shop:8000")


def fresh_plan() -> str:
    return plan_of(read_load_settings({}, list(PLAN_ARGS)), "", "").to_json() + "\n"


def build(path: Path = PLAN_FILE) -> dict[Path, str]:
    return {path: fresh_plan()}


def stale(path: Path = PLAN_FILE) -> list[str]:
    return generated.stale(build(path), [])


def main(argv: list[str] | None = None) -> int:
    return generated.main(argv, prog="python -m lab.load.k8s_plan", doc=__doc__, what="k8s",
                          fix="make k8s-plan", build=build, problems=stale)  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())

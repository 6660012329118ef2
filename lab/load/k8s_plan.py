"""The plan the Kubernetes load overlay runs (deploy/k8s/load/plan.json): this scenario's plan as
`python -m lab.load plan` prints it, written by `make k8s-plan` (and `make generate`) and checked
fresh by `make check`. It lives in the lab so that deploy/ reads a file and never imports it."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from lab.load.run import plan_of
from lab.load.settings import REPO, LoadSettings

PLAN_FILE = REPO / "deploy" / "k8s" / "load" / "plan.json"
# `python -m lab.load plan` with these flags: the load scenario against the cluster's Service.
PLAN_ARGS = ("--scenario", "load", "--shop-url", "http://shop:8000")


def _shown(path: Path) -> Path:
    return path.relative_to(REPO) if path.is_relative_to(REPO) else path


def fresh_plan() -> str:
    return plan_of(LoadSettings.from_args(list(PLAN_ARGS), {}), "", "").to_json() + "\n"


def check_plan(path: Path = PLAN_FILE) -> list[str]:
    if not path.exists() or path.read_text() != fresh_plan():
        return [f"{_shown(path)}: stale against lab/load/scenarios.json: make k8s-plan"]
    return []


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.load.k8s_plan", description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    args = parser.parse_args(argv)
    if args.check:
        problems = check_plan()
        for line in problems:
            print(f"k8s: {line}", file=sys.stderr)
        if not problems:
            print(f"k8s: {_shown(PLAN_FILE)} is fresh")
        return 1 if problems else 0
    PLAN_FILE.write_text(fresh_plan())
    print(f"k8s: wrote {_shown(PLAN_FILE)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

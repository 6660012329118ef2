"""`make dashboards`: render every dashboard module to sorted, stable JSON for provisioning.

`python -m dashboards.build` writes provisioning/grafana/dashboards/<uid>.json;
`--check` writes nothing and fails if a committed file differs from a fresh build.
"""

from __future__ import annotations

import argparse
import json
import sys
from importlib import import_module
from pathlib import Path

from grafanalib._gen import DashboardEncoder

from dashboards.common import REPO, UIDS

OUT = REPO / "provisioning" / "grafana" / "dashboards"


def load(key: str):
    """The module-level `dashboard` of dashboards/<key>.py."""
    return import_module(f"dashboards.{key}").dashboard


def render(dashboard) -> str:
    """Sorted keys, two-space indent, one trailing newline: byte-stable for review and diff."""
    data = dashboard.to_json_data()
    text = json.dumps(data, sort_keys=True, indent=2, cls=DashboardEncoder, ensure_ascii=False)
    return text + "\n"


def build() -> dict[Path, str]:
    """Every dashboard's file and its text, in UIDS order."""
    return {OUT / f"{uid}.json": render(load(key)) for key, uid in UIDS.items()}


def stale(out: Path = OUT) -> list[str]:
    """Files that differ from a fresh build, are missing, or are no longer built."""
    fresh = build()
    problems = [
        f"{path.relative_to(REPO)}: {'missing' if not path.exists() else 'out of date'}"
        for path, text in fresh.items()
        if not path.exists() or path.read_text() != text
    ]
    problems += [
        f"{path.relative_to(REPO)}: not built by any module (delete it)"
        for path in sorted(out.glob("*.json"))
        if path not in fresh
    ]
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dashboards.build", description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    args = parser.parse_args(argv)
    if args.check:
        problems = stale()
        for line in problems:
            print(f"dashboards-check: {line}", file=sys.stderr)
        if problems:
            print("dashboards-check: FAIL: run `make dashboards` and commit the JSON",
                  file=sys.stderr)  # fmt: skip
            return 1
        print(f"dashboards-check: {len(UIDS)} dashboards up to date")
        return 0
    for path, text in build().items():
        path.write_text(text)
        print(f"dashboards: wrote {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

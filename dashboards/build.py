"""`make dashboards`: render every dashboard module to sorted, stable JSON for provisioning.

`python -m dashboards.build` writes provisioning/grafana/dashboards/<uid>.json;
`--check` writes nothing and fails if a committed file differs from a fresh build.
"""

from __future__ import annotations

import json
from importlib import import_module
from pathlib import Path

from grafanalib._gen import DashboardEncoder

from dashboards.common import REPO, UIDS
from signals import generated

OUT = REPO / "provisioning" / "grafana" / "dashboards"


def load(key: str):
    """The dashboard dashboards/<key>.py builds (its `dashboard()`: built when asked, so that
    importing a module reads no file)."""
    return import_module(f"dashboards.{key}").dashboard()


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
    return generated.stale(build(), out.glob("*.json"))


def main(argv: list[str] | None = None) -> int:
    return generated.main(argv, prog="python -m dashboards.build", doc=__doc__,
                          what="dashboards", fix="make dashboards", build=build,
                          problems=stale)  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())

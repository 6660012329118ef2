"""Where runs are kept: RESULTS_ROOT (default `results/` in the checkout), and the newest run."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import knobs

REPO = Path(__file__).resolve().parents[1]


def results_root(env: Mapping[str, str]) -> Path:
    """RESULTS_ROOT, else the checkout's results/: `results/<testid>/` holds one run."""
    return Path(knobs.text(env, "RESULTS_ROOT", str(REPO / "results")))


def newest_run(root: Path) -> Path | None:
    """The run folder under `root` written last; None when there is none."""
    runs = [p for p in root.glob("*") if p.is_dir()] if root.is_dir() else []
    return max(runs, key=lambda p: p.stat().st_mtime) if runs else None

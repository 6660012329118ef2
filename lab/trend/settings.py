"""The knobs of the run history and `make trend`, parsed once: where the history file is
(HISTORY_FILE), how much of it a deck draws (TREND_POINTS), and how sure and how large a change
must be to be named (TREND_PVALUE, TREND_MIN_CHANGE). Pure: the caller passes the mapping."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import knobs
from lab.results import results_root
from stack.settings import REPO

HISTORY_NAME = "history.jsonl"
# Otava's own default p-value (0.001): with a handful of runs a step must be clear to count.
PVALUE = 0.001
# A change smaller than this share of the level is not named (run-to-run noise on a shared box
# reaches a few percent).
MIN_CHANGE = 0.05
POINTS = 30


def history_file(env: Mapping[str, str], root: Path) -> Path:
    """HISTORY_FILE, default results/history.jsonl (relative paths: from the repository)."""
    raw = knobs.text(env, "HISTORY_FILE")
    if not raw:
        return root / HISTORY_NAME
    path = Path(raw)
    return path if path.is_absolute() else REPO / path


@dataclass(frozen=True)
class TrendSettings:
    history: Path
    results_root: Path
    pvalue: float = PVALUE
    min_change: float = MIN_CHANGE
    points: int = POINTS  # the recent runs a deck draws

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TrendSettings:
        results = results_root(env)
        return cls(
            history=history_file(env, results),
            results_root=results,
            pvalue=knobs.number(env, "TREND_PVALUE", PVALUE, lo=1e-9, hi=0.5),
            min_change=knobs.number(env, "TREND_MIN_CHANGE", MIN_CHANGE, lo=0, hi=10),
            points=knobs.whole(env, "TREND_POINTS", POINTS, lo=2, hi=10_000),
        )

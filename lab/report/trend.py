"""`make trend` (python -m lab.report.trend): the run history's change points by Apache Otava,
said in one line per change ("no change" when none) and drawn, each key figure with its change
points at their commits, in one self-contained page (trend.html) beside trend.json."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from html import escape
from pathlib import Path

from knobs import KnobError
from lab.report.history import history_html
from lab.report.html import page
from lab.trend.changes import Trend, detect
from lab.trend.history import read
from lab.trend.settings import TrendSettings


def write_page(trend: Trend, history: Path, out: Path) -> dict[str, Path]:
    """trend.html and trend.json in `out`; their paths."""
    out.mkdir(parents=True, exist_ok=True)
    figures: list[dict] = []
    body = history_html(trend, figures, points=10_000)
    header = (f"<p>{escape(str(history))}: "
              + ", ".join(f"{n} {escape(s)} runs" for s, n in sorted(trend.runs.items()))
              + f"; Apache Otava, p &lt; {trend.pvalue:g}, changes of at least "
              f"{trend.min_change * 100:g} %.</p>")  # fmt: skip
    paths = {"html": out / "trend.html", "json": out / "trend.json"}
    paths["html"].write_text(page("shoplab trend", header, f"<section>{body}</section>", figures))
    paths["json"].write_text(json.dumps(trend.as_dict(), indent=1, default=float) + "\n")
    return paths


def main(argv: list[str] | None = None, env: Mapping[str, str] = os.environ) -> int:
    if argv:
        print("trend: usage: python -m lab.report.trend (knobs: HISTORY_FILE, TREND_PVALUE, "
              "TREND_MIN_CHANGE)", file=sys.stderr)  # fmt: skip
        return 2
    try:
        s = TrendSettings.from_env(env)
    except KnobError as exc:
        print(f"trend: {exc}", file=sys.stderr)
        return 2
    history = read(s.history)
    if not history.records:
        print(f"trend: no history at {s.history}: `make gate` and `make capacity` append to it "
              "(HISTORY_FILE moves it)", file=sys.stderr)  # fmt: skip
        return 2
    trend = detect(history, s.pvalue, s.min_change)
    paths = write_page(trend, s.history, s.results_root)
    if history.skipped:
        print(f"trend: {history.skipped} line(s) of {s.history} did not parse: left out")
    print(f"trend: {s.history}: " + ", ".join(f"{n} {src} runs" for src, n in trend.runs.items()))
    for name, path in paths.items():
        print(f"trend: {name}: {path}")
    print(f"trend: {trend.verdict()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

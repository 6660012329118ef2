"""The CLI: `python -m lab.report RUN [--baseline B]` writes the deck beside the run's results."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from knobs import KnobError
from lab.report.browser import BrowserError, chromium
from lab.report.deck import Deck, build_deck, compare
from lab.report.prometheus import Prometheus
from lab.report.recorded import RunError, read_run
from lab.report.render import write_reports
from lab.results import results_root
from lab.trend.changes import Trend, detect
from lab.trend.history import read as read_history
from lab.trend.settings import TrendSettings

# Figures drawn: the page sets it once every Plotly.newPlot has run.
READY = "document.body && document.body.dataset.drawn !== undefined"


@dataclass
class ReportResult:
    paths: dict[str, Path]
    deck: Deck
    baseline: Deck | None = None
    screenshot_error: str | None = None


def screenshot(html: Path) -> Path:
    """report.png beside report.html: the page as headless Chromium draws it."""
    with chromium() as page:
        page.load(html.resolve().as_uri(), READY)
        return page.screenshot(html.with_suffix(".png"))


def picture(html: Path, out: Path, height: int = 1500, scale: float = 0.6) -> Path:
    """A small picture of the deck's first screen (the README's): its top, scaled."""
    with chromium() as page:
        page.load(html.resolve().as_uri(), READY)
        return page.picture(out, height, scale)


def make_report(
    results_root: Path,
    testid: str,
    prom: Prometheus,
    *,
    baseline: str | None = None,
    exporter_url: str | None = None,
    with_screenshot: bool = True,
    history: Trend | None = None,
) -> ReportResult:
    """The deck of run `testid`; `history`: the run history's trend to draw beside it."""
    run = read_run(results_root / testid)
    deck = build_deck(run, prom, exporter_url=exporter_url)
    deck.history = history
    base = None
    if baseline:
        base = build_deck(read_run(results_root / baseline), prom, exporter_url=exporter_url)
    compared = compare(deck, base) if base else None
    paths = write_reports(deck, run.results, base, compared)
    result = ReportResult(paths, deck, base)
    if with_screenshot:
        try:
            paths["png"] = screenshot(paths["html"])
        except BrowserError as exc:
            result.screenshot_error = str(exc)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lab.report", description=__doc__.splitlines()[0]
    )
    parser.add_argument("run", help="the testid: a folder under --results")
    parser.add_argument("--baseline", help="a second testid to set beside it")
    parser.add_argument("--prometheus-url", help="default: the native stack's Prometheus")
    parser.add_argument(
        "--exporter-url", help="the InnoDB exporter (/deadlocks); default: the native stack's"
    )
    parser.add_argument(
        "--results", default=str(results_root(os.environ)), help="default: RESULTS_ROOT or results/"
    )
    parser.add_argument("--no-screenshot", action="store_true", help="skip report.png")
    args = parser.parse_args(argv)
    from stack.settings import StackSettingsError, read_stack_settings

    try:
        native = read_stack_settings(os.environ)
    except StackSettingsError as exc:
        parser.error(str(exc))
    try:  # the folder first: a typo in RUN needs no Prometheus to be said
        for testid in filter(None, (args.run, args.baseline)):
            read_run(Path(args.results) / testid)
    except RunError as exc:
        print(f"report: {exc}", file=sys.stderr)
        return 2
    prom = Prometheus(args.prometheus_url or native.url("LOCAL_PROMETHEUS_PORT"))
    if not prom.ready():
        print(
            f"report: no Prometheus at {prom.url}: start it (make local-up) or pass "
            "--prometheus-url",
            file=sys.stderr,
        )
        return 2
    exporter = args.exporter_url or native.url("LOCAL_INNODB_EXPORTER_PORT")
    try:
        trend = TrendSettings.from_env(os.environ)
        result = make_report(
            Path(args.results),
            args.run,
            prom,
            baseline=args.baseline,
            exporter_url=exporter,
            with_screenshot=not args.no_screenshot,
            history=detect(read_history(trend.history), trend.pvalue, trend.min_change),
        )
    except (RunError, KnobError) as exc:
        print(f"report: {exc}", file=sys.stderr)
        return 2
    deck = result.deck
    print(
        f"report: {deck.run['testid']}: client {deck.client_verdict['passed']}, server "
        f"{deck.server_verdict['passed']}, {len(deck.findings)} finding(s)"
    )
    for finding in deck.findings:
        print(f"report:   {finding.title}: {finding.evidence}")
    if result.screenshot_error:
        print(f"report: no screenshot: {result.screenshot_error}", file=sys.stderr)
    for fmt, path in result.paths.items():
        print(f"report: {fmt}: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

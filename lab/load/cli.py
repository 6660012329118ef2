"""`python -m lab.load`: a thin shell over `lab.load.run` that prints progress and the verdict
block; `python -m lab.load plan [flags]` prints the resolved plan the tools run (for compose)."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence

from lab.load.run import plan_of, run
from lab.load.settings import LoadSettings, LoadSettingsError, read_load_settings
from lab.report.prometheus import Prometheus as ReportPrometheus


def say(msg: str) -> None:
    print(f"load: {msg}", flush=True)


def print_plan(s: LoadSettings, env: Mapping[str, str]) -> int:
    """The plan as JSON on stdout; TESTID and RESULTS_DIR as compose names them."""
    plan = plan_of(s, env.get("TESTID", ""), env.get("RESULTS_DIR", ""))
    print(plan.to_json())
    return 0


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] = os.environ) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    plan_only = bool(argv) and argv[0] == "plan"
    try:
        settings = read_load_settings(env, argv[plan_only:])
    except LoadSettingsError as exc:
        print(f"load: {exc}", file=sys.stderr)
        return 2
    if plan_only:
        return print_plan(settings, env)
    result = run(settings, say)
    if result.verdict.error:
        say(result.verdict.error)
    if result.verdict.lines:
        print()
        print("\n".join(result.verdict.lines), flush=True)
        write_report(settings, result.testid)
    return result.exit_code


def write_report(s: LoadSettings, testid: str, baseline: str | None = None) -> None:
    """The run's deck (report.html, .md, .json, .png beside its results); a report that cannot
    be made is said, and does not change the run's verdict."""
    if not s.prometheus_url:
        say("report: skipped (no Prometheus to draw the run's graphs from)")
        return
    from lab.report.__main__ import make_report
    from lab.report.prometheus import PrometheusError

    try:
        made = make_report(
            s.results_root, testid, ReportPrometheus(s.prometheus_url), baseline=baseline
        )
    except (PrometheusError, OSError, ValueError) as exc:
        say(f"report: not written: {str(exc).splitlines()[0]}")
        return
    say(f"report: {made.paths['html']}")

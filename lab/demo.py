"""`make demo`: the team's story in one command, a progress line per step, ending in a deck.

1. the native stack up for the target (TARGET: the Flask shop, or `spring-shop`), naive;
2. a short load at TARGET_TPS with hot users: orders deadlock on the users row; the InnoDB
   exporter's account of one (tables, indexes, lock modes, the statements, the victim) and the
   server's count;
3. the same load with the safe strategy: no deadlock;
4. that safe run is the TARGET_TPS answer: it held, or what broke;
5. the deck of the safe run with the naive run as its baseline, and its screenshot.

The stack stays up afterwards, with the commands to look at it and to stop it.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import requests

from lab.load.run import RunResult, run
from lab.load.settings import LoadSettings, LoadSettingsError, read_load_settings
from lab.report.__main__ import ReportResult, make_report, picture
from lab.report.browser import BrowserError
from lab.report.prometheus import Prometheus
from lab.results import results_root
from stack import runner

Say = Callable[[str], None]
# Short: a 6 s ramp and a 30 s hold at TARGET_TPS, as `make load SCENARIO=load SCALE=0.1`. Both
# runs go to the end (no abort on a failed threshold): the naive one is meant to fail.
KNOBS = {"SCENARIO": "load", "SCALE": "0.1", "HOT_USERS": "3", "ABORT_ON_FAIL": "0", "WATCH": "1"}
STEPS = 5


@dataclass(frozen=True)
class DemoResult:
    exit_code: int
    naive: RunResult | None = None
    safe: RunResult | None = None
    deck: Path | None = None
    screenshot: Path | None = None
    report: ReportResult | None = None  # the two decks, the safe run's and its naive baseline
    error: str = ""


def _step(say: Say, n: int, text: str) -> None:
    say(f"{n}/{STEPS} {text}")


def one_deadlock(exporter_url: str, table: str = "users") -> dict | None:
    """The newest deadlock the InnoDB exporter captured on `table` (its /deadlocks JSON)."""
    try:
        found = requests.get(f"{exporter_url}/deadlocks", timeout=5).json()["deadlocks"]
    except (requests.RequestException, ValueError, KeyError):
        return None
    on_table = [d for d in found if any(t.endswith(f".{table}") for t in d["tables"])]
    return on_table[0] if on_table else None


def describe_deadlock(deadlock: Mapping) -> list[str]:
    """The exporter's account of one deadlock, a line per transaction."""
    lines = [f"tables {', '.join(deadlock['tables'])}; lock modes {', '.join(deadlock['modes'])}"]
    for trx in deadlock["transactions"]:
        waiting = trx.get("waiting") or {}
        held = ", ".join(
            f"{lock['mode']} on {lock['table']}.{lock['index']}" for lock in trx.get("holding", [])
        )
        wants = f"{waiting.get('mode')} on {waiting.get('table')}.{waiting.get('index')}"
        rolled = "  <- rolled back (the victim)" if trx.get("victim") else ""
        lines.append(f"T{trx['number']}: {trx['fingerprint']}{rolled}")
        lines.append(f"    holds {held or 'nothing shown'}; waits for {wants}")
    return lines


def _run(settings: LoadSettings, strategy: str, say: Say) -> RunResult:
    s = replace(settings, strategy=strategy)
    return run(s, lambda line: say(f"    {line}"), testid=f"demo-{strategy}-{int(time.time())}")


def demo(env: Mapping[str, str], say: Say = print, **knobs: str) -> DemoResult:
    """The story on the native stack `env` describes (started, or switched to naive, if it
    runs); `knobs` over the demo's own (a test's shorter run)."""
    began = time.time()
    try:
        settings = read_load_settings({**env, **KNOBS, **knobs})
    except LoadSettingsError as exc:
        return DemoResult(2, error=str(exc))
    stack, target = settings.stack, settings.target
    if stack is None or target.external:
        return DemoResult(2, error="the demo runs a built-in target on the native stack")
    stack = stack.with_values(LOCAL_ORDER_STRATEGY="naive")
    _step(say, 1, f"the native stack for {target.name} ({target.about})")
    if runner.switch(stack) != 0:
        return DemoResult(1, error="the native stack did not start (see above)")
    if settings.watch:
        watch = f"http://127.0.0.1:{settings.watch_port}/"
        say(f"    watch each run live: k6's web dashboard at {watch}")
    settings = replace(settings, stack=stack)
    tps = f"{settings.target_tps:g}/s"

    _step(say, 2, f"naive orders at {tps}, 80 % of them on 3 hot users: the team's first version")
    naive = _run(settings, "naive", say)
    deadlocks = naive.observations.deadlocks if naive.observations else None
    say(f"    the server counted {deadlocks or 0:.0f} InnoDB deadlocks during the run")
    found = one_deadlock(stack.url("LOCAL_INNODB_EXPORTER_PORT"))
    if found:
        say("    one of them, as the InnoDB exporter captured it "
            f"({stack.url('LOCAL_INNODB_EXPORTER_PORT', '/deadlocks')}):")  # fmt: skip
        for line in describe_deadlock(found):
            say(f"      {line}")

    _step(say, 3, "safe orders, the same load: the fix (a guarded update of the user by id)")
    safe = _run(settings, "safe", say)
    after = safe.observations.deadlocks if safe.observations else None
    say(f"    the server counted {after or 0:.0f} InnoDB deadlocks during the run")

    prom = Prometheus(stack.url("LOCAL_PROMETHEUS_PORT"))
    made = make_report(settings.results_root, safe.testid, prom, baseline=naive.testid,
                       exporter_url=stack.url("LOCAL_INNODB_EXPORTER_PORT"))  # fmt: skip
    answer = made.deck.holds
    _step(say, 4, f"{answer['question']} {answer['line']}")

    _step(say, 5, "the deck: the safe run, the naive run as its baseline")
    deck, png = made.paths["html"], made.paths.get("png")
    for name, shown in (("naive", made.baseline), ("safe", made.deck)):
        titles = "; ".join(f.title for f in shown.findings) if shown else ""
        say(f"    the {name} run's findings: {titles or 'none'}")
    say("")
    say(f"the deck       {deck}")
    say(f"its picture    {png or f'not taken: {made.screenshot_error}'}")
    say(f"open it with   chromium {deck}   (or xdg-open, or your browser's File > Open)")
    say(f"Prometheus     {stack.url('LOCAL_PROMETHEUS_PORT', '/graph')}")
    say(f"deadlocks      {stack.url('LOCAL_INNODB_EXPORTER_PORT', '/deadlocks')}")
    say("Grafana        make up (where Docker runs): the same dashboards, live")
    say(f"the stack stays up (make local-status); stop it with make local-down "
        f"({time.time() - began:.0f} s in all)")  # fmt: skip
    return DemoResult(0, naive, safe, deck, png, made)


# The README's picture: the first screen of the newest demo's deck, small.
PICTURE = Path(__file__).resolve().parents[1] / "docs" / "deck.png"


def readme_picture(results_root: Path, out: Path = PICTURE) -> Path:
    """The newest demo deck's first screen as a small PNG (`make readme-picture`)."""
    decks = sorted(results_root.glob("demo-safe-*/report.html"), key=lambda p: p.stat().st_mtime)
    if not decks:
        raise FileNotFoundError(f"no demo deck under {results_root}: run `make demo` first")
    return picture(decks[-1], out)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["picture"]:
        try:
            made = readme_picture(results_root(os.environ))
        except (FileNotFoundError, BrowserError) as exc:
            print(f"demo: {exc}", file=sys.stderr)
            return 1
        print(f"demo: wrote {made} ({made.stat().st_size // 1024} KiB)")
        return 0
    result = demo(os.environ, lambda line: print(f"demo: {line}", flush=True))
    if result.error:
        print(f"demo: {result.error}", file=sys.stderr)
    return result.exit_code


if __name__ == "__main__":
    raise SystemExit(main())

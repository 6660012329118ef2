"""`python -m lab.gate` (make gate) and `python -m lab.gate ab` (make ab BASE=<ref>): thin shells
over `lab.gate.run` and `lab.gate.compare_builds` that print progress and the verdict line."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Mapping, Sequence

from lab.gate.settings import AbSettings, GateSettings, GateSettingsError

USAGE = "usage: python -m lab.gate [ab]  (knobs from the environment: see docs/ci.md)"


def say(msg: str) -> None:
    print(f"gate: {msg}", flush=True)


def _terminate(_signum, _frame):
    # A CI runner cancels with SIGTERM: stop the runs and the stack as on Ctrl-C.
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] = os.environ) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv not in ([], ["ab"]):
        print(f"gate: {USAGE}", file=sys.stderr)
        return 2
    ab = argv == ["ab"]
    try:
        settings = AbSettings.from_env(env) if ab else GateSettings.from_env(env)
    except GateSettingsError as exc:
        print(f"{'ab' if ab else 'gate'}: {exc}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    try:
        if ab:
            from lab.gate.ab import compare_builds
            from lab.gate.worktree import WorktreeError

            try:
                result = compare_builds(settings, lambda m: print(f"ab: {m}", flush=True))
            except WorktreeError as exc:  # BASE names no commit
                print(f"ab: {exc}", file=sys.stderr)
                return 2
        else:
            from lab.gate.perf_gate import run

            result = run(settings, say)
    except KeyboardInterrupt:
        print("gate: interrupted: the runs and the stack are stopped", file=sys.stderr)
        return 130
    print()
    print(f"{result.results / 'summary.md'}")
    if ab:
        print(result.detectable_line())
    print(result.verdict_line(), flush=True)
    return result.exit_code

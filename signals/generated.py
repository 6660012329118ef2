"""Generated files checked in: compare a fresh build with what is committed, or write it.
The rule and dashboard generators share this (`--check` modes, `make check`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from signals.slo import REPO


def _shown(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def stale(fresh: dict[Path, str], present: Iterable[Path]) -> list[str]:
    """Files that differ from `fresh`, are missing, or are `present` but no longer built."""
    problems = [
        f"{_shown(path)}: {'missing' if not path.exists() else 'out of date'}"
        for path, text in fresh.items()
        if not path.exists() or path.read_text() != text
    ]
    problems += [
        f"{_shown(path)}: built by nothing (delete it)"
        for path in sorted(present)
        if path not in fresh
    ]
    return problems


Build = Callable[[], dict[Path, str]]


def main(argv: list[str] | None, *, prog: str, doc: str, what: str, fix: str, build: Build,
         problems: Callable[[], list[str]]) -> int:  # fmt: skip
    """The generators' CLI: write every file, or with --check say what is stale and fail."""
    parser = argparse.ArgumentParser(prog=prog, description=doc)
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    args = parser.parse_args(argv)
    if args.check:
        found = problems()
        for line in found:
            print(f"{what}-check: {line}", file=sys.stderr)
        if found:
            print(f"{what}-check: FAIL: run `{fix}` and commit the result", file=sys.stderr)
            return 1
        print(f"{what}-check: {len(build())} files up to date")
        return 0
    for path, text in build().items():
        path.write_text(text)
        print(f"{what}: wrote {_shown(path)}")
    return 0

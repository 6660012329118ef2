"""Another commit of this repository checked out beside the working tree: a detached git
worktree for the A/B's base build, removed whatever happens."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from stack.settings import REPO


class WorktreeError(RuntimeError):
    """git refused: a ref that names no commit, a worktree that could not be added."""


def git(*args: str, repo: Path = REPO) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        raise WorktreeError(f"git {args[0]}: {why}")
    return done.stdout.strip()


def resolve(ref: str, name: str = "BASE") -> str:
    """The commit `ref` names; WorktreeError (bad input: one line naming `name`) when none."""
    try:
        return git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except WorktreeError:
        raise WorktreeError(f"{name}={ref!r} is not a commit of this repository") from None


@contextmanager
def checkout(sha: str, where: Path) -> Iterator[Path]:
    """Commit `sha` checked out (detached) at `where` for the body."""
    git("worktree", "add", "--detach", str(where), sha)
    try:
        yield where
    finally:
        with suppress(WorktreeError, subprocess.TimeoutExpired):
            git("worktree", "remove", "--force", str(where))

"""Which commit a checkout is at, written one way everywhere (run records, decks, the gate, the
A/B, the history): the 12-character short hash, `+dirty` when tracked files differ."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def git_commit(repo: Path = REPO) -> str | None:
    """The checkout's commit (with `+dirty` when tracked files differ), or None outside git."""

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()  # fmt: skip

    try:
        head = git("rev-parse", "--short=12", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "")

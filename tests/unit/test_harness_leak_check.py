"""The harness fails a run that leaves a process or a harness folder behind."""

from __future__ import annotations

import os
import signal
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def run_inner(pytester, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(REPO))

    def run(body: str):
        pytester.makepyfile(test_inner=textwrap.dedent(body))
        return pytester.runpytest_subprocess("-p", "tests.harness.plugin", "-q")

    return run


def test_clean_run_passes(run_inner):
    result = run_inner(
        """
        def test_uses_root(harness_root):
            (harness_root / "f").write_text("x")
        """
    )
    result.assert_outcomes(passed=1)
    assert result.ret == 0
    assert "HARNESS LEAK" not in result.stdout.str()


def test_leaked_process_fails_the_run(run_inner, pytester):
    result = run_inner(
        """
        import subprocess
        from pathlib import Path

        def test_leaks():
            child = subprocess.Popen(["sleep", "30"])
            Path("leaked.pid").write_text(str(child.pid))
        """
    )
    os.kill(int((pytester.path / "leaked.pid").read_text()), signal.SIGKILL)
    assert result.ret == 1
    assert "HARNESS LEAK: leftover process" in result.stdout.str()


def test_leaked_harness_dir_fails_the_run(run_inner, pytester):
    result = run_inner(
        """
        import os, tempfile
        from pathlib import Path

        def test_leaks():
            leaked = tempfile.mkdtemp(prefix=f"shoplab-test-{os.getpid()}-")
            Path("leaked.dir").write_text(leaked)
        """
    )
    Path((pytester.path / "leaked.dir").read_text()).rmdir()
    assert result.ret == 1
    assert "HARNESS LEAK: leftover dir" in result.stdout.str()

"""The replica keeper on real processes: it outlives its child, its child never outlives it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).resolve().parents[2]


def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout:.0f}s: {what}")
        time.sleep(0.05)
    return value


@pytest.fixture
def keeper():
    """A keeper running `sleep`, and its child once started; both gone afterwards."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "stack", "keep", "shop-9", "--", "sleep", "600"],
        cwd=REPO, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    child = wait_for(lambda: psutil.Process(proc.pid).children(), 20, "the keeper's child")[0]
    yield proc, child
    for p in (proc, child):
        if psutil.pid_exists(p.pid):
            p.kill()
    proc.wait(10)


def gone(p: psutil.Process) -> bool:
    try:
        return not p.is_running() or p.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_keeper_outlives_its_child_and_says_so(keeper):
    proc, child = keeper
    child.kill()
    line = wait_for(proc.stderr.readline, 20, "the keeper's first line")
    assert f"started pid {child.pid}" in line
    line = wait_for(proc.stderr.readline, 20, "the keeper's line about its child")
    assert f"pid {child.pid} ended (killed by SIGKILL)" in line
    assert proc.poll() is None  # honcho sees nothing end: the rest of the stack runs on
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0


def test_a_killed_keeper_takes_its_child_along(keeper):
    proc, child = keeper
    proc.kill()  # SIGKILL: no handler runs, only the kernel's parent-death signal
    proc.wait(20)
    wait_for(lambda: gone(child), 20, "the child ending with its keeper")


def test_a_stopped_keeper_stops_its_child_first(keeper):
    proc, child = keeper
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    assert gone(child)
    assert "stopped (killed by SIGTERM)" in proc.stderr.read()


def test_keeper_without_a_command_is_one_line():
    result = subprocess.run([sys.executable, "-m", "stack", "keep", "shop-1"], cwd=REPO,
                            capture_output=True, text=True, timeout=30)  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].endswith("keep: no command given")


def test_sighup_starts_the_child_again_with_the_restart_file(tmp_path):
    """A switch (stack.runner.switch) writes the new command, then SIGHUP: the keeper stops its
    child, starts the new command, and says so in its state file; it runs on as before."""
    from stack import keeper as keeper_module

    proc = subprocess.Popen(
        [sys.executable, "-m", "stack", "keep", "shop-9", "--dir", str(tmp_path), "--",
         "sleep", "600"],
        cwd=REPO, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    state = keeper_module.state_file(tmp_path, "shop-9")
    try:
        first = wait_for(lambda: state.exists() and json.loads(state.read_text()), 20,
                         "the keeper's state file")  # fmt: skip
        assert (first["keeper"], first["starts"]) == (proc.pid, 1)
        old = psutil.Process(first["child"])
        keeper_module.restart_file(tmp_path, "shop-9").write_text(json.dumps(["sleep", "601"]))
        proc.send_signal(signal.SIGHUP)
        second = wait_for(lambda: json.loads(state.read_text())["starts"] == 2
                          and json.loads(state.read_text()), 30, "the second start")  # fmt: skip
        assert gone(old)
        assert psutil.Process(second["child"]).cmdline() == ["sleep", "601"]
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert not state.exists()  # a stopped keeper leaves no state behind
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)

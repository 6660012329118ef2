"""The native stack for end-to-end tests on free ports: started in-process (`stack.runner.running`)
or as the README says (`make local-up`), and proven clean when the test is done (no listening
port, no process of the stack left)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

from signals.client import Prometheus
from stack.processes import free_port, tcp_open
from stack.runner import running
from stack.settings import (
    DEFAULTS_FILE,
    REPO,
    ephemeral_env,
    read_env_file,
    read_stack_settings,
)

PORT_KEYS = [k for k in read_env_file(DEFAULTS_FILE) if k.endswith("_PORT")]


def make(target: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", target], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=180)  # fmt: skip


def query(prometheus: str, expr: str) -> float | None:
    """The first series' value now; None when there is no series (not 0: an absent metric must
    not pass for a zero)."""
    return Prometheus(prometheus).value(expr)


def stack_listeners(state: Path) -> list[tuple[str, str, int]]:
    """(process name, address, port) of every TCP socket listening in a process of the stack
    (honcho's descendants)."""
    honcho = psutil.Process(int((state / "honcho.pid").read_text()))
    found = []
    for proc in honcho.children(recursive=True):
        try:
            for conn in proc.net_connections(kind="inet"):
                if conn.status == psutil.CONN_LISTEN:
                    found.append((proc.name(), conn.laddr.ip, conn.laddr.port))
        except psutil.NoSuchProcess:
            continue
    return found


def processes_of(state: Path) -> list[int]:
    """Every process whose command line names the stack's state folder."""
    return [
        p.info["pid"]
        for p in psutil.process_iter(["pid", "cmdline"])
        if any(str(state) in part for part in (p.info["cmdline"] or []))
    ]


@contextmanager
def native_stack(
    state: Path, *, via_make: bool = False, **overrides: str
) -> Iterator[tuple[dict, dict, Path]]:
    """(env, ports, state) of a running native stack; LOCAL_* `overrides` on top of the
    small shop of `stack.settings.SMALL_STACK`. `via_make`: `make local-up` / `make local-down`
    as a user types them, else the same functions in this process."""
    env = ephemeral_env(state, free_port, os.environ, **overrides)
    ports = {key: int(env[key]) for key in PORT_KEYS}
    try:
        if via_make:
            up = make("local-up", env)
            try:
                assert up.returncode == 0, up.stdout + up.stderr
                yield env, ports, state
            finally:
                down = make("local-down", env)
                assert down.returncode == 0, down.stdout + down.stderr
        else:
            with running(read_stack_settings(env), environ=env):
                yield env, ports, state
    finally:
        assert [k for k, p in ports.items() if tcp_open(p)] == []
        assert processes_of(state) == [], "processes of the stack left running"

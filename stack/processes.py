"""The lab's process plumbing, once: a process started in a group of its own, the group stopped
politely then by force, alive checks, bounded waits that fail with a message, free loopback
ports and the HTTP/TCP probes every waiter polls."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from pathlib import Path
from typing import TypeVar

import requests

LOOPBACK = "127.0.0.1"
# The packages' default ports (and nginx's): never handed out, so nothing the lab starts can be
# mistaken for, or collide with, a server somebody else started the usual way.
DEFAULT_PORTS = frozenset({80, 3306, 6379, 8080, 9090, 9093, 9100, 9104, 9113, 9121})
# Below the kernel's ephemeral range: a port picked here is never taken meanwhile by the local
# end of one of the many outgoing connections a load run opens.
_PORTS_FROM = 10_000
_EPHEMERAL_FALLBACK = 32_768
# How long a group gets after SIGTERM before SIGKILL, unless the caller knows better.
STOP_TIMEOUT_S = 10.0
_KILLED_GRACE_S = 5.0

T = TypeVar("T")


class NotReady(RuntimeError):
    """A bounded wait ran out (or what it waited on died first); the message says which."""


def _ephemeral_start() -> int:
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return _EPHEMERAL_FALLBACK
    return low if low > _PORTS_FROM + 1000 else _EPHEMERAL_FALLBACK


def free_port() -> int:
    """A loopback port nobody listens on now: none of the well-known defaults, none the kernel
    hands to outgoing connections."""
    top = _ephemeral_start()
    for _ in range(1000):
        port = random.randrange(_PORTS_FROM, top)
        if port in DEFAULT_PORTS:
            continue
        with socket.socket() as sock:
            try:
                sock.bind((LOOPBACK, port))
            except OSError:
                continue
            return port
    raise NotReady(f"no free loopback port in {_PORTS_FROM}-{top - 1} after 1000 tries")


def start(
    command: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | str | None = None,
    log: Path | None = None,
) -> subprocess.Popen:
    """`command` as the leader of a new process group (so `stop_group` reaches every process it
    forks), stdin closed, stdout and stderr appended to `log` (discarded without one)."""
    out = open(log, "ab") if log is not None else subprocess.DEVNULL  # noqa: SIM115
    try:
        return subprocess.Popen(
            list(command),
            env=dict(env) if env is not None else None,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        if log is not None:
            out.close()  # the child holds its own descriptor


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, process group) of `pid` from /proc, None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], int(fields[2])


def members(pgid: int) -> list[int]:
    """The running processes of group `pgid` (zombies left out: they hold nothing)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            state, group = stat
            if group == pgid and state not in ("Z", "X"):
                found.append(int(entry.name))
    return found


def group_alive(pgid: int) -> bool:
    """Whether any process of group `pgid` still runs."""
    return bool(members(pgid))


def alive(pid: int) -> bool:
    """Whether process `pid` runs: it exists and is not a zombie waiting to be reaped."""
    stat = _stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")


def exited(proc: subprocess.Popen) -> bool:
    """Whether a child has exited, without reaping it: while it is a zombie its pid, and so its
    process group's id, cannot be handed to another process, and signalling the group stays
    safe (the machine's pids wrap around within minutes when busy)."""
    if proc.returncode is not None:
        return True
    try:
        return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _reap(pid: int) -> None:
    """Collect a child's exit status when it is ours (a leader started by `runner.up` in this
    process); a process another one started is reaped by its parent."""
    with suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def _wait_group_gone(pgid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while members(pgid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def stop_group(
    leader: subprocess.Popen | int,
    timeout: float = STOP_TIMEOUT_S,
    say: Callable[[str], None] = lambda _: None,
    *,
    leader_first: bool = False,
) -> int | None:
    """Stop the process group `leader` leads (a Popen from `start`, or the pid of a running
    leader another process started): SIGTERM to the whole group, up to `timeout` s for all of
    it to exit, then SIGKILL to whatever is left (children that ignore SIGTERM or outlive their
    leader). The leader's exit code when it is a Popen, else None.

    A Popen leader is reaped only at the end: until then its pid stays its group's, never
    another process's. One reaped before (by `poll()` elsewhere) is not signalled at all: its
    group's id may be somebody else's by now. `leader_first`: SIGTERM to the leader alone, as
    an orchestrator stops a container (a server that stops its own workers), SIGKILL to the
    group after the grace all the same."""
    if isinstance(leader, subprocess.Popen):
        if leader.returncode is not None:
            return leader.returncode
        pgid = leader.pid
    else:
        pgid = leader
    if leader_first:
        with suppress(ProcessLookupError):
            os.kill(pgid, signal.SIGTERM)
    else:
        _signal_group(pgid, signal.SIGTERM)
    if not _wait_group_gone(pgid, timeout):
        say(f"process group {pgid} ignored SIGTERM for {timeout:.0f} s: killing it")
        _signal_group(pgid, signal.SIGKILL)
        _wait_group_gone(pgid, _KILLED_GRACE_S)
    if isinstance(leader, subprocess.Popen):
        return leader.wait()
    _reap(pgid)
    return None


def wait_until(
    check: Callable[[], T],
    timeout: float,
    what: str,
    *,
    alive: Callable[[], bool] = lambda: True,
    poll: float = 0.2,
    log: Path | None = None,
) -> T:
    """The first truthy value of `check()`, polled every `poll` s. NotReady naming `what`
    when `timeout` s pass first, or at once when `alive()` turns false (the process that was
    to get there died); the last lines of `log` go with the message when there is one."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if not alive():
            raise NotReady(f"{what}: the process exited first{_tail(log)}")
        if time.monotonic() > deadline:
            raise NotReady(f"{what}: not within {timeout:.0f} s{_tail(log)}")
        time.sleep(poll)


def _tail(log: Path | None, lines: int = 15) -> str:
    if log is None or not log.exists():
        return ""
    return f" (last lines of {log}):" + last_lines(log, lines)


def last_lines(log: Path, n: int = 5) -> str:
    """The end of a log, each line indented on a line of its own, for a message that names
    the log (a test's folder is gone by the time somebody reads its output)."""
    if not log.exists():
        return ""
    return "".join(f"\n    {line}" for line in log.read_text(errors="replace").splitlines()[-n:])


def tcp_open(port: int, host: str = LOOPBACK) -> bool:
    """Whether something accepts a TCP connection on `host:port`."""
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def listening_pids(ports: Sequence[int]) -> list[int]:
    """The processes listening on these TCP ports of this machine (none when the kernel's
    table cannot be read): whose service a port is, when the stack did not start it."""
    import psutil  # lazily: only a run against a service the user started asks

    wanted = set(ports)
    try:
        table = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, OSError):
        return []
    return sorted({c.pid for c in table if c.pid and c.status == psutil.CONN_LISTEN
                   and c.laddr and c.laddr.port in wanted})  # fmt: skip


def http_ok(url: str, timeout: float = 1.0) -> bool:
    """Whether `url` answers 200."""
    try:
        return requests.get(url, timeout=timeout).status_code == 200
    except requests.RequestException:
        return False


def readiness(url: str, timeout: float = 2.0, path: str = "/readyz") -> dict | None:
    """A service's readiness: its answer to `path` (the shops' /readyz; a target's `ready`) as a
    mapping (empty when it is not JSON) when it says ready (2xx), None when it does not or does
    not answer."""
    try:
        response = requests.get(f"{url.rstrip('/')}{path}", timeout=timeout)
    except requests.RequestException:
        return None
    if not 200 <= response.status_code < 300:
        return None
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def shop_pool_capacity(url: str) -> list[float]:
    """The database pool capacity a shop's /metrics sums over its workers (empty while it does
    not answer)."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        response = requests.get(f"{url.rstrip('/')}/metrics", timeout=5)
    except requests.RequestException:
        return []
    if response.status_code != 200:
        return []
    return [
        s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
        if s.name == "shop_db_pool_connections" and s.labels == {"state": "capacity"}
    ]


def shop_booted(url: str, workers: int, threads: int) -> bool:
    """Every worker of the shop's server has built the app: their pool capacities (one pool of
    `threads` + 2 overflow per worker, see shop/serve.py) are all summed on /metrics. /readyz
    answers as soon as one worker does; a server stopped before all have booted waits its
    whole graceful timeout for the one still booting."""
    return shop_pool_capacity(url) == [workers * (threads + 2)]

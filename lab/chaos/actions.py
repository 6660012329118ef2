"""What a fault does to a running native stack, and how it is undone: signals to its processes
(found by the port they listen on), a service held down while honcho keeps the rest running
(`stack.runner.hold_file`), a row lock in a session of its own, a connection killed."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass

import psutil
import pymysql

from stack import services
from stack.runner import hold_file
from stack.settings import StackSettings

# What `inject` returns: the call that removes the fault (a no-op for one that is over at once).
Remove = Callable[[], None]


class FaultError(RuntimeError):
    """The fault could not be injected (its process is not there); the message says which."""


@dataclass(frozen=True)
class Stack:
    """The stack a fault acts on, and the shop's own numbers it needs (its lock-wait timeout)."""

    settings: StackSettings
    lock_wait_timeout: int

    def port(self, service: str) -> int:
        return self.settings.port(services.SERVICES[service].port.local)

    def root(self, **kwargs) -> pymysql.Connection:
        """A session of the stack's MariaDB as root (the chaos tool's own, never the shop's)."""
        return pymysql.connect(host="127.0.0.1", port=self.port("mysql"), user="root",
                               connect_timeout=5, read_timeout=30, **kwargs)  # fmt: skip


def _listens(proc: psutil.Process, port: int) -> bool:
    try:
        return any(c.status == psutil.CONN_LISTEN and c.laddr.port == port
                   for c in proc.net_connections(kind="tcp"))  # fmt: skip
    except psutil.NoSuchProcess:
        return False


def listeners(port: int) -> list[psutil.Process]:
    """A process per LISTEN socket on `port` (psutil names one holder per socket: a pre-fork
    server's main process and its workers share theirs)."""
    pids = {
        c.pid
        for c in psutil.net_connections(kind="tcp")
        if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid
    }
    return [psutil.Process(pid) for pid in sorted(pids)]


def server_process(port: int) -> psutil.Process | None:
    """The process that owns `port`: a holder of its listening socket, then up through the
    parents that hold it too or were forked as it was (a worker's server, which may have
    handed the socket to its workers); None when nothing listens."""
    found = listeners(port)
    if not found:
        return None
    proc = found[0]
    while (parent := proc.parent()) is not None and (
        _listens(parent, port) or _same_program(parent, proc)
    ):
        proc = parent
    return proc


def _same_program(a: psutil.Process, b: psutil.Process) -> bool:
    try:
        return a.cmdline() == b.cmdline()
    except psutil.Error:
        return False


def main_process(stack: Stack, service: str) -> psutil.Process:
    """The service's own process (server_process of its port)."""
    port = stack.port(service)
    proc = server_process(port)
    if proc is None:
        raise FaultError(f"{service}: no process listens on port {port}")
    return proc


def _wait_gone(proc: psutil.Process, timeout: float) -> None:
    with suppress(psutil.NoSuchProcess):
        proc.wait(timeout=timeout)


def hold_down(service: str, sig: signal.Signals) -> Callable[[Stack], Remove]:
    """Stop `service` with `sig` and keep it down until removed; then its Procfile loop starts
    it again, with the same command line."""
    if not services.SERVICES[service].restartable:
        raise ValueError(f"{service} is not restartable in stack/services.py")

    def inject(stack: Stack) -> Remove:
        proc = main_process(stack, service)
        hold = hold_file(stack.settings, service)
        hold.touch()
        try:
            proc.send_signal(sig)
            _wait_gone(proc, timeout=60)
        except BaseException:
            hold.unlink(missing_ok=True)
            raise
        return lambda: hold.unlink(missing_ok=True)

    return inject


def freeze(service: str) -> Callable[[Stack], Remove]:
    """SIGSTOP: the process keeps its sockets (connects succeed, nothing answers) until SIGCONT."""

    def inject(stack: Stack) -> Remove:
        proc = main_process(stack, service)
        proc.send_signal(signal.SIGSTOP)
        return lambda: proc.send_signal(signal.SIGCONT)

    return inject


def kill_one_worker(service: str) -> Callable[[Stack], Remove]:
    """SIGKILL one worker of a pre-fork server (the master starts another)."""

    def inject(stack: Stack) -> Remove:
        master = main_process(stack, service)
        workers = master.children()
        if not workers:
            raise FaultError(f"{service}: its master (pid {master.pid}) has no workers")
        workers[0].send_signal(signal.SIGKILL)
        return lambda: None

    return inject


def lock_user_row(user_id: int) -> Callable[[Stack], Remove]:
    """A transaction of its own holds an exclusive lock on user `user_id`'s row until removed
    (the shop's orders for that user wait for it, then time out)."""

    def inject(stack: Stack) -> Remove:
        conn = stack.root(database="shop", autocommit=False)
        try:
            with conn.cursor() as cur:
                cur.execute("BEGIN")
                if not cur.execute("SELECT id FROM users WHERE id = %s FOR UPDATE", (user_id,)):
                    raise FaultError(f"user {user_id} does not exist")
        except BaseException:
            conn.close()
            raise

        def remove() -> None:
            try:
                conn.rollback()
            finally:
                conn.close()

        return remove

    return inject


def kill_sessions(user: str) -> Callable[[Stack], Remove]:
    """KILL every connection of database account `user` (an exporter's session cut)."""

    def inject(stack: Stack) -> Remove:
        with stack.root() as conn, conn.cursor() as cur:
            cur.execute("SELECT id FROM information_schema.processlist "
                        "WHERE user = %s AND id != CONNECTION_ID()", (user,))  # fmt: skip
            ids = [row[0] for row in cur.fetchall()]
            if not ids:
                raise FaultError(f"no connection of the database account {user!r} to cut")
            for session in ids:
                with suppress(pymysql.err.OperationalError):  # it ended by itself meanwhile
                    cur.execute(f"KILL {int(session)}")
        return lambda: None

    return inject


def release_all(stack: Stack) -> None:
    """Whatever a fault interrupted midway may have left: every hold removed, every service of
    the stack running (SIGCONT to a stopped one)."""
    for row in services.native_services():
        if row.restartable:
            hold_file(stack.settings, row.name).unlink(missing_ok=True)
        if row.port is None:
            continue
        for proc in listeners(stack.settings.port(row.port.local)):
            with suppress(psutil.NoSuchProcess):
                if proc.status() == psutil.STATUS_STOPPED:
                    proc.send_signal(signal.SIGCONT)


def wait_until(check: Callable[[], bool], timeout: float, poll: float = 0.2) -> float | None:
    """Seconds until `check()` held, or None when it did not within `timeout`."""
    started = time.monotonic()
    while True:
        if check():
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            return None
        time.sleep(poll)

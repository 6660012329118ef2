"""A replica's keeper: the process honcho runs for one shop replica, with the replica as its child.

honcho stops the whole stack when any of its processes exits. A replica must be able to die
(a crash, or a test killing it) while the others and nginx carry on, so honcho watches this
keeper instead: the keeper outlives its child and says so in the log. The converse never
happens: the child gets SIGTERM from the kernel the moment its keeper dies, even by SIGKILL
(PR_SET_PDEATHSIG), so no shop server is left holding the replica's port. A replica that died
stays down (alert ShopReplicaDown) until the stack is restarted, or until it is asked for: nothing
hides the failure.

Asked for is SIGHUP: the keeper stops its child as it would on SIGTERM, then starts the command
in its `restart_file` (written by `stack.runner.switch`: the same replica with other knobs, a
strategy or a debug delay), or its own command again when there is none. Its `state_file` says
which child runs and how many it has started, so that whoever sent SIGHUP can wait for the new
one.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

PR_SET_PDEATHSIG = 1
# The child's grace after SIGTERM before the keeper kills it: above shop.serve's 20 s
# graceful_timeout, below nothing (honcho itself kills the group 5 s after its SIGTERM).
STOP_TIMEOUT = 25.0


def say(name: str, msg: str) -> None:
    print(f"keeper {name}: {msg}", file=sys.stderr, flush=True)


WAKE = {signal.SIGTERM, signal.SIGINT, signal.SIGCHLD, signal.SIGHUP}


def _child_setup(parent: int):
    """preexec_fn: the signals the keeper blocks unblocked again, and SIGTERM for this child
    when `parent` dies (the keeper is single-threaded, so preexec_fn is safe here). If the
    parent died before prctl, it is already too late: exit."""

    def setup() -> None:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, WAKE)
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            os._exit(126)
        if os.getppid() != parent:
            os._exit(1)

    return setup


def describe(returncode: int) -> str:
    if returncode < 0:
        return f"killed by {signal.Signals(-returncode).name}"
    return f"exit code {returncode}"


def state_file(folder: Path, name: str) -> Path:
    """{"keeper": pid, "child": pid, "starts": n}: rewritten each time a child starts."""
    return folder / f"{name}.json"


def restart_file(folder: Path, name: str) -> Path:
    """The command (a JSON list) the next SIGHUP starts instead of the keeper's own."""
    return folder / f"{name}.restart.json"


class Keeper:
    def __init__(self, name: str, cmd: list[str], folder: Path | None) -> None:
        self.name, self.cmd, self.folder = name, cmd, folder
        self.starts = 0
        self.child: subprocess.Popen | None = None

    def start(self) -> None:
        cmd = self.cmd
        if self.starts and self.folder and restart_file(self.folder, self.name).exists():
            cmd = json.loads(restart_file(self.folder, self.name).read_text())
        self.child = subprocess.Popen(cmd, preexec_fn=_child_setup(os.getpid()))
        self.starts += 1
        say(self.name, f"started pid {self.child.pid}")
        if self.folder:
            state = state_file(self.folder, self.name)
            partial = state.with_suffix(".tmp")
            partial.write_text(json.dumps({"keeper": os.getpid(), "child": self.child.pid,
                                           "starts": self.starts}))  # fmt: skip
            partial.replace(state)  # whole or not at all for a reader

    def stop_child(self) -> None:
        child = self.child
        if child is None or child.poll() is not None:
            return
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            say(self.name, f"pid {child.pid} ignored SIGTERM for {STOP_TIMEOUT:.0f}s: killing it")
            child.kill()
            child.wait()
        say(self.name, f"stopped ({describe(child.returncode)})")

    def run(self) -> int:
        """Until told to stop (SIGTERM, SIGINT): stop the child and return 0. A child that dies
        first is logged and left down; SIGHUP starts it again."""
        self.start()
        reported = False
        while True:
            signo = signal.sigwaitinfo(WAKE).si_signo
            if signo == signal.SIGHUP:
                say(self.name, "SIGHUP: starting the replica again")
                self.stop_child()
                self.start()
                reported = False
            elif signo == signal.SIGCHLD:
                child = self.child
                if child is not None and child.poll() is not None and not reported:
                    say(self.name, f"pid {child.pid} ended ({describe(child.returncode)}): the "
                                   "replica is down, the stack runs on without it")  # fmt: skip
                    reported = True
            else:
                self.stop_child()
                if self.folder:
                    state_file(self.folder, self.name).unlink(missing_ok=True)
                return 0


def keep(name: str, cmd: list[str], folder: Path | None = None) -> int:
    """Run `cmd` until this keeper is told to stop (SIGTERM, SIGINT): then stop the child and
    return 0. If the child dies first, log it and wait for the stop (or a SIGHUP). `folder`:
    where the state file and the restart file are (none: a keeper nobody restarts)."""
    # Blocked and taken with sigwaitinfo: no handler, no polling, no signal lost in between.
    signal.pthread_sigmask(signal.SIG_BLOCK, WAKE)
    if folder:
        folder.mkdir(parents=True, exist_ok=True)
    return Keeper(name, cmd, folder).run()

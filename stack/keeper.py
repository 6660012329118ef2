"""A replica's keeper: the process honcho runs for one shop replica, with the replica as its child.

honcho stops the whole stack when any of its processes exits. A replica must be able to die
(a crash, or a test killing it) while the others and nginx carry on, so honcho watches this
keeper instead: the keeper outlives its child and says so in the log. The converse never
happens: the child gets SIGTERM from the kernel the moment its keeper dies, even by SIGKILL
(PR_SET_PDEATHSIG), so no shop server is left holding the replica's port. A replica that died
stays down (alert ShopReplicaDown) until the stack is restarted: nothing hides the failure.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys

PR_SET_PDEATHSIG = 1
# The child's grace after SIGTERM before the keeper kills it: above shop.serve's 20 s
# graceful_timeout, below nothing (honcho itself kills the group 5 s after its SIGTERM).
STOP_TIMEOUT = 25.0


def say(name: str, msg: str) -> None:
    print(f"keeper {name}: {msg}", file=sys.stderr, flush=True)


WAKE = {signal.SIGTERM, signal.SIGINT, signal.SIGCHLD}


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


def _wait_for_stop() -> None:
    """Block until SIGTERM or SIGINT (the keeper's signals are blocked: they wait for us)."""
    while signal.sigwaitinfo(WAKE).si_signo == signal.SIGCHLD:
        pass


def keep(name: str, cmd: list[str]) -> int:
    """Run `cmd` until this keeper is told to stop (SIGTERM, SIGINT): then stop the child and
    return 0. If the child dies first, log it and wait for the stop."""
    # Blocked and taken with sigwaitinfo: no handler, no polling, no signal lost in between.
    signal.pthread_sigmask(signal.SIG_BLOCK, WAKE)
    # Same process group as the keeper: honcho's killpg reaches the child too.
    child = subprocess.Popen(cmd, preexec_fn=_child_setup(os.getpid()))
    say(name, f"started pid {child.pid}")
    while child.poll() is None:
        if signal.sigwaitinfo(WAKE).si_signo != signal.SIGCHLD:
            break
    else:
        say(name, f"pid {child.pid} ended ({describe(child.returncode)}): the replica is down, "
                  "the stack runs on without it")  # fmt: skip
        _wait_for_stop()
        return 0
    child.send_signal(signal.SIGTERM)
    try:
        child.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        say(name, f"pid {child.pid} ignored SIGTERM for {STOP_TIMEOUT:.0f}s: killing it")
        child.kill()
        child.wait()
    say(name, f"stopped ({describe(child.returncode)})")
    return 0

"""stack.processes on real processes: a group stopped whole, a reaped leader never signalled,
bounded waits that say what they waited for, free ports that are free."""

from __future__ import annotations

import socket
import sys

import pytest

from stack import processes
from stack.processes import DEFAULT_PORTS, NotReady


def test_a_group_is_stopped_whole_children_included(tmp_path):
    # A leader whose child ignores SIGTERM: SIGKILL after the grace takes it too.
    script = "import signal, subprocess, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); " \
             "time.sleep(60)"  # fmt: skip
    proc = processes.start(["sh", "-c", f"{sys.executable} -c '{script}' & wait"],
                           log=tmp_path / "log")  # fmt: skip
    processes.wait_until(lambda: len(processes.members(proc.pid)) == 2, 20, "two members")
    assert not processes.exited(proc)
    assert processes.stop_group(proc, timeout=1) is not None
    assert processes.members(proc.pid) == [] and not processes.group_alive(proc.pid)


def test_a_leader_reaped_elsewhere_is_not_signalled_again():
    """Its pid, and its group's id, may be another process's by now (pids wrap around)."""
    proc = processes.start(["true"])
    proc.wait()
    assert processes.exited(proc)
    assert processes.stop_group(proc) == 0  # its code, and no killpg on a stale id


def test_exited_does_not_reap_so_the_group_id_stays_ours():
    proc = processes.start(["true"])
    processes.wait_until(lambda: processes.exited(proc), 20, "true exited")
    assert proc.returncode is None  # a zombie still: nobody else can have its pid
    assert processes.stop_group(proc) == 0


def test_a_bounded_wait_says_what_it_waited_for_and_stops_when_the_process_died(tmp_path):
    log = tmp_path / "server.log"
    log.write_text("first\nlast words\n")
    with pytest.raises(NotReady, match=r"(?s)the probe: not within 0 s .*last words"):
        processes.wait_until(lambda: False, 0, "the probe", log=log)
    with pytest.raises(NotReady, match="the server ready: the process exited first"):
        processes.wait_until(lambda: False, 60, "the server ready", alive=lambda: False)
    assert processes.wait_until(lambda: 7, 1, "seven") == 7


def test_a_free_port_is_free_and_none_of_the_defaults():
    for _ in range(50):
        port = processes.free_port()
        assert port not in DEFAULT_PORTS
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))

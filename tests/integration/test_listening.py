"""Whose a port is: a service the stack did not start is found by the port it listens on, so a
run counts its CPU as the service's, not a neighbour's."""

from __future__ import annotations

import subprocess
import sys

import pytest

from stack.processes import free_port, listening_pids, stop_group, tcp_open, wait_until

pytestmark = pytest.mark.integration


def test_the_process_listening_on_a_port_is_found_and_no_other():
    port, elsewhere = free_port(), free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        wait_until(lambda: tcp_open(port), 30, "http.server listening")
        assert listening_pids([port]) == [server.pid]
        assert server.pid not in listening_pids([elsewhere])
    finally:
        stop_group(server.pid)

"""The neighbour ledger on this machine's real /proc: a busy process outside the run is seen."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from loadtest.neighbours import DISTURBED_CORES, start

# 1.5 s of CPU whatever the machine's load (process time, not wall time)
BUSY = "import time\nwhile time.process_time() < 1.5: pass\n"


def _run_busy_child() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", BUSY])


def test_a_busy_process_outside_our_trees_is_a_neighbour():
    # started outside the ledger's roots: a grandchild of ours would be ours, so detach it
    ledger = start(roots=())
    assert ledger is not None
    spawn = (f"import subprocess, sys; print(subprocess.Popen([sys.executable, '-c', {BUSY!r}], "
             "start_new_session=True).pid)")  # fmt: skip
    orphan = int(subprocess.check_output([sys.executable, "-c", spawn], text=True))
    deadline = time.monotonic() + 60
    while Path(f"/proc/{orphan}/stat").exists() and time.monotonic() < deadline:
        stat = Path(f"/proc/{orphan}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            break  # done, its CPU time is final (its parent, init, reaps it soon)
        time.sleep(0.05)
    seen = ledger.stop()
    # the orphan was re-parented away from us: it is someone else's, and it spun ~1.5 s
    assert seen.neighbour_cores * seen.seconds >= 1.0
    assert seen.disturbed and seen.neighbour_cores >= DISTURBED_CORES
    assert "other processes used" in seen.describe()


def test_our_own_child_is_not_a_neighbour():
    ledger = start()
    child = _run_busy_child()
    child.wait()  # reaped: its CPU is in our children's time
    seen = ledger.stop()
    assert seen.ours_cores * seen.seconds >= 1.0
    assert seen.neighbour_cores * seen.seconds < 1.0

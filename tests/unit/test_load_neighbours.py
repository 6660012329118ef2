"""The neighbour ledger on this machine's real /proc: a busy process outside the run is seen."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab.load.neighbours import DISTURBED_CORES, NeighbourCpu, start

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
    # the orphan was re-parented away from us: it is someone else's, and it spun 1.5 s of CPU
    # (other processes of a shared machine can only add to that)
    assert seen.neighbour_cores * seen.seconds >= 1.0
    assert "other processes used" in seen.describe()


def test_our_own_child_is_not_a_neighbour():
    ledger = start()
    child = _run_busy_child()
    child.wait()  # reaped: its CPU is in our children's time
    seen = ledger.stop()
    ours = seen.ours_cores * seen.seconds
    assert ours >= 1.4  # the child's 1.5 s of CPU, through our reaped children's time
    # ... and none of it is a neighbour's: what is left of the machine's busy time is the rest
    # of the machine's (a shared machine's neighbours may well be busy meanwhile)
    busy = seen.machine_cores * seen.seconds
    assert seen.neighbour_cores * seen.seconds <= max(0.0, busy - ours) + 1e-6


def test_a_tenth_of_the_box_disturbs_a_run():
    def used(cores: float, steal: float = 0.0) -> NeighbourCpu:
        return NeighbourCpu(60.0, 1.5, 1.2, cores, steal, ())

    assert not used(0.1).disturbed and used(DISTURBED_CORES).disturbed
    assert used(0.1, steal=0.1).disturbed  # the hypervisor's neighbours count too
    assert used(0.0).describe() == "other processes used 0.00 cores (short-lived)"


@pytest.mark.parametrize(
    ("db_host", "ports"), [("127.0.0.1", [28080, 23306]), ("db.internal", [28080])]
)
def test_a_service_the_user_runs_is_its_app_and_its_loopback_database_not_a_neighbour(
    tmp_path, db_host, ports
):
    from lab.load.run import own_ports
    from lab.load.settings import read_load_settings

    mine = tmp_path / "mine.yaml"
    mine.write_text("like: spring-shop\nname: mine\n"
                    "app: {start: null, url: 'http://127.0.0.1:28080'}\n"
                    f"database: {{dsn: 'mysql://mon:pw@{db_host}:23306/shop'}}\n")  # fmt: skip
    settings = read_load_settings({"TARGET": str(mine), "LOCAL_STATE_DIR": str(tmp_path)})
    assert own_ports(settings) == ports

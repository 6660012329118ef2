"""The CPU that other processes on this machine used during a run: what makes a figure not repeat.

A shared 2-core box runs the shop, its database and the load tool; a neighbour's test suite or
build beside them moves the shop's latency as much as the offered rate does. The ledger reads
/proc at the start and the end of a run: the machine's busy time, minus what this process's tree
(the load tool) and the stack's tree (the native stack's supervisor and all it started) used,
is what the neighbours took. Steal time (the hypervisor giving the CPU to another machine) is
counted apart. Linux only; elsewhere `start` answers None.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
# Neighbours above this many cores during a run disturb it: on two cores that is a tenth of the
# box, which is what a pytest run's start-up bursts or a compiler average to.
DISTURBED_CORES = 0.2


@dataclass(frozen=True)
class NeighbourCpu:
    """What the rest of the machine did during a run, in cores (CPU seconds per wall second)."""

    seconds: float  # the wall time measured
    machine_cores: float  # busy, all processes
    ours_cores: float  # the load tool's tree and the stack's tree
    neighbour_cores: float  # the rest (>= 0)
    steal_cores: float  # taken by the hypervisor for other machines
    top: tuple[tuple[str, float], ...]  # the busiest neighbour commands still alive, cores

    @property
    def disturbed(self) -> bool:
        return self.neighbour_cores + self.steal_cores >= DISTURBED_CORES

    def describe(self) -> str:
        names = ", ".join(f"{name} {cores:.2f}" for name, cores in self.top) or "short-lived"
        steal = f", {self.steal_cores:.2f} stolen by the hypervisor" if self.steal_cores else ""
        return f"other processes used {self.neighbour_cores:.2f} cores ({names}){steal}"

    def as_dict(self) -> dict:
        return {
            "seconds": round(self.seconds, 1),
            "machine_cores": round(self.machine_cores, 3),
            "ours_cores": round(self.ours_cores, 3),
            "neighbour_cores": round(self.neighbour_cores, 3),
            "steal_cores": round(self.steal_cores, 3),
            "top": [[name, round(cores, 3)] for name, cores in self.top],
            "disturbed": self.disturbed,
        }


@dataclass(frozen=True)
class _Sample:
    wall: float
    busy: float  # machine CPU seconds busy (all CPUs)
    steal: float
    procs: dict[int, tuple[str, int, float, float]]  # pid -> (comm, ppid, own s, reaped kids s)


def _ticks() -> float:
    return float(os.sysconf("SC_CLK_TCK"))


def _read_machine(proc: Path) -> tuple[float, float]:
    # cpu  4705 356 584 3699176 23060 0 277 0 0 0
    fields = [float(x) for x in (proc / "stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0.0] * 8)[:8]
    tick = _ticks()
    return (user + nice + system + irq + softirq) / tick, steal / tick


def _read_procs(proc: Path) -> dict[int, tuple[str, int, float, float]]:
    tick = _ticks()
    out = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # 3834 (python) S 3765 3765 ... utime stime cutime cstime (fields 14-17)
            raw = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        rest = raw[raw.rindex(")") + 2 :].split()
        ppid = int(rest[1])
        own = (int(rest[11]) + int(rest[12])) / tick
        kids = (int(rest[13]) + int(rest[14])) / tick
        out[int(entry.name)] = (comm, ppid, own, kids)
    return out


def _sample(proc: Path) -> _Sample:
    busy, steal = _read_machine(proc)
    return _Sample(time.monotonic(), busy, steal, _read_procs(proc))


def _tree(procs: dict[int, tuple[str, int, float, float]], roots: Iterable[int]) -> set[int]:
    members = {r for r in roots if r in procs}
    children: dict[int, list[int]] = {}
    for pid, (_, ppid, _, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    todo = list(members)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in members:
                members.add(child)
                todo.append(child)
    return members


class Ledger:
    """Start before the run, `stop()` after it. `roots`: the pids whose trees are ours (this
    process is always one): the stack's supervisor, for the native stack."""

    def __init__(self, roots: Iterable[int] = (), proc: Path = PROC) -> None:
        self.proc = proc
        self.roots = {os.getpid(), *roots}
        self.first = _sample(proc)

    def stop(self) -> NeighbourCpu:
        last = _sample(self.proc)
        wall = max(1e-3, last.wall - self.first.wall)
        ours_now = _tree(last.procs, self.roots)

        def used(pid: int, sample_then: dict, sample_now: dict) -> float:
            """CPU seconds of pid (and of its reaped children) within the window."""
            _, _, own, kids = sample_now[pid]
            if pid in sample_then and sample_then[pid][0] == sample_now[pid][0]:
                _, _, own0, kids0 = sample_then[pid]
                return max(0.0, own - own0 + kids - kids0)
            return own + kids  # started during the window

        # A process of ours that ended in the window is counted through its parent's reaped
        # children (k6 by this process, a respawned worker by the shop's server).
        ours = sum(used(pid, self.first.procs, last.procs) for pid in ours_now)
        others: dict[str, float] = {}
        for pid, (comm, _, _, _) in last.procs.items():
            if pid not in ours_now:
                others[comm] = others.get(comm, 0.0) + used(pid, self.first.procs, last.procs)
        busy = max(0.0, last.busy - self.first.busy)
        neighbour = max(0.0, busy - ours) / wall
        top = sorted(((n, c / wall) for n, c in others.items() if c / wall >= 0.02),
                     key=lambda item: item[1], reverse=True)[:3]  # fmt: skip
        return NeighbourCpu(
            seconds=wall,
            machine_cores=busy / wall,
            ours_cores=ours / wall,
            neighbour_cores=neighbour,
            steal_cores=max(0.0, last.steal - self.first.steal) / wall,
            top=tuple(top),
        )


def start(roots: Iterable[int] = (), proc: Path = PROC) -> Ledger | None:
    """A ledger from now, or None where /proc is not Linux's."""
    try:
        return Ledger(roots, proc)
    except (OSError, ValueError, IndexError):
        return None

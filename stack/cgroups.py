"""Compose's container limits natively: a cgroup per service, read back with cAdvisor's names.

cgroup v1 (cpu, cpuacct and memory hierarchies, as on this machine's kernel) is supported;
where the hierarchy is missing or read-only, the stack says so once and runs without limits.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

ROOT = Path("/sys/fs/cgroup")
GROUP = "shoplab"
PERIOD_US = 100_000
CONTROLLERS = ("cpu", "cpuacct", "memory")


def _dir(controller: str, name: str, root: Path = ROOT) -> Path:
    return root / controller / GROUP / name


def unavailable_reason(root: Path = ROOT) -> str | None:
    """None when cgroup v1 cpu, cpuacct and memory are mounted and writable by us."""
    for controller in CONTROLLERS:
        base = root / controller
        if not (base / "cgroup.procs").exists():
            return f"cgroup v1 {controller} hierarchy not mounted at {base}"
        if not os.access(base, os.W_OK):
            return f"{base} is not writable (run as root)"
    return None


def create(name: str, cpus: float, memory_bytes: int, root: Path = ROOT) -> None:
    for controller in CONTROLLERS:
        _dir(controller, name, root).mkdir(parents=True, exist_ok=True)
    cpu = _dir("cpu", name, root)
    (cpu / "cpu.cfs_period_us").write_text(str(PERIOD_US))
    (cpu / "cpu.cfs_quota_us").write_text(str(int(cpus * PERIOD_US)))
    (_dir("memory", name, root) / "memory.limit_in_bytes").write_text(str(memory_bytes))


def enter(name: str, pid: int, root: Path = ROOT) -> None:
    for controller in CONTROLLERS:
        (_dir(controller, name, root) / "cgroup.procs").write_text(str(pid))


def remove(names: Iterable[str], root: Path = ROOT) -> None:
    """Remove the groups (only empty ones can go; a group with processes is left alone)."""
    for name in names:
        for controller in CONTROLLERS:
            for path in (_dir(controller, name, root), root / controller / GROUP):
                with contextlib.suppress(OSError):
                    path.rmdir()


def _read_kv(path: Path) -> dict[str, int]:
    values = {}
    for line in path.read_text().splitlines():
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            values[key] = int(value)
    return values


class CgroupCollector:
    """Emits cAdvisor's container_* names for our cgroups, labelled as cAdvisor labels compose's
    containers: `name` and `container_label_com_docker_compose_service` the service,
    `container_label_com_docker_compose_container_number` the replica (1 when not replicated).

    `groups` maps each `service` or `service:replica` to its cgroup under shoplab/ (see
    StackSettings.cgroup and stack.services.cgroup_names).
    """

    def __init__(self, groups: Mapping[str, str], root: Path = ROOT):
        self.groups = dict(groups)
        self.root = root

    def collect(self):
        labels = [
            "name",
            "container_label_com_docker_compose_service",
            "container_label_com_docker_compose_container_number",
        ]
        cpu_usage = CounterMetricFamily(
            "container_cpu_usage_seconds_total", "Cumulative CPU time consumed.", labels=labels
        )
        quota = GaugeMetricFamily("container_spec_cpu_quota", "CPU quota (us per period).",
                                  labels=labels)  # fmt: skip
        period = GaugeMetricFamily("container_spec_cpu_period", "CPU period (us).", labels=labels)
        periods = CounterMetricFamily(
            "container_cpu_cfs_periods_total", "Enforcement periods elapsed.", labels=labels
        )
        throttled = CounterMetricFamily(
            "container_cpu_cfs_throttled_periods_total", "Periods throttled.", labels=labels
        )
        throttled_s = CounterMetricFamily(
            "container_cpu_cfs_throttled_seconds_total", "Time throttled.", labels=labels
        )
        working_set = GaugeMetricFamily(
            "container_memory_working_set_bytes", "Memory in use minus inactive file cache.",
            labels=labels,
        )  # fmt: skip
        usage = GaugeMetricFamily("container_memory_usage_bytes", "Memory in use.", labels=labels)
        limit = GaugeMetricFamily(
            "container_spec_memory_limit_bytes", "Memory limit.", labels=labels
        )
        ooms = CounterMetricFamily("container_oom_events_total", "OOM kills.", labels=labels)
        last_seen = GaugeMetricFamily(
            "container_last_seen", "When the container was last seen (unix time).", labels=labels
        )
        for key, name in self.groups.items():
            cpu_dir = _dir("cpu", name, self.root)
            if not cpu_dir.exists():
                continue
            service, _, replica = key.partition(":")
            lv = [service, service, replica or "1"]
            acct = _dir("cpuacct", name, self.root) / "cpuacct.usage"
            cpu_usage.add_metric(lv, int(acct.read_text()) / 1e9)
            q = int((cpu_dir / "cpu.cfs_quota_us").read_text())
            if q > 0:
                quota.add_metric(lv, q)
                period.add_metric(lv, int((cpu_dir / "cpu.cfs_period_us").read_text()))
            stat = _read_kv(cpu_dir / "cpu.stat")
            periods.add_metric(lv, stat.get("nr_periods", 0))
            throttled.add_metric(lv, stat.get("nr_throttled", 0))
            throttled_s.add_metric(lv, stat.get("throttled_time", 0) / 1e9)
            mem = _dir("memory", name, self.root)
            used = int((mem / "memory.usage_in_bytes").read_text())
            mstat = _read_kv(mem / "memory.stat")
            usage.add_metric(lv, used)
            working_set.add_metric(lv, max(0, used - mstat.get("total_inactive_file", 0)))
            limit.add_metric(lv, int((mem / "memory.limit_in_bytes").read_text()))
            ooms.add_metric(lv, _read_kv(mem / "memory.oom_control").get("oom_kill", 0))
            last_seen.add_metric(lv, time.time())
        yield from (cpu_usage, quota, period, periods, throttled, throttled_s, working_set, usage,
                    limit, ooms, last_seen)  # fmt: skip

"""Which resource limits the shop: rules over server-side figures measured during a probe.

Pure: figures in (a mapping read from Prometheus by the caller), ranked limits out. Each rule
scores its resource as use / saturation threshold; at 1.0 or above the resource is saturated.
The first break above the capacity is where the limit shows, so that probe's figures are judged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# The figures a probe records (None where the series is absent: no cgroup, no exporter).
FIGURES = {
    "shop_cpu_cores": "shop CPU used (cores)",
    "shop_cpu_limit_cores": "shop CPU limit (cores, cgroup)",
    "shop_throttled_ratio": "share of the shop's CFS periods throttled",
    "shop_memory_bytes": "shop memory working set",
    "shop_memory_limit_bytes": "shop memory limit",
    "mysql_cpu_cores": "MariaDB CPU used (cores)",
    "mysql_cpu_limit_cores": "MariaDB CPU limit (cores, cgroup)",
    "machine_cpu_busy_ratio": "share of the machine's CPU busy (all processes)",
    "machine_cpu_pressure_ratio": "share of the time a runnable task waited for a CPU (PSI)",
    "pool_in_use": "DB pool connections in use (max)",
    "pool_capacity": "DB pool capacity",
    "lock_waits_max": "InnoDB lock waits at once (max)",
    "deadlocks": "InnoDB deadlocks during the probe",
    "cache_error_ratio": "share of popular-cache lookups that failed (Redis)",
    "http_5xx_ratio": "share of shop responses 5xx",
    "generator_cpu_cores": "load generator CPU (cores)",
    "generator_processes": "load generator processes",
    "dropped_ratio": "share of offered iterations dropped by the load tool",
    "neighbour_cpu_cores": "CPU other processes of the machine used (cores, steal included)",
}


@dataclass(frozen=True)
class Limit:
    resource: str  # short name: shop_cpu, mysql_cpu, machine_cpu, db_pool, row_locks, ...
    title: str  # what a person reads
    score: float  # use / saturation threshold: >= 1 saturated
    evidence: str  # the numbers it rests on

    @property
    def saturated(self) -> bool:
        return self.score >= 1.0


def _ratio(used: float | None, limit: float | None) -> float | None:
    if used is None or not limit:
        return None
    return used / limit


def _scores(f: Mapping[str, float | None]) -> dict[str, float | None]:
    """Each resource's use divided by the use at which it saturates (None: not measured)."""

    def over(value: float | None, saturation: float) -> float | None:
        return None if value is None else value / saturation

    cpu = _ratio(f["shop_cpu_cores"], f["shop_cpu_limit_cores"])
    throttled = f["shop_throttled_ratio"]
    waits, deadlocks = f["lock_waits_max"], f["deadlocks"]
    return {
        # At 85 % of its quota a pre-fork server queues; 20 % of periods throttled is saturation.
        "shop_cpu": None if cpu is None and throttled is None
        else max((cpu or 0) / 0.85, (throttled or 0) / 0.2),
        "mysql_cpu": over(_ratio(f["mysql_cpu_cores"], f["mysql_cpu_limit_cores"]), 0.85),
        # Busy is an average: latency climbs earlier, when runnable tasks queue for a core.
        # PSI's "some" share says how often one did; measured here, probes broke from about
        # half the time (holds at 0.28-0.64, breaks at 0.41-0.77 on two shared cores).
        "machine_cpu": _worst(over(f["machine_cpu_busy_ratio"], 0.9),
                              over(f["machine_cpu_pressure_ratio"], 0.5)),
        "shop_memory": over(_ratio(f["shop_memory_bytes"], f["shop_memory_limit_bytes"]), 0.9),
        "db_pool": over(_ratio(f["pool_in_use"], f["pool_capacity"]), 0.95),
        # A deadlock is a failed order (503): any is a limit; lock waits matter from a handful.
        "row_locks": None if waits is None and deadlocks is None
        else max(1.0 if (deadlocks or 0) > 0 else 0.0, (waits or 0) / 5),
        "redis": over(f["cache_error_ratio"], 0.01),
        "shop_errors": over(f["http_5xx_ratio"], 0.01),
    }  # fmt: skip


# Each resource: what a person reads, and the numbers its score rests on.
_TITLES = {
    "shop_cpu": ("the shop's CPU (its cgroup limit)", lambda f: (
        f"shop CPU {_num(f['shop_cpu_cores'])} of {_num(f['shop_cpu_limit_cores'])} cores, "
        f"{_pct(f['shop_throttled_ratio'])} of periods throttled")),
    "mysql_cpu": ("MariaDB's CPU", lambda f: (
        f"MariaDB CPU {_num(f['mysql_cpu_cores'])} of {_num(f['mysql_cpu_limit_cores'])} cores")),
    "machine_cpu": ("the machine's CPU (shop, database and load tool share it)",
                    lambda f: f"machine CPU {_pct(f['machine_cpu_busy_ratio'])} busy, a task "
                    f"waited for a core {_pct(f['machine_cpu_pressure_ratio'])} of the time"),
    "shop_memory": ("the shop's memory limit", lambda f: (
        f"shop memory {_mib(f['shop_memory_bytes'])} of {_mib(f['shop_memory_limit_bytes'])}")),
    "db_pool": ("the database connection pool", lambda f: (
        f"pool {_num(f['pool_in_use'])} of {_num(f['pool_capacity'])} connections in use")),
    "row_locks": ("InnoDB row locks (lock waits, deadlocks)", lambda f: (
        f"{_num(f['deadlocks'], 0)} deadlocks, up to {_num(f['lock_waits_max'], 0)} lock waits "
        "at once")),
    "redis": ("Redis (the popular-list cache)",
              lambda f: f"{_pct(f['cache_error_ratio'])} of cache lookups failed"),
    "shop_errors": ("the shop's 5xx answers",
                    lambda f: f"{_pct(f['http_5xx_ratio'])} of shop responses 5xx"),
}  # fmt: skip


def rank_limits(figures: Mapping[str, float | None]) -> list[Limit]:
    """Every resource with a score, most saturated first."""
    f = {name: figures.get(name) for name in FIGURES}
    limits = [
        Limit(resource, _TITLES[resource][0], round(score, 3), _TITLES[resource][1](f))
        for resource, score in _scores(f).items()
        if score is not None
    ]
    return sorted(limits, key=lambda limit: limit.score, reverse=True)


def generator_saturated(figures: Mapping[str, float | None]) -> str | None:
    """Why the load tool, not the shop, limited a probe; None when it did not.

    A tool using nearly all the cores of its processes limited it. So did dropped iterations
    while no resource of the service's was near saturation (the tool ran out of VUs), the
    machine's CPU included: on a box the shop, its database and the tool share, a saturated CPU
    is the service's limit, and the tool's drops are its symptom (the probes that ran whole on
    2026-12-08 dropped 13 % at 675/s with orders p95 at 648 ms)."""
    dropped = figures.get("dropped_ratio") or 0.0
    cores = figures.get("generator_cpu_cores")
    processes = figures.get("generator_processes") or 1
    server = [limit for limit in rank_limits(figures) if limit.resource != "shop_errors"]
    server_busy = any(limit.score >= 0.8 for limit in server)
    if cores is not None and cores >= 0.9 * processes and dropped > 0.01:
        return f"the load generator used {cores:.2f} cores of its {processes:g} process(es)"
    if dropped > 0.01 and not server_busy:
        return (
            f"{dropped * 100:.1f} % of iterations dropped while no server resource was near "
            "saturation, the machine's CPU included (the load tool ran out of VUs)"
        )
    return None


def _worst(*scores: float | None) -> float | None:
    known = [s for s in scores if s is not None]
    return max(known) if known else None


def _num(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f} %"


def _mib(value: float | None) -> str:
    return "n/a" if value is None else f"{value / 2**20:.0f} MiB"

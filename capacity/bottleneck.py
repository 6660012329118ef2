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
    "pool_in_use": "DB pool connections in use (max)",
    "pool_capacity": "DB pool capacity",
    "lock_waits_max": "InnoDB lock waits at once (max)",
    "deadlocks": "InnoDB deadlocks during the probe",
    "cache_error_ratio": "share of popular-cache lookups that failed (Redis)",
    "http_5xx_ratio": "share of shop responses 5xx",
    "generator_cpu_cores": "load generator CPU (cores)",
    "generator_processes": "load generator processes",
    "dropped_ratio": "share of offered iterations dropped by the load tool",
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


def rank_limits(figures: Mapping[str, float | None]) -> list[Limit]:
    """Every resource with a score, most saturated first."""
    f = {name: figures.get(name) for name in FIGURES}
    limits: list[Limit] = []

    def add(resource: str, title: str, score: float | None, evidence: str) -> None:
        if score is not None:
            limits.append(Limit(resource, title, round(score, 3), evidence))

    cpu = _ratio(f["shop_cpu_cores"], f["shop_cpu_limit_cores"])
    throttled = f["shop_throttled_ratio"]
    if cpu is not None or throttled is not None:
        # At 85 % of its quota a gunicorn box queues; 20 % of periods throttled is saturation.
        score = max((cpu or 0) / 0.85, (throttled or 0) / 0.2)
        add(
            "shop_cpu",
            "the shop's CPU (its cgroup limit)",
            score,
            f"shop CPU {_num(f['shop_cpu_cores'])} of {_num(f['shop_cpu_limit_cores'])} cores, "
            f"{_pct(throttled)} of periods throttled",
        )
    mysql = _ratio(f["mysql_cpu_cores"], f["mysql_cpu_limit_cores"])
    add(
        "mysql_cpu",
        "MariaDB's CPU",
        None if mysql is None else mysql / 0.85,
        f"MariaDB CPU {_num(f['mysql_cpu_cores'])} of {_num(f['mysql_cpu_limit_cores'])} cores",
    )
    busy = f["machine_cpu_busy_ratio"]
    add(
        "machine_cpu",
        "the machine's CPU (shop, database and load tool share it)",
        None if busy is None else busy / 0.9,
        f"machine CPU {_pct(busy)} busy",
    )
    memory = _ratio(f["shop_memory_bytes"], f["shop_memory_limit_bytes"])
    add(
        "shop_memory",
        "the shop's memory limit",
        None if memory is None else memory / 0.9,
        f"shop memory {_mib(f['shop_memory_bytes'])} of {_mib(f['shop_memory_limit_bytes'])}",
    )
    pool = _ratio(f["pool_in_use"], f["pool_capacity"])
    add(
        "db_pool",
        "the database connection pool",
        None if pool is None else pool / 0.95,
        f"pool {_num(f['pool_in_use'])} of {_num(f['pool_capacity'])} connections in use",
    )
    waits, deadlocks = f["lock_waits_max"], f["deadlocks"]
    if waits is not None or deadlocks is not None:
        # A deadlock is a failed order (503): any is a limit; lock waits matter from a handful.
        score = max(1.0 if (deadlocks or 0) > 0 else 0.0, (waits or 0) / 5)
        add(
            "row_locks",
            "InnoDB row locks (lock waits, deadlocks)",
            score,
            f"{_num(deadlocks, 0)} deadlocks, up to {_num(waits, 0)} lock waits at once",
        )
    cache = f["cache_error_ratio"]
    add(
        "redis",
        "Redis (the popular-list cache)",
        None if cache is None else cache / 0.01,
        f"{_pct(cache)} of cache lookups failed",
    )
    errors = f["http_5xx_ratio"]
    add(
        "shop_errors",
        "the shop's 5xx answers",
        None if errors is None else errors / 0.01,
        f"{_pct(errors)} of shop responses 5xx",
    )
    return sorted(limits, key=lambda limit: limit.score, reverse=True)


def generator_saturated(figures: Mapping[str, float | None]) -> str | None:
    """Why the load tool, not the shop, limited a probe; None when it did not.

    Dropped iterations while no server resource is near saturation mean the tool ran out of
    VUs or CPU; so does a tool using nearly all the cores of its processes."""
    dropped = figures.get("dropped_ratio") or 0.0
    cores = figures.get("generator_cpu_cores")
    processes = figures.get("generator_processes") or 1
    server = [
        limit
        for limit in rank_limits(figures)
        if limit.resource not in ("machine_cpu", "shop_errors")
    ]
    server_busy = any(limit.score >= 0.8 for limit in server)
    if cores is not None and cores >= 0.9 * processes and dropped > 0.01:
        return f"the load generator used {cores:.2f} cores of its {processes:g} process(es)"
    if dropped > 0.01 and not server_busy:
        return (
            f"{dropped * 100:.1f} % of iterations dropped while no server resource was near "
            "saturation (the load tool ran out of VUs or CPU)"
        )
    return None


def _num(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f} %"


def _mib(value: float | None) -> str:
    return "n/a" if value is None else f"{value / 2**20:.0f} MiB"

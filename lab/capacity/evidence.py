"""The server-side figures of one probe's hold window, read from Prometheus.

Each figure of capacity.bottleneck.FIGURES that Prometheus knows, over the window [start, end]
and read at its end. cAdvisor names (`name` = the compose service) come from cAdvisor in compose
and from the native stack's cgroup exporter.
"""

from __future__ import annotations

from signals import dialects
from signals.client import Prometheus


def _queries(w: str) -> dict[str, str]:
    """PromQL of each figure over the window `w` (e.g. `40s`)."""

    def cpu(name: str) -> str:
        return f'sum(rate(container_cpu_usage_seconds_total{{name="{name}"}}[{w}]))'

    def cpu_limit(name: str) -> str:
        # Summed over the service's replicas (one series each), as its CPU use is; only the
        # replicas seen in the window: after a restart with fewer replicas, an instant query
        # would still see the gone ones' last samples for Prometheus's 5-minute lookback.
        return (
            f'sum(avg_over_time(container_spec_cpu_quota{{name="{name}"}}[{w}])'
            f' / avg_over_time(container_spec_cpu_period{{name="{name}"}}[{w}]))'
        )

    def share(part: str, whole: str) -> str:
        return f"sum(increase({part}[{w}])) / sum(increase({whole}[{w}]))"

    failed = dialects.requests("increase", w, matchers='status=~"5.."', by="")
    answered = dialects.requests("increase", w, by="")
    return {
        "shop_cpu_cores": cpu("shop"),
        "shop_cpu_limit_cores": cpu_limit("shop"),
        "shop_throttled_ratio": share(
            'container_cpu_cfs_throttled_periods_total{name="shop"}',
            'container_cpu_cfs_periods_total{name="shop"}',
        ),
        "shop_memory_bytes": "max(max_over_time("
        f'container_memory_working_set_bytes{{name="shop"}}[{w}]))',
        "shop_memory_limit_bytes": 'max(container_spec_memory_limit_bytes{name="shop"})',
        "mysql_cpu_cores": cpu("mysql"),
        "mysql_cpu_limit_cores": cpu_limit("mysql"),
        "machine_cpu_busy_ratio": f'1 - avg(rate(node_cpu_seconds_total{{mode="idle"}}[{w}]))',
        "machine_cpu_pressure_ratio": f"rate(node_pressure_cpu_waiting_seconds_total[{w}])",
        "pool_in_use": dialects.pool_in_use_max(w),
        "pool_capacity": dialects.pool_capacity(),
        "lock_waits_max": f"max(max_over_time(innodb_lock_waits[{w}]))",
        "deadlocks": f"sum(increase(innodb_deadlocks_total[{w}]))",
        "cache_error_ratio": share(
            'shop_cache_requests_total{result="error"}', "shop_cache_requests_total"
        ),
        "http_5xx_ratio": f"({failed}) / ({answered})",
    }


def read_figures(prom: Prometheus, start: float, end: float) -> dict[str, float | None]:
    # At least 10 s: a short window still spans two scrapes of every exporter (5 s apart).
    seconds = max(10, int(end - start))
    return {name: prom.value(expr, at=end) for name, expr in _queries(f"{seconds}s").items()}

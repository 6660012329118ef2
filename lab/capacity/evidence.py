"""What one probe's hold window shows in Prometheus: the server-side figures and the client's
throughput and mean latency (the scalability model's point).

Each figure of capacity.bottleneck.FIGURES that Prometheus knows, over the window [start, end]
and read at its end. cAdvisor names (`name` = the compose service) come from cAdvisor in compose
and from the native stack's cgroup exporter. The client's figures are the load signals'
(`signals.load`), for the probe's own `testid`.
"""

from __future__ import annotations

from signals import dialects
from signals import load as load_signals
from signals.client import Prometheus


def _cpu(name: str, w: str) -> str:
    """The cores service `name` used over the window `w`, its replicas summed."""
    return f'sum(rate(container_cpu_usage_seconds_total{{name="{name}"}}[{w}]))'


def _queries(w: str) -> dict[str, str]:
    """PromQL of each figure over the window `w` (e.g. `40s`)."""

    def cpu(name: str) -> str:
        return _cpu(name, w)

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


def _client_queries(tool: str, testid: str, w: str) -> dict[str, str]:
    """The probe's throughput (every answered request, and the successful ones, per second)
    and its mean latency (seconds), as the load tool saw them."""
    m = load_signals.testid_matchers(tool, testid)
    return {
        "client_tps": load_signals.requests(tool, "rate", w, matchers=m),
        "client_ok_tps": load_signals.requests(tool, "rate", w, matchers=m, outcome="ok"),
        "client_mean_latency_s": load_signals.latency_mean(tool, w, matchers=m),
    }


def read_figures(
    prom: Prometheus, start: float, end: float, tool: str = "", testid: str = ""
) -> dict[str, float | None]:
    # At least 10 s: a short window still spans two scrapes of every exporter (5 s apart).
    w = f"{max(10, int(end - start))}s"
    queries = _queries(w)
    # The client's rates only over exactly the load's own window, and only a window long enough
    # for two of k6's pushes (5 s apart): widened, they would average in the quiet around it.
    if testid and end - start >= 10:
        queries.update(_client_queries(tool, testid, f"{int(end - start)}s"))
    return {name: prom.value(expr, at=end) for name, expr in queries.items()}


def cpu_seconds(prom: Prometheus, service: str, start: float, end: float) -> float | None:
    """CPU seconds the service's cgroups used over [start, end] (None: no cgroup series)."""
    seconds = max(10, int(end - start))
    cores = prom.value(_cpu(service, f"{seconds}s"), at=end)
    return None if cores is None else cores * (end - start)

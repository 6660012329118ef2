"""What the load runner asks Prometheus, as functions of a window in seconds.

The client's figures are the vocabulary's (`signals`): named once there,
used here. What only a soak's drift check reads stands here.
"""

from __future__ import annotations

from collections.abc import Callable

from signals.load import verdict_queries

# And `<endpoint>_p95` (ms) and `<endpoint>_errors` (its failed share) for each of the target's
# endpoints.
CLIENT_SIGNALS = ("rate", "errors", "dropped")

# A set of queries over a window: seconds -> {name: PromQL}.
Queries = Callable[[int], dict[str, str]]


def client_queries(tool: str, testid: str, endpoints: tuple[str, ...]) -> Queries:
    """The load generator's view of run `testid`: CLIENT_SIGNALS and each endpoint's p95."""
    return lambda seconds: verdict_queries(tool, testid, seconds, endpoints)


def drift_queries(tool: str, testid: str, endpoints: tuple[str, ...]) -> Queries:
    """What a soak must keep flat, averaged over the window: the service's working-set memory
    (its container: the cgroup natively, cAdvisor in compose), MariaDB's open connections, each
    endpoint's p95 as the client saw it (`<endpoint>_p95`, ms)."""

    def over(seconds: int) -> dict[str, str]:
        w = f"{seconds}s"
        client = verdict_queries(tool, testid, seconds, endpoints)
        return {
            # The service's container (cgroup) in either stack: any dialect, any language.
            "shop_memory_bytes": "sum(avg_over_time("
            f'container_memory_working_set_bytes{{name="shop"}}[{w}]))',
            "db_connections": f"max(avg_over_time(mysql_global_status_threads_connected[{w}]))",
            **{f"{name}_p95": client[f"{name}_p95"] for name in endpoints},
        }

    return over

"""What the load runner asks Prometheus, as functions of a window in seconds.

The client's figures and the deadlock count are the vocabulary's (`signals`): named once there,
used here. What only a soak's drift check reads stands here.
"""

from __future__ import annotations

from collections.abc import Callable

from signals.catalog import deadlocks_increase
from signals.load import verdict_queries

CLIENT_SIGNALS = ("rate", "errors", "orders_p95", "popular_p95", "dropped")
DRIFT_SIGNALS = ("shop_memory_bytes", "db_connections", "orders_p95_ms")

# A set of queries over a window: seconds -> {name: PromQL}.
Queries = Callable[[int], dict[str, str]]


def client_queries(tool: str, testid: str) -> Queries:
    """The load generator's view of run `testid`, one query per CLIENT_SIGNALS name."""
    return lambda seconds: verdict_queries(tool, testid, seconds)


def drift_queries(tool: str, testid: str) -> Queries:
    """What a soak must keep flat, averaged over the window: the shop's resident memory (its
    processes summed), MariaDB's open connections, the client's orders p95 (ms)."""

    def over(seconds: int) -> dict[str, str]:
        w = f"{seconds}s"
        return {
            "shop_memory_bytes": "sum(avg_over_time("
            f'process_resident_memory_bytes{{job="shop"}}[{w}]))',
            "db_connections": f"max(avg_over_time(mysql_global_status_threads_connected[{w}]))",
            "orders_p95_ms": verdict_queries(tool, testid, seconds)["orders_p95"],
        }

    return over


def deadlocks(seconds: int) -> str:
    """InnoDB deadlocks over the last `seconds`."""
    return deadlocks_increase(f"{seconds}s")

"""The faults of `make chaos`, as data: what each does, how long it lasts, what should fire."""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import dataclass

from lab.chaos import actions
from lab.chaos.actions import Remove, Stack

# The hot user whose row the lock fault holds: the chaos load sends most orders to users
# 1..HOT_USERS, so this row is wanted every second.
HOT_USER = 1
HOT_USERS = 5
# The InnoDB exporter's own database account (stack.runner creates it at seed).
EXPORTER_ACCOUNT = "innodb_exporter"


@dataclass(frozen=True)
class Fault:
    name: str
    what: str  # one line for the table's legend
    inject: Callable[[Stack], Remove]
    # Seconds between injection and removal, from the stack's numbers; 0: over at once.
    lasts: Callable[[Stack], float]
    # Any of these firing during or after the fault is its alert; () when none should fire.
    alerts: tuple[str, ...] = ()
    # The service whose own readiness (beside the shop's) ends the recovery.
    service: str = "shop"
    # Prometheus itself goes away: compare what the load tool counted with what it stored.
    checks_remote_write: bool = False


def _seconds(n: float) -> Callable[[Stack], float]:
    return lambda _stack: n


# In this order, each fault's alert is a new one, and sure to fire: the lock's alerts compare
# its errors with the last 2 m of requests, so it comes first, before other loads fill them;
# the ShopNotReady of a frozen MariaDB (a rate over 2 m) is long resolved when it is killed, last.
FAULTS: dict[str, Fault] = {
    f.name: f
    for f in (
        Fault(
            "lock-held",
            f"user {HOT_USER}'s row locked FOR UPDATE for twice the shop's lock-wait timeout + 2 s",
            actions.lock_user_row(HOT_USER),
            # Past the timeout, and long enough for the waits to pile up into an alert.
            lambda stack: 2 * stack.lock_wait_timeout + 2,
            alerts=("ShopDBErrorsSurging", "InnoDBLockWaitsPiling", "InnoDBLockWaitOld"),
            service="mysql",
        ),
        Fault(
            "mariadb-freeze",
            "MariaDB SIGSTOPped for 10 s, then SIGCONT: connections open, nothing answers",
            actions.freeze("mysql"),
            _seconds(10),
            alerts=("MySQLDown", "ShopNotReady"),
            service="mysql",
        ),
        Fault(
            "redis-kill",
            "Redis SIGKILLed, kept down 15 s, started again (empty: a cache)",
            actions.hold_down("redis", signal.SIGKILL),
            _seconds(15),
            alerts=("RedisDown", "ShopCacheDown"),
            service="redis",
        ),
        Fault(
            "worker-kill",
            "one worker process of the shop SIGKILLed (its server starts another)",
            actions.kill_one_worker("shop"),
            _seconds(0),
        ),
        Fault(
            "prometheus-restart",
            "Prometheus stopped (SIGTERM), kept down 5 s, started again during k6's remote write",
            actions.hold_down("prometheus", signal.SIGTERM),
            _seconds(5),
            service="prometheus",
            checks_remote_write=True,
        ),
        Fault(
            "exporter-cut",
            "the InnoDB exporter's database connection KILLed on the server",
            actions.kill_sessions(EXPORTER_ACCOUNT),
            _seconds(0),
            service="innodb-exporter",
        ),
        Fault(
            "mariadb-kill",
            "MariaDB SIGKILLed, kept down 15 s, started again (InnoDB crash recovery)",
            actions.hold_down("mysql", signal.SIGKILL),
            _seconds(15),
            alerts=("MySQLDown", "ShopNotReady"),
            service="mysql",
        ),
    )
}


def select(name: str) -> list[Fault]:
    """`all`, or one fault by name; a ValueError names the choices."""
    if name == "all":
        return list(FAULTS.values())
    if name not in FAULTS:
        raise ValueError(f"FAULT={name!r} is not one of all, {', '.join(FAULTS)}")
    return [FAULTS[name]]

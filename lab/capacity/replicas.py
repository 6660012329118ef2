"""The native stack restarted with a replica count, for a sweep (LOCAL_SHOP_REPLICAS=1,2,3):
switched to the count (stack.runner.switch: down, then up, data and Prometheus history kept),
and the load settings that go with it (the run records and the ledger read the count from
them)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from lab.load.settings import LoadSettings


class RestartError(RuntimeError):
    """The stack did not come back with the count; the message says which step failed."""


def restart_with(load: LoadSettings, count: int, say: Callable[[str], None]) -> LoadSettings:
    from stack import runner

    if load.stack is None:
        raise RestartError("a replica sweep needs the native stack: unset SHOP_URL")
    environ = {**load.environ, "LOCAL_SHOP_REPLICAS": str(count)}
    stack = load.stack.with_values(LOCAL_SHOP_REPLICAS=str(count))
    say(f"restarting the native stack with LOCAL_SHOP_REPLICAS={count} at "
        f"{stack.values['LOCAL_SHOP_CPUS']} CPU each (data is kept)")  # fmt: skip
    if runner.switch(stack) != 0:
        raise RestartError(f"the native stack did not come back with {count} replica(s)")
    return dataclasses.replace(load, environ=environ, stack=stack)

"""The e2e tests' one native stack: started once per session as the README says (`make local-up`
on free ports), its shop switched between the shapes the tests ask for (`stack.runner.switch`:
the shop alone restarts, MariaDB and Prometheus keep their data and history), and proven clean
after the last test (`make local-down`: no listening port, no process of it left).

A test asks for a shape with the `shared_stack` mark and takes the `stack` fixture:

    @pytest.mark.shared_stack("naive")
    def test_x(stack): ...

The tests are ordered by shape, so that each switch happens once: every `safe` test first (the
stack has never deadlocked then, which the safe alert test relies on), then every `naive` one,
then the tests with a stack of their own (tests/e2e/test_replicas.py). docs/testing.md says
which test needs what, and why the remaining stack of its own is one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from stack import runner
from stack.settings import StackSettings, read_stack_settings
from tests.e2e.native import native_stack

# How the shared stack starts: alerts fire within seconds (every `for:` capped), the sales
# consumer runs (every row of the service table, every panel), and the shop is big enough for
# every test's orders on hot users (the chaos loads' included).
SHARED = {
    "LOCAL_ALERT_FOR_MAX": "5s",
    "LOCAL_SALES_MODE": "async",
    "LOCAL_SEED_USERS": "1000",
    "LOCAL_SEED_PRODUCTS": "100",
}
# The shop's shapes, in the order the tests run in: the knobs only the shop reads.
SHAPES = {
    "safe": {"LOCAL_ORDER_STRATEGY": "safe"},
    "naive": {"LOCAL_ORDER_STRATEGY": "naive"},
}


@dataclass
class SharedStack:
    """The session's native stack: how it started (`env`, `ports`, `state`) and the shop knobs
    it runs with now (`shop`)."""

    env: dict[str, str]
    ports: dict[str, int]
    state: Path
    shop: dict[str, str] = field(default_factory=dict)

    @property
    def environ(self) -> dict[str, str]:
        """The environment that describes the stack as it runs now."""
        return {**self.env, **self.shop}

    @property
    def settings(self) -> StackSettings:
        return read_stack_settings(self.environ)

    def url(self, key: str, path: str = "") -> str:
        return f"http://127.0.0.1:{self.ports[key]}{path}"

    def use(self, **shop: str) -> StackSettings:
        """The shop with exactly these knobs on top of how the stack started (restarted by its
        keeper unless it runs with them already)."""
        if shop != self.shop:
            wanted = read_stack_settings({**self.env, **shop})
            assert runner.switch(wanted) == 0, f"the shared stack's shop did not take {shop}"
            self.shop = dict(shop)
        return self.settings

    @contextmanager
    def switched(self, **knobs: str) -> Iterator[StackSettings]:
        """The shop with `knobs` added for the body of a `with`, as it was after it."""
        before = dict(self.shop)
        try:
            yield self.use(**{**before, **knobs})
        finally:
            self.use(**before)


def shape_of(node: pytest.Item | pytest.Module) -> str | None:
    marker = node.get_closest_marker("shared_stack")
    return marker.args[0] if marker else None


@pytest.fixture(scope="session")
def shared_stack(harness_root) -> Iterator[SharedStack]:
    """The one stack, `make local-up` at the first test that needs it, `make local-down` (and the
    proof that nothing of it is left) after the session's last test."""
    with native_stack(harness_root / "e2e-stack", via_make=True, **SHARED) as (env, ports, state):
        yield SharedStack(env, ports, state)


@pytest.fixture
def stack(shared_stack: SharedStack, request) -> SharedStack:
    """The shared stack in the shape of the test's `shared_stack` mark."""
    shape = shape_of(request.node)
    assert shape in SHAPES, f"mark the test @pytest.mark.shared_stack(one of {list(SHAPES)})"
    shared_stack.use(**SHAPES[shape])
    return shared_stack


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The e2e tests in shape order (safe, naive, then those with a stack of their own), each
    group in file order; every other test where it was."""
    order = [*SHAPES, None]
    here = Path(__file__).parent
    slots = [i for i, item in enumerate(items) if here in Path(item.fspath).parents]
    ordered = sorted((items[i] for i in slots), key=lambda item: order.index(shape_of(item)))
    for slot, item in zip(slots, ordered, strict=True):
        items[slot] = item

"""What the load tool was told against what the database holds: pure, rows in, findings out.

The tools log one line per order attempt (its Idempotency-Key, user, HTTP status and the order id
of a 201) to `orders.jsonl` in the run's results folder, among timed lines of the popular list
(`endpoint` popular, no key: not an order) that `make chaos` reads too. A 201 whose order is
missing is a lost order; an order the client never saw acknowledged (a timeout during a fault)
is counted, not hidden; one key answered by two order ids, or an order with two payments, is a
double charge.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

ACKS_FILE = "orders.jsonl"


@dataclass(frozen=True)
class Attempt:
    """One order request as the client saw it; status 0 when no answer came (timeout)."""

    key: str
    user_id: int
    status: int
    order_id: int | None = None


@dataclass(frozen=True)
class StoredOrder:
    order_id: int
    user_id: int
    key: str
    payments: int


@dataclass
class Reconciliation:
    attempts: int = 0
    acknowledged: int = 0  # distinct keys answered 201
    stored: int = 0  # distinct keys of this run found in the database
    lost: list[str] = field(default_factory=list)  # 201 seen, no such order stored
    double_charged: list[str] = field(default_factory=list)  # two order ids, or two payments
    unacknowledged: list[str] = field(default_factory=list)  # stored, client never saw a 201

    @property
    def passed(self) -> bool:
        return not self.lost and not self.double_charged

    def summary(self) -> str:
        return (
            f"{self.attempts} order attempts, {self.acknowledged} acknowledged (201), "
            f"{self.stored} stored; lost {len(self.lost)}, double-charged "
            f"{len(self.double_charged)}, stored but never acknowledged {len(self.unacknowledged)}"
        )


def read_attempts(path: Path) -> Iterator[Attempt]:
    """The tool's log; a torn last line (the tool killed mid-write) is skipped, nothing else."""
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if row.get("endpoint", "orders") != "orders":
                    continue  # a timed read (the popular list) in the same log
                yield Attempt(
                    key=str(row["key"]),
                    user_id=int(row["user_id"]),
                    status=int(row["status"]),
                    order_id=int(row["order_id"]) if row.get("order_id") else None,
                )
            except (ValueError, KeyError, TypeError) as exc:
                if line.endswith("\n"):
                    raise ValueError(f"{path}:{number}: not an order attempt: {exc}") from None


def reconcile(attempts: Iterable[Attempt], stored: Mapping[str, StoredOrder]) -> Reconciliation:
    """`stored`: the database's orders of this run's keys, by key."""
    result = Reconciliation()
    answered: dict[str, set[int]] = {}
    keys: set[str] = set()
    for attempt in attempts:
        result.attempts += 1
        keys.add(attempt.key)
        if attempt.status == 201 and attempt.order_id is not None:
            answered.setdefault(attempt.key, set()).add(attempt.order_id)
    result.acknowledged = len(answered)
    result.stored = sum(1 for key in keys if key in stored)
    for key in sorted(keys):
        order = stored.get(key)
        ids = answered.get(key, set())
        if len(ids) > 1 or (order is not None and order.payments > 1):
            result.double_charged.append(key)
        if ids and (order is None or order.order_id not in ids):
            result.lost.append(key)
        if order is not None and not ids:
            result.unacknowledged.append(key)
    return result

"""One audit: the sales queue waited for, the books, then (when the run logged its order
attempts) the reconciliation."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine

from lab.audit.books import broken_invariants, stored_orders
from lab.audit.reconcile import ACKS_FILE, Reconciliation, read_attempts, reconcile
from shop.sales.queue import wait_until_drained

# How long the audit waits for the sales consumer (SHOP_SALES_MODE=async) to empty the queue
# before it checks the books: the daily sales aggregate equals the items only once it has.
QUEUE_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class QueueWait:
    """The sales queue as the audit found it: rows still waiting after `waited_s` seconds."""

    left: int
    waited_s: float

    def line(self) -> str:
        if self.left == 0:
            return f"sales queue: empty after {self.waited_s:.1f} s (daily sales caught up)"
        return (f"sales queue: {self.left} lines still waiting after {self.waited_s:.0f} s: is "
                "the sales consumer running? (the daily sales aggregate lags by them)")  # fmt: skip


@dataclass
class AuditResult:
    broken: dict[str, int] = field(default_factory=dict)  # invariant -> violations
    reconciliation: Reconciliation | None = None  # None: the run logged no order attempts
    queue: QueueWait | None = None  # None: no sales_queue in this database

    @property
    def passed(self) -> bool:
        return not self.broken and (self.reconciliation is None or self.reconciliation.passed)

    def lines(self) -> list[str]:
        out = [self.queue.line()] if self.queue is not None else []
        out += [f"books: FAIL {name} ({count})" for name, count in self.broken.items()]
        if not self.broken:
            out.append("books: every invariant holds")
        r = self.reconciliation
        if r is None:
            out.append("reconciliation: no order log for this run (nothing to reconcile)")
        else:
            out.append(f"reconciliation: {'ok' if r.passed else 'FAIL'}: {r.summary()}")
            for label, keys in (("lost", r.lost), ("double-charged", r.double_charged)):
                if keys:
                    out.append(f"  {label}: {', '.join(keys[:5])}{' ...' if len(keys) > 5 else ''}")
        out.append(f"audit: {'PASS' if self.passed else 'FAIL'}")
        return out

    def as_dict(self) -> dict:
        r = self.reconciliation
        return {
            "passed": self.passed,
            "broken_invariants": self.broken,
            "sales_queue": None
            if self.queue is None
            else {"left": self.queue.left, "waited_s": round(self.queue.waited_s, 1)},
            "reconciliation": None
            if r is None
            else {
                "passed": r.passed,
                "attempts": r.attempts,
                "acknowledged": r.acknowledged,
                "stored": r.stored,
                "lost": r.lost,
                "double_charged": r.double_charged,
                "unacknowledged": len(r.unacknowledged),
            },
        }


def audit(
    database_url: str, results: Path | None = None, queue_timeout: float = QUEUE_TIMEOUT_S
) -> AuditResult:
    """Audit the shop's database; reconcile with `results/orders.jsonl` when it exists. The
    books are checked once the sales queue is empty, or `queue_timeout` seconds on (said)."""
    engine = create_engine(database_url, pool_pre_ping=True)
    try:
        state, waited = wait_until_drained(engine, queue_timeout)
        queue = None if state is None else QueueWait(state.depth, waited)
        with engine.connect() as conn:
            result = AuditResult(broken=broken_invariants(conn), queue=queue)
            log = results / ACKS_FILE if results is not None else None
            if log is not None and log.exists():
                attempts = list(read_attempts(log))
                stored = stored_orders(conn, (a.key for a in attempts))
                result.reconciliation = reconcile(attempts, stored)
        return result
    finally:
        engine.dispose()

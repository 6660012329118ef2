"""One audit: the books, then (when the run logged its order attempts) the reconciliation."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine

from audit.books import broken_invariants, stored_orders
from audit.reconcile import ACKS_FILE, Reconciliation, read_attempts, reconcile


@dataclass
class AuditResult:
    broken: dict[str, int] = field(default_factory=dict)  # invariant -> violations
    reconciliation: Reconciliation | None = None  # None: the run logged no order attempts

    @property
    def passed(self) -> bool:
        return not self.broken and (self.reconciliation is None or self.reconciliation.passed)

    def lines(self) -> list[str]:
        out = [f"books: FAIL {name} ({count})" for name, count in self.broken.items()]
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


def audit(database_url: str, results: Path | None = None) -> AuditResult:
    """Audit the shop's database; reconcile with `results/orders.jsonl` when it exists."""
    engine = create_engine(database_url, pool_pre_ping=True)
    try:
        with engine.connect() as conn:
            result = AuditResult(broken=broken_invariants(conn))
            log = results / ACKS_FILE if results is not None else None
            if log is not None and log.exists():
                attempts = list(read_attempts(log))
                stored = stored_orders(conn, (a.key for a in attempts))
                result.reconciliation = reconcile(attempts, stored)
        return result
    finally:
        engine.dispose()

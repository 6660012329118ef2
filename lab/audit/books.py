"""The database side of the audit: the invariants of the design and this run's stored orders."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, bindparam, text

from lab.audit.reconcile import StoredOrder
from shop.invariants import check_invariants

_ORDERS_BY_KEY = text(
    "SELECT o.id, o.user_id, o.idempotency_key, COUNT(p.id) AS payments FROM orders o "
    "LEFT JOIN payments p ON p.order_id = o.id "
    "WHERE o.idempotency_key IN :keys GROUP BY o.id, o.user_id, o.idempotency_key"
).bindparams(bindparam("keys", expanding=True))


def broken_invariants(conn: Connection) -> dict[str, int]:
    """Violations per invariant that does not hold; empty when the books balance."""
    return {name: count for name, count in check_invariants(conn).items() if count}


def stored_orders(
    conn: Connection, keys: Iterable[str], chunk: int = 1000
) -> dict[str, StoredOrder]:
    """The orders carrying these Idempotency-Keys (one per key: a unique index), by key."""
    found: dict[str, StoredOrder] = {}
    keys = sorted(set(keys))
    for i in range(0, len(keys), chunk):
        for row in conn.execute(_ORDERS_BY_KEY, {"keys": keys[i : i + chunk]}):
            found[row.idempotency_key] = StoredOrder(row.id, row.user_id, row.idempotency_key,
                                                     int(row.payments))  # fmt: skip
    return found

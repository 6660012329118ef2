"""The data invariants that hold after any run, any strategy (DESIGN.md), as SQL checks."""

from __future__ import annotations

from sqlalchemy import Connection, text

# Each query counts violations: 0 means the invariant holds.
CHECKS = {
    "every order has exactly one payment, of the order's total": """
        SELECT COUNT(*) FROM orders o
        LEFT JOIN payments p ON p.order_id = o.id
        WHERE p.id IS NULL OR p.amount <> o.total OR p.user_id <> o.user_id""",
    "every order has items adding up to its total": """
        SELECT COUNT(*) FROM orders o
        LEFT JOIN (SELECT order_id, SUM(quantity * price) AS s FROM order_items GROUP BY order_id) i
          ON i.order_id = o.id
        WHERE i.s IS NULL OR i.s <> o.total""",
    "stock is never negative": "SELECT COUNT(*) FROM products WHERE stock < 0",
    "initial points + charges = points now + payments, per user": """
        SELECT COUNT(*) FROM users u
        LEFT JOIN (SELECT user_id,
                          SUM(CASE WHEN kind IN ('seed', 'charge') THEN amount ELSE 0 END) AS added,
                          SUM(CASE WHEN kind = 'use' THEN amount ELSE 0 END) AS used
                   FROM point_history GROUP BY user_id) h ON h.user_id = u.id
        LEFT JOIN (SELECT user_id, SUM(amount) AS paid FROM payments GROUP BY user_id) p
          ON p.user_id = u.id
        WHERE COALESCE(h.added, 0) <> u.point + COALESCE(p.paid, 0)
           OR COALESCE(h.used, 0) <> COALESCE(p.paid, 0)""",
    "stock sold = order item quantities, per product": """
        SELECT COUNT(*) FROM products p
        LEFT JOIN (SELECT product_id, SUM(quantity) AS q FROM order_items GROUP BY product_id) i
          ON i.product_id = p.id
        WHERE p.initial_stock - p.stock <> COALESCE(i.q, 0)""",
    "daily sales aggregate = order item quantities, per product": """
        SELECT COUNT(*) FROM products p
        LEFT JOIN (SELECT product_id, SUM(quantity) AS q FROM order_items GROUP BY product_id) i
          ON i.product_id = p.id
        LEFT JOIN (SELECT product_id, SUM(quantity) AS q FROM product_sales_daily
                   GROUP BY product_id) s ON s.product_id = p.id
        WHERE COALESCE(i.q, 0) <> COALESCE(s.q, 0)""",
}


def check_invariants(conn: Connection) -> dict[str, int]:
    """Violations per invariant (all zero when the data is consistent)."""
    return {name: int(conn.execute(text(sql)).scalar_one()) for name, sql in CHECKS.items()}

"""Bulk seeding: users 1..N, products 1..M, and optionally K orders over the last few days."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

CHUNK = 10_000
DEFAULT_POINTS = 1_000_000_000
DEFAULT_STOCK = 1_000_000


def _insert(cur, sql: str, rows: list[tuple], progress: Callable[[str], None], what: str) -> None:
    for start in range(0, len(rows), CHUNK):
        cur.executemany(sql, rows[start : start + CHUNK])
        if len(rows) > CHUNK:
            progress(f"  {what}: {min(start + CHUNK, len(rows))}/{len(rows)}")


def seed_catalog(
    engine: Engine,
    users: int,
    products: int,
    *,
    points: int = DEFAULT_POINTS,
    stock: int = DEFAULT_STOCK,
    progress: Callable[[str], None] = lambda _: None,
    rng: random.Random | None = None,
) -> dict[str, int]:
    """Create the users and products that do not exist yet (ids are contiguous from 1)."""
    rng = rng or random.Random(42)
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("SELECT COALESCE(MAX(id), 0) FROM users")
        have_users = cur.fetchone()[0]
        cur.execute("SELECT COALESCE(MAX(id), 0) FROM products")
        have_products = cur.fetchone()[0]
        new_users = [(i, f"user{i}", points) for i in range(have_users + 1, users + 1)]
        _insert(
            cur,
            "INSERT INTO users (id, username, point) VALUES (%s, %s, %s)",
            new_users,
            progress,
            "users",
        )
        if new_users:
            cur.execute(
                "INSERT INTO point_history (user_id, kind, amount) "
                "SELECT id, 'seed', point FROM users WHERE id > %s",
                (have_users,),
            )
        new_products = [
            (i, f"product {i}", rng.randrange(100, 10_000, 10), stock, stock)
            for i in range(have_products + 1, products + 1)
        ]
        _insert(
            cur,
            "INSERT INTO products (id, name, price, stock, initial_stock) "
            "VALUES (%s, %s, %s, %s, %s)",
            new_products,
            progress,
            "products",
        )
        raw.commit()
        return {"users": len(new_users), "products": len(new_products)}
    finally:
        raw.close()


def seed_orders(
    engine: Engine,
    count: int,
    *,
    days: int = 3,
    progress: Callable[[str], None] = lambda _: None,
    rng: random.Random | None = None,
) -> int:
    """`count` one-line orders spread over the last `days` days, with every side effect an order
    has (items, payment, point use, stock, daily sales), so the invariants keep holding.

    Products are drawn with a long tail (a few sell most), as real shops do.
    """
    rng = rng or random.Random(7)
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("SELECT id, price FROM products")
        prices = dict(cur.fetchall())
        cur.execute("SELECT COALESCE(MAX(id), 0) FROM users")
        max_user = cur.fetchone()[0]
        if not prices or not max_user:
            raise ValueError("seed users and products before orders")
        product_ids = sorted(prices)
        weights = [1.0 / (rank + 1) for rank in range(len(product_ids))]
        rng.shuffle(product_ids)
        cur.execute("SELECT COALESCE(MAX(id), 0) FROM orders")
        first = cur.fetchone()[0] + 1
        now = datetime.now(UTC).replace(tzinfo=None)
        span = timedelta(days=days).total_seconds() - 1
        chosen = rng.choices(product_ids, weights=weights, k=count)
        order_rows, item_rows, payment_rows, use_rows = [], [], [], []
        sold: Counter[int] = Counter()
        spent: defaultdict[int, int] = defaultdict(int)
        for n in range(count):
            order_id = first + n
            user_id = rng.randint(1, max_user)
            product_id = chosen[n]
            qty = rng.randint(1, 3)
            total = prices[product_id] * qty
            at = now - timedelta(seconds=rng.uniform(0, span))
            order_rows.append((order_id, user_id, total, "paid", at))
            item_rows.append((order_id, product_id, qty, prices[product_id]))
            payment_rows.append((order_id, user_id, total, at))
            use_rows.append((user_id, "use", total, order_id, at))
            sold[product_id] += qty
            spent[user_id] += total
        cur.execute("SELECT id, stock FROM products")
        short = [p for p, s in cur.fetchall() if sold[p] > s]
        if short:
            raise ValueError(f"not enough stock for {len(short)} products; seed with more --stock")
        _insert(
            cur,
            "INSERT INTO orders (id, user_id, total, status, created_at) "
            "VALUES (%s, %s, %s, %s, %s)",
            order_rows,
            progress,
            "orders",
        )
        _insert(
            cur,
            "INSERT INTO order_items (order_id, product_id, quantity, price) "
            "VALUES (%s, %s, %s, %s)",
            item_rows,
            progress,
            "order items",
        )
        _insert(
            cur,
            "INSERT INTO payments (order_id, user_id, amount, created_at) VALUES (%s, %s, %s, %s)",
            payment_rows,
            progress,
            "payments",
        )
        _insert(
            cur,
            "INSERT INTO point_history (user_id, kind, amount, order_id, created_at) "
            "VALUES (%s, %s, %s, %s, %s)",
            use_rows,
            progress,
            "point history",
        )
        cur.executemany(
            "UPDATE users SET point = point - %s WHERE id = %s",
            [(total, uid) for uid, total in spent.items()],
        )
        cur.executemany(
            "UPDATE products SET stock = stock - %s WHERE id = %s",
            [(qty, pid) for pid, qty in sold.items()],
        )
        cur.execute(
            "INSERT INTO product_sales_daily (day, product_id, quantity) "
            "SELECT DATE(o.created_at), i.product_id, SUM(i.quantity) "
            "FROM orders o JOIN order_items i ON i.order_id = o.id "
            "WHERE o.id BETWEEN %s AND %s GROUP BY DATE(o.created_at), i.product_id "
            "ON DUPLICATE KEY UPDATE quantity = quantity + VALUES(quantity)",
            (first, first + count - 1),
        )
        raw.commit()
        return count
    finally:
        raw.close()

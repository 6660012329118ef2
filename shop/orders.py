"""Placing orders: the only code that opens an order transaction, in two strategies.

`naive` is the mission's first version: the order insert share-locks the user row through the
foreign key, then the whole user row is written back (an exclusive lock): two orders of one user
each hold S and want X, and InnoDB kills one (1213). `safe` takes the user's exclusive lock first
with a targeted conditional update, then products in id order, and retries the rare deadlock.
Either way the daily sales go, by SHOP_SALES_MODE, to the hot aggregate row (`sync`) or to the
append-only sales_queue that the consumer drains (`async`, shop.sales).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, bindparam, text

from shop.db import (
    INSERTED_ID,
    Batch,
    DuplicateKey,
    run_batch,
    run_read,
    run_transaction,
    unavailable_for,
)
from shop.errors import (
    IdempotencyKeyReused,
    InsufficientPoints,
    NotFound,
    OutOfStock,
    ShopError,
)
from shop.metrics import ShopMetrics, order_result


@dataclass(frozen=True)
class OrderLine:
    product_id: int
    quantity: int
    # Which line of the request it came from (its first, when several named the product):
    # what an error's `field` names. None: its place in the list.
    line: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class PlacedOrder:
    order: dict
    replayed: bool


# Each statement once; both strategies run the ones they share, `safe` in batches (shop.db).
_SELECT_PRICES = text("SELECT id, price FROM products WHERE id IN :ids").bindparams(
    bindparam("ids", expanding=True)
)
_SELECT_PRICE = text("SELECT id, price FROM products WHERE id = :id")
_CHARGE_USER = text(
    "UPDATE users SET point = point - :total WHERE id = :user_id AND point >= :total"
)
_USER_EXISTS = text("SELECT 1 FROM users WHERE id = :user_id")
_TAKE_STOCK = text("UPDATE products SET stock = stock - :qty WHERE id = :id AND stock >= :qty")
_INSERT_ORDER = text(
    "INSERT INTO orders (user_id, total, status, idempotency_key, request_hash) "
    "VALUES (:user_id, :total, 'paid', :key, :hash)"
)
_INSERT_ITEM = text(
    "INSERT INTO order_items (order_id, product_id, quantity, price) "
    "VALUES (:order_id, :product_id, :quantity, :price)"
)
_INSERT_PAYMENT = text(
    "INSERT INTO payments (order_id, user_id, amount) VALUES (:order_id, :user_id, :amount)"
)
_INSERT_POINT_USE = text(
    "INSERT INTO point_history (user_id, kind, amount, order_id) "
    "VALUES (:user_id, 'use', :amount, :order_id)"
)
_ADD_SALES = text(
    "INSERT INTO product_sales_daily (day, product_id, quantity) "
    "VALUES (UTC_DATE(), :product_id, :quantity) "
    "ON DUPLICATE KEY UPDATE quantity = quantity + VALUES(quantity)"
)
# async: one appended row per line, no shared row to lock; the consumer adds them up later.
_ENQUEUE_SALES = text(
    "INSERT INTO sales_queue (day, product_id, quantity) "
    "VALUES (UTC_DATE(), :product_id, :quantity)"
)
# naive: what the ORM did. A plain read of the user, then (after the order insert has taken the
# foreign key's S lock) a locking read, and a write-back of every column.
_LOAD_USER = text(
    "SELECT id, username, point, is_deleted, deleted_at FROM users WHERE id = :user_id"
)
_LOAD_USER_SHARED = text(
    "SELECT id, username, point, is_deleted, deleted_at FROM users WHERE id = :user_id "
    "LOCK IN SHARE MODE"
)
_SAVE_USER = text(
    "UPDATE users SET deleted_at = :deleted_at, is_deleted = :is_deleted, point = :point, "
    "username = :username WHERE id = :id"
)
_SELECT_ORDER = text("SELECT id, user_id, total, status FROM orders WHERE id = :id")
_SELECT_ORDER_BY_KEY = text(
    "SELECT id, request_hash FROM orders WHERE user_id = :user_id AND idempotency_key = :key"
)
_SELECT_ITEMS = text(
    "SELECT product_id, quantity, price FROM order_items WHERE order_id = :id ORDER BY id"
)


def request_hash(user_id: int, lines: list[OrderLine]) -> str:
    canonical = json.dumps(
        [user_id, sorted((line.product_id, line.quantity) for line in lines)],
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _line_index(lines: list[OrderLine], product_id: int) -> int:
    i, line = next((i, line) for i, line in enumerate(lines) if line.product_id == product_id)
    return i if line.line is None else line.line


def _unknown_product(lines: list[OrderLine], product_id: int) -> NotFound:
    i = _line_index(lines, product_id)
    return NotFound(f"product {product_id} does not exist", field=f"items[{i}].product_id")


def _out_of_stock(lines: list[OrderLine], product_id: int) -> OutOfStock:
    quantity = next(line.quantity for line in lines if line.product_id == product_id)
    return OutOfStock(
        f"product {product_id} has less than {quantity} in stock",
        field=f"items[{_line_index(lines, product_id)}].quantity",
    )


def _order_row(user_id: int, total: int, key: str | None, req_hash: str) -> dict:
    return {"user_id": user_id, "total": total, "key": key, "hash": req_hash}


def _item_rows(order_id, lines: list[OrderLine], prices: dict[int, int]) -> list[dict]:
    return [
        {
            "order_id": order_id,
            "product_id": line.product_id,
            "quantity": line.quantity,
            "price": prices[line.product_id],
        }
        for line in lines
    ]


def _payment_rows(order_id, user_id: int, total: int, lines: list[OrderLine]) -> list[list[dict]]:
    """Payment, point use and daily sales (in product id order), one row list per statement."""
    return [
        [{"order_id": order_id, "user_id": user_id, "amount": total}],
        [{"user_id": user_id, "amount": total, "order_id": order_id}],
        [
            {"product_id": line.product_id, "quantity": line.quantity}
            for line in sorted(lines, key=lambda line: line.product_id)
        ],
    ]


# Payment, point use, then the daily sales: by SHOP_SALES_MODE, straight into the aggregate or
# onto the queue (the same rows either way).
_PAYMENT_STATEMENTS = {
    "sync": (_INSERT_PAYMENT, _INSERT_POINT_USE, _ADD_SALES),
    "async": (_INSERT_PAYMENT, _INSERT_POINT_USE, _ENQUEUE_SALES),
}


def _place_safe(conn, user_id, lines, key, req_hash, sales_mode) -> dict:
    ids = sorted(line.product_id for line in lines)
    prices = dict(conn.execute(_SELECT_PRICES, {"ids": ids}).all())
    for product_id in ids:
        if product_id not in prices:
            raise _unknown_product(lines, product_id)
    total = sum(prices[line.product_id] * line.quantity for line in lines)
    quantities = {line.product_id: line.quantity for line in lines}
    # Four round trips in all (prices, locks, writes, commit): the order path is bound by
    # per-statement overhead, not by the database.
    # Lock order: the user (exclusive, by id, no S->X upgrade), then products by id.
    locks = Batch().add(_CHARGE_USER, {"total": total, "user_id": user_id})
    for product_id in ids:
        locks.add(_TAKE_STOCK, {"qty": quantities[product_id], "id": product_id})
    charged, *taken = run_batch(conn, locks).rowcounts
    if charged != 1:
        if conn.execute(_USER_EXISTS, {"user_id": user_id}).first() is None:
            raise NotFound(f"user {user_id} does not exist", field="user_id")
        raise InsufficientPoints(f"user {user_id} has fewer than {total} points", field="user_id")
    for product_id, count in zip(ids, taken, strict=True):
        if count != 1:
            raise _out_of_stock(lines, product_id)
    writes = Batch().add(_INSERT_ORDER, _order_row(user_id, total, key, req_hash), keep_id=True)
    writes.add(_INSERT_ITEM, *_item_rows(INSERTED_ID, lines, prices))
    for statement, rows in zip(
        _PAYMENT_STATEMENTS[sales_mode],
        _payment_rows(INSERTED_ID, user_id, total, lines),
        strict=True,
    ):
        writes.add(statement, *rows)
    order_id = run_batch(conn, writes).inserted_id
    return _order_body(order_id, user_id, total, lines, prices)


def _place_naive(conn, user_id, lines, key, req_hash, sales_mode) -> dict:
    # Plain (non-locking) reads, as the ORM loaded the user and the cart's products.
    if conn.execute(_LOAD_USER, {"user_id": user_id}).first() is None:
        raise NotFound(f"user {user_id} does not exist", field="user_id")
    prices: dict[int, int] = {}
    for line in lines:
        row = conn.execute(_SELECT_PRICE, {"id": line.product_id}).first()
        if row is None:
            raise _unknown_product(lines, line.product_id)
        prices[line.product_id] = row.price
    total = sum(prices[line.product_id] * line.quantity for line in lines)
    # The order insert comes first: its foreign key check share-locks the users row...
    order_id = conn.execute(_INSERT_ORDER, _order_row(user_id, total, key, req_hash)).lastrowid
    conn.execute(_INSERT_ITEM, _item_rows(order_id, lines, prices))
    for line in lines:  # stock in request order, as the ORM walked the cart
        if conn.execute(_TAKE_STOCK, {"qty": line.quantity, "id": line.product_id}).rowcount != 1:
            raise _out_of_stock(lines, line.product_id)
    user = conn.execute(_LOAD_USER_SHARED, {"user_id": user_id}).one()
    if user.point < total:
        raise InsufficientPoints(f"user {user_id} has fewer than {total} points", field="user_id")
    # ...and saving the whole entity wants it exclusive: two such orders deadlock here.
    conn.execute(
        _SAVE_USER,
        {
            "deleted_at": user.deleted_at,
            "is_deleted": user.is_deleted,
            "point": user.point - total,
            "username": user.username,
            "id": user_id,
        },
    )
    for statement, rows in zip(
        _PAYMENT_STATEMENTS[sales_mode], _payment_rows(order_id, user_id, total, lines), strict=True
    ):
        conn.execute(statement, rows)
    return _order_body(order_id, user_id, total, lines, prices)


_STRATEGIES = {"safe": _place_safe, "naive": _place_naive}


def _order_body(order_id, user_id, total, lines, prices) -> dict:
    return {
        "order_id": order_id,
        "user_id": user_id,
        "total": total,
        "status": "paid",
        "items": [
            {"product_id": ln.product_id, "quantity": ln.quantity, "price": prices[ln.product_id]}
            for ln in lines
        ],
    }


def _read_order(conn: Connection, order_id: int) -> dict | None:
    row = conn.execute(_SELECT_ORDER, {"id": order_id}).first()
    if row is None:
        return None
    items = conn.execute(_SELECT_ITEMS, {"id": order_id}).all()
    return {
        "order_id": row.id,
        "user_id": row.user_id,
        "total": row.total,
        "status": row.status,
        "items": [
            {"product_id": i.product_id, "quantity": i.quantity, "price": i.price} for i in items
        ],
    }


def get_order(engine: Engine, metrics: ShopMetrics, order_id: int) -> dict:
    order = run_read(
        engine, lambda conn: _read_order(conn, order_id), operation="get_order", metrics=metrics
    )
    if order is None:
        raise NotFound(f"order {order_id} does not exist", field="order_id")
    return order


def _replay(engine, metrics, user_id, key, req_hash) -> PlacedOrder | None:
    def find(conn):
        row = conn.execute(_SELECT_ORDER_BY_KEY, {"user_id": user_id, "key": key}).first()
        if row is None:
            return None
        if row.request_hash != req_hash:
            raise IdempotencyKeyReused(
                "this Idempotency-Key was used for a different order", field="Idempotency-Key"
            )
        return _read_order(conn, row.id)

    order = run_read(engine, find, operation="place_order", metrics=metrics)
    return PlacedOrder(order, replayed=True) if order else None


def place_order(
    engine: Engine,
    metrics: ShopMetrics,
    *,
    strategy: str,
    user_id: int,
    lines: list[OrderLine],
    idempotency_key: str | None = None,
    retries: int = 5,
    sales_mode: str = "sync",
) -> PlacedOrder:
    """Check and take stock and points, write order, items, payment and history: all or nothing.
    The daily sales by `sales_mode` (Settings.sales_mode): the aggregate now, or the queue."""
    place = _STRATEGIES[strategy]
    if sales_mode not in _PAYMENT_STATEMENTS:
        raise ValueError(f"unknown sales mode {sales_mode!r}")
    req_hash = request_hash(user_id, lines)
    started = time.perf_counter()
    result = "error"
    try:
        if idempotency_key is not None:
            replay = _replay(engine, metrics, user_id, idempotency_key, req_hash)
            if replay is not None:
                result = "replayed"
                return replay

        try:
            order = run_transaction(
                engine,
                lambda conn: place(conn, user_id, lines, idempotency_key, req_hash, sales_mode),
                operation="place_order",
                metrics=metrics,
                retries=retries if strategy == "safe" else 0,
            )
        except DuplicateKey as exc:
            if idempotency_key is None:
                raise unavailable_for("other", "place_order") from exc
            # Lost the race for this key: the winner's order is the answer (nothing was charged).
            replay = _replay(engine, metrics, user_id, idempotency_key, req_hash)
            result = "replayed"
            return replay
        result = "created"
        return PlacedOrder(order, replayed=False)
    except ShopError as exc:
        result = order_result(exc.code)
        raise
    finally:
        metrics.orders.labels(strategy, result).inc()
        metrics.order_duration.labels(strategy).observe(time.perf_counter() - started)

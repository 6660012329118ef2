"""Placing orders: the only code that opens an order transaction, in two strategies.

`naive` is the mission's first version: the order insert share-locks the user row through the
foreign key, then the whole user row is written back (an exclusive lock): two orders of one user
each hold S and want X, and InnoDB kills one (1213). `safe` takes the user's exclusive lock first
with a targeted conditional update, then products in id order, and retries the rare deadlock.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass

import pymysql
from sqlalchemy import Connection, Engine, bindparam, text
from sqlalchemy.exc import IntegrityError

from shop.db import classify, error_code, run_read, run_transaction
from shop.errors import (
    IdempotencyKeyReused,
    InsufficientPoints,
    NotFound,
    OutOfStock,
    ShopError,
    Unavailable,
)
from shop.metrics import ShopMetrics

ER_DUP_ENTRY = 1062


@dataclass(frozen=True)
class OrderLine:
    product_id: int
    quantity: int


@dataclass(frozen=True)
class PlacedOrder:
    order: dict
    replayed: bool


class _KeyTaken(Exception):
    """Another request with the same Idempotency-Key committed first."""


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
    return next(i for i, line in enumerate(lines) if line.product_id == product_id)


def _unknown_product(lines: list[OrderLine], product_id: int) -> NotFound:
    i = _line_index(lines, product_id)
    return NotFound(f"product {product_id} does not exist", field=f"items[{i}].product_id")


def _out_of_stock(lines: list[OrderLine], product_id: int) -> OutOfStock:
    i = _line_index(lines, product_id)
    return OutOfStock(
        f"product {product_id} has less than {lines[i].quantity} in stock",
        field=f"items[{i}].quantity",
    )


def _write_order(
    conn: Connection,
    user_id: int,
    lines: list[OrderLine],
    prices: dict[int, int],
    total: int,
    key: str | None,
    req_hash: str,
) -> int:
    try:
        order_id = conn.execute(
            _INSERT_ORDER, {"user_id": user_id, "total": total, "key": key, "hash": req_hash}
        ).lastrowid
    except IntegrityError as exc:
        if key is not None and error_code(exc) == ER_DUP_ENTRY:
            raise _KeyTaken from exc
        raise
    conn.execute(
        _INSERT_ITEM,
        [
            {
                "order_id": order_id,
                "product_id": line.product_id,
                "quantity": line.quantity,
                "price": prices[line.product_id],
            }
            for line in lines
        ],
    )
    return order_id


def _write_payment(
    conn: Connection, order_id: int, user_id: int, total: int, lines: list[OrderLine]
) -> None:
    conn.execute(_INSERT_PAYMENT, {"order_id": order_id, "user_id": user_id, "amount": total})
    conn.execute(_INSERT_POINT_USE, {"user_id": user_id, "amount": total, "order_id": order_id})
    conn.execute(
        _ADD_SALES,
        [
            {"product_id": line.product_id, "quantity": line.quantity}
            for line in sorted(lines, key=lambda line: line.product_id)
        ],
    )


def _place_safe(conn, user_id, lines, key, req_hash) -> dict:
    ids = sorted(line.product_id for line in lines)
    prices = dict(conn.execute(_SELECT_PRICES, {"ids": ids}).all())
    for product_id in ids:
        if product_id not in prices:
            raise _unknown_product(lines, product_id)
    total = sum(prices[line.product_id] * line.quantity for line in lines)
    quantities = {line.product_id: line.quantity for line in lines}
    # Four round trips in all (prices, locks, writes, commit): the order path is bound by
    # per-statement overhead, not by the database. Parameters are bound as everywhere else.
    cur = conn.connection.dbapi_connection.cursor()
    try:
        # Lock order: the user (exclusive, by id, no S->X upgrade), then products by id.
        sql = [_SQL_CHARGE_USER] + [_SQL_TAKE_STOCK] * len(ids)
        args = [total, user_id, total]
        for product_id in ids:
            args += [quantities[product_id], product_id, quantities[product_id]]
        cur.execute(";".join(sql), args)
        if cur.rowcount != 1:
            _drain(cur)
            if conn.execute(_USER_EXISTS, {"user_id": user_id}).first() is None:
                raise NotFound(f"user {user_id} does not exist", field="user_id")
            raise InsufficientPoints(
                f"user {user_id} has fewer than {total} points", field="user_id"
            )
        for product_id in ids:
            cur.nextset()
            if cur.rowcount != 1:
                _drain(cur)
                raise _out_of_stock(lines, product_id)
        order_id = _write_all(cur, user_id, lines, prices, total, key, req_hash)
    except pymysql.err.OperationalError as exc:
        # Errors on the raw cursor bypass SQLAlchemy: a dead connection must not go back
        # into the pool.
        if classify(exc) == "disconnect":
            conn.invalidate()
        raise
    finally:
        cur.close()
    return _order_body(order_id, user_id, total, lines, prices)


def _drain(cur) -> None:
    while cur.nextset():
        pass


_SQL_CHARGE_USER = "UPDATE users SET point = point - %s WHERE id = %s AND point >= %s"
_SQL_TAKE_STOCK = "UPDATE products SET stock = stock - %s WHERE id = %s AND stock >= %s"


def _write_all(cur, user_id, lines, prices, total, key, req_hash) -> int:
    """Order, items, payment, point use and daily sales in one multi-statement round trip."""
    by_id = sorted(lines, key=lambda line: line.product_id)
    sql = [
        "INSERT INTO orders (user_id, total, status, idempotency_key, request_hash) "
        "VALUES (%s, %s, 'paid', %s, %s)",
        "SET @shop_order_id = LAST_INSERT_ID()",
        "INSERT INTO order_items (order_id, product_id, quantity, price) VALUES "
        + ", ".join(["(@shop_order_id, %s, %s, %s)"] * len(lines)),
        "INSERT INTO payments (order_id, user_id, amount) VALUES (@shop_order_id, %s, %s)",
        "INSERT INTO point_history (user_id, kind, amount, order_id) "
        "VALUES (%s, 'use', %s, @shop_order_id)",
        "INSERT INTO product_sales_daily (day, product_id, quantity) VALUES "
        + ", ".join(["(UTC_DATE(), %s, %s)"] * len(by_id))
        + " ON DUPLICATE KEY UPDATE quantity = quantity + VALUES(quantity)",
        "SELECT @shop_order_id",
    ]
    args: list = [user_id, total, key, req_hash]
    for line in lines:
        args += [line.product_id, line.quantity, prices[line.product_id]]
    args += [user_id, total, user_id, total]
    for line in by_id:
        args += [line.product_id, line.quantity]
    try:
        cur.execute(";".join(sql), args)
    except pymysql.err.IntegrityError as exc:
        if key is not None and exc.args[0] == ER_DUP_ENTRY:
            raise _KeyTaken from exc
        raise
    while cur.description is None:
        cur.nextset()
    order_id = int(cur.fetchone()[0])
    _drain(cur)
    return order_id


def _place_naive(conn, user_id, lines, key, req_hash) -> dict:
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
    order_id = _write_order(conn, user_id, lines, prices, total, key, req_hash)
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
    _write_payment(conn, order_id, user_id, total, lines)
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
) -> PlacedOrder:
    """Check and take stock and points, write order, items, payment and history: all or nothing."""
    place = _STRATEGIES[strategy]
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
                lambda conn: place(conn, user_id, lines, idempotency_key, req_hash),
                operation="place_order",
                metrics=metrics,
                retries=retries if strategy == "safe" else 0,
            )
        except _KeyTaken:
            # Lost the race for this key: the winner's order is the answer (nothing was charged).
            replay = _replay(engine, metrics, user_id, idempotency_key, req_hash)
            result = "replayed"
            return replay
        result = "created"
        return PlacedOrder(order, replayed=False)
    except ShopError as exc:
        result = exc.code if not isinstance(exc, Unavailable) else _unavailable_result(exc)
        raise
    finally:
        metrics.orders.labels(strategy, result).inc()
        metrics.order_duration.labels(strategy).observe(time.perf_counter() - started)


def _unavailable_result(exc: Unavailable) -> str:
    return exc.code if exc.code in ("deadlock", "lock_wait_timeout") else "error"

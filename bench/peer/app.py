"""The peer's app: orders through the ORM with SELECT ... FOR UPDATE, popular cache-aside in Redis.

Written the way the textbook writes it, on purpose: one ORM object per row, a Session per
request, `with_for_update()` on the user and the products, and a popular list cached with a
plain TTL (every worker that finds the key expired queries the database). The same tables,
seed and JSON contract as the shop's `POST /api/orders` and `GET /api/products/popular`, so
`make bench-shop` offers both the same requests.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

import redis
from flask import Flask, abort, jsonify, request
from sqlalchemy import create_engine, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import sessionmaker

from bench.peer.models import (
    Order,
    OrderItem,
    Payment,
    PointHistory,
    Product,
    ProductSalesDaily,
    User,
)

POPULAR_TTL_SECONDS = 10
DEADLOCK_RETRIES = 3


class OrderRefused(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _lines(body) -> tuple[int, list[tuple[int, int]]]:
    """(user_id, [(product_id, quantity)]) from the shop's request shape, or a 400."""
    if not isinstance(body, dict):
        raise OrderRefused(400, "invalid", "body must be a JSON object")
    user_id, items = body.get("user_id"), body.get("items")
    if type(user_id) is not int or user_id < 1:
        raise OrderRefused(400, "invalid", "user_id must be a positive integer")
    if not isinstance(items, list) or not items:
        raise OrderRefused(400, "invalid", "items must be a non-empty list")
    lines = []
    for item in items:
        pid = item.get("product_id") if isinstance(item, dict) else None
        qty = item.get("quantity") if isinstance(item, dict) else None
        if type(pid) is not int or type(qty) is not int or pid < 1 or not 1 <= qty <= 1000:
            raise OrderRefused(400, "invalid", "each item needs a product_id and a quantity")
        lines.append((pid, qty))
    if len({pid for pid, _ in lines}) != len(lines):
        raise OrderRefused(400, "duplicate", "one line per product")
    return user_id, lines


def place_order(session, user_id: int, lines: list[tuple[int, int]]) -> dict:
    user = session.get(User, user_id, with_for_update=True)
    if user is None:
        raise OrderRefused(404, "not_found", f"user {user_id} does not exist")
    ids = sorted(pid for pid, _ in lines)
    products = {
        p.id: p
        for p in session.scalars(
            select(Product).where(Product.id.in_(ids)).order_by(Product.id).with_for_update()
        )
    }
    total = 0
    for pid, qty in lines:
        product = products.get(pid)
        if product is None:
            raise OrderRefused(404, "not_found", f"product {pid} does not exist")
        if product.stock < qty:
            raise OrderRefused(409, "out_of_stock", f"product {pid} has less than {qty} in stock")
        total += product.price * qty
    if user.point < total:
        raise OrderRefused(409, "insufficient_points", f"user {user_id} has fewer points")
    user.point -= total
    order = Order(user_id=user_id, total=total, status="paid")
    session.add(order)
    session.flush()  # the order's id, for its items and payment
    today = datetime.now(UTC).date()
    for pid, qty in lines:
        product = products[pid]
        product.stock -= qty
        session.add(OrderItem(order_id=order.id, product_id=pid, quantity=qty, price=product.price))
        sales = session.get(ProductSalesDaily, (today, pid), with_for_update=True)
        if sales is None:
            session.add(ProductSalesDaily(day=today, product_id=pid, quantity=qty))
        else:
            sales.quantity += qty
    session.add(Payment(order_id=order.id, user_id=user_id, amount=total))
    session.add(PointHistory(user_id=user_id, kind="use", amount=total, order_id=order.id))
    session.commit()
    return {
        "order_id": order.id,
        "user_id": user_id,
        "total": total,
        "status": "paid",
        "items": [
            {"product_id": pid, "quantity": qty, "price": products[pid].price} for pid, qty in lines
        ],
    }


def popular(session, days: int, limit: int) -> list[dict]:
    since = datetime.now(UTC).date() - timedelta(days=days - 1)
    sold = func.sum(ProductSalesDaily.quantity).label("sold")
    rows = session.execute(
        select(Product, sold)
        .join(ProductSalesDaily, ProductSalesDaily.product_id == Product.id)
        .where(ProductSalesDaily.day >= since)
        .group_by(Product.id)
        .order_by(sold.desc(), Product.id)
        .limit(limit)
    ).all()
    return [
        {"id": p.id, "name": p.name, "price": p.price, "quantity_sold": int(q)} for p, q in rows
    ]


def create_app(environ=None) -> Flask:
    env = os.environ if environ is None else environ
    app = Flask("peer")
    engine = create_engine(
        env["SHOP_DATABASE_URL"],
        pool_size=int(env.get("SHOP_DB_POOL_SIZE", "8")),
        max_overflow=int(env.get("SHOP_DB_MAX_OVERFLOW", "4")),
        pool_recycle=3600,
    )
    Session = sessionmaker(engine, expire_on_commit=False)
    cache = redis.Redis.from_url(env.get("SHOP_REDIS_URL", "redis://127.0.0.1:6379/0"))

    @app.post("/api/orders")
    def orders():
        try:
            user_id, lines = _lines(request.get_json(silent=True))
            for attempt in range(DEADLOCK_RETRIES + 1):
                with Session() as session:
                    try:
                        order = place_order(session, user_id, lines)
                        break
                    except OperationalError as exc:
                        session.rollback()
                        if exc.orig.args[0] != 1213 or attempt == DEADLOCK_RETRIES:
                            raise
        except OrderRefused as exc:
            return jsonify({"error": {"code": exc.code, "message": exc.message}}), exc.status
        return jsonify(order), 201

    @app.get("/api/products/popular")
    def popular_products():
        days = request.args.get("days", 3, type=int)
        limit = request.args.get("limit", 5, type=int)
        if not 1 <= days <= 30 or not 1 <= limit <= 100:
            abort(400)
        key = f"peer:popular:{days}:{limit}"
        cached = cache.get(key)
        if cached is not None:
            return app.response_class(cached, mimetype="application/json")
        with Session() as session:
            body = json.dumps(popular(session, days, limit))
        cache.set(key, body, ex=POPULAR_TTL_SECONDS)
        return app.response_class(body, mimetype="application/json")

    @app.get("/healthz")
    def healthz():
        return jsonify({"status": "ok"})

    return app

"""User points: reading the balance and charging (topping up) it."""

from __future__ import annotations

from sqlalchemy import Engine, text

from shop.db import run_read, run_transaction
from shop.errors import NotFound
from shop.metrics import ShopMetrics

_POINT = text("SELECT point FROM users WHERE id = :user_id")
_ADD = text("UPDATE users SET point = point + :amount WHERE id = :user_id")
_HISTORY = text(
    "INSERT INTO point_history (user_id, kind, amount) VALUES (:user_id, 'charge', :amount)"
)


def get_points(engine: Engine, metrics: ShopMetrics, user_id: int) -> dict:
    point = run_read(
        engine,
        lambda conn: conn.execute(_POINT, {"user_id": user_id}).scalar(),
        operation="get_points",
        metrics=metrics,
    )
    if point is None:
        raise NotFound(f"user {user_id} does not exist", field="user_id")
    return {"user_id": user_id, "point": point}


def charge_points(
    engine: Engine, metrics: ShopMetrics, user_id: int, amount: int, retries: int
) -> dict:
    """Add `amount` points and record the charge, in one transaction."""

    def work(conn) -> int:
        if conn.execute(_ADD, {"amount": amount, "user_id": user_id}).rowcount != 1:
            raise NotFound(f"user {user_id} does not exist", field="user_id")
        conn.execute(_HISTORY, {"user_id": user_id, "amount": amount})
        return conn.execute(_POINT, {"user_id": user_id}).scalar_one()

    point = run_transaction(
        engine, work, operation="charge_points", metrics=metrics, retries=retries
    )
    return {"user_id": user_id, "point": point}

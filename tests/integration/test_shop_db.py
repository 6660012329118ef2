"""The shop's database boundary on the real MariaDB: disconnects, key races, round trips."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import text

from shop.db import create_db_engine
from shop.metrics import ShopMetrics
from shop.orders import OrderLine, place_order
from tests.integration.conftest import assert_invariants, db_state, sample, wait_for_blocked_queries

pytestmark = pytest.mark.integration


def test_a_disconnect_mid_batch_is_a_503_that_writes_nothing(
    app, client, make_user, make_product, engine
):
    user_id = make_user(points=10_000)
    free, held = make_product(price=10), make_product(price=10)
    body = {
        "user_id": user_id,
        "items": [{"product_id": free, "quantity": 1}, {"product_id": held, "quantity": 1}],
    }
    labels = {"operation": "place_order", "kind": "disconnect"}
    disconnects = sample(app, "shop_db_errors_total", labels)
    before = db_state(engine)
    with engine.connect() as holder, ThreadPoolExecutor(max_workers=1) as pool:
        holder.execute(text("SELECT id FROM products WHERE id = :id FOR UPDATE"), {"id": held})
        # The locks batch has charged the user and taken the first product when it blocks.
        response = pool.submit(lambda: app.test_client().post("/api/orders", json=body))
        (order_connection,) = wait_for_blocked_queries(engine, 1)
        with engine.connect() as killer:
            killer.execute(text(f"KILL CONNECTION {int(order_connection)}"))
        response = response.result(timeout=30)
        holder.rollback()
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "database_unavailable"
    assert response.headers["Retry-After"] == "1"
    assert sample(app, "shop_db_errors_total", labels) == disconnects + 1
    assert db_state(engine) == before
    # The dead connection did not go back into the pool: the next order finds a live one.
    assert client.post("/api/orders", json=body).status_code == 201
    assert_invariants(engine)


def test_a_lost_idempotency_key_race_answers_the_winners_order(
    app, make_user, make_product, engine
):
    user_id = make_user(points=10_000)
    product_id = make_product(price=100)
    body = {"user_id": user_id, "items": [{"product_id": product_id, "quantity": 1}]}
    headers = {"Idempotency-Key": "race-past-the-replay-check"}
    replayed = sample(app, "shop_orders_total", {"strategy": "safe", "result": "replayed"})
    other = sample(app, "shop_db_errors_total", {"operation": "place_order", "kind": "other"})
    with engine.connect() as holder, ThreadPoolExecutor(max_workers=2) as pool:
        holder.execute(text("SELECT id FROM users WHERE id = :id FOR UPDATE"), {"id": user_id})
        # Both requests found no order for the key and wait to charge the user: both will
        # insert it, and the second insert meets the first's committed key.
        futures = [
            pool.submit(lambda: app.test_client().post("/api/orders", json=body, headers=headers))
            for _ in range(2)
        ]
        wait_for_blocked_queries(engine, 2)
        holder.rollback()
        responses = [f.result(timeout=30) for f in futures]
    assert [r.status_code for r in responses] == [201, 201]
    assert len({r.get_json()["order_id"] for r in responses}) == 1
    assert sorted(str(r.headers.get("Idempotent-Replayed")) for r in responses) == ["None", "true"]
    assert sample(app, "shop_orders_total", {"strategy": "safe", "result": "replayed"}) == (
        replayed + 1
    )
    assert sample(app, "shop_db_errors_total", {"operation": "place_order", "kind": "other"}) == (
        other
    )
    with engine.connect() as conn:
        assert conn.execute(text(f"SELECT point FROM users WHERE id = {user_id}")).scalar() == 9_900
        orders = conn.execute(text(f"SELECT COUNT(*) FROM orders WHERE user_id = {user_id}"))
        assert orders.scalar() == 1
    assert_invariants(engine)


def _session_counters(engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SHOW SESSION STATUS WHERE Variable_name IN"
                " ('Questions', 'Com_commit', 'Com_rollback')"
            )
        )
        return {name: int(value) for name, value in rows}


@pytest.mark.parametrize("items", [1, 3])
def test_a_safe_order_sends_its_statements_in_three_batches_and_one_commit(
    shop_settings, make_user, make_product, items
):
    """Prices, the locks batch (user, then each product), the writes batch (order and its
    remembered id, items, payment, point use, daily sales, the id back), COMMIT: 10 + items
    statements, and no ROLLBACK after the COMMIT."""
    engine = create_db_engine(shop_settings.__class__(**{
        **shop_settings.__dict__, "db_pool_size": 1, "db_max_overflow": 0,
    }))  # fmt: skip
    metrics = ShopMetrics(CollectorRegistry())
    user_id = make_user()
    lines = [OrderLine(make_product(), 1) for _ in range(items)]
    try:
        place_order(engine, metrics, strategy="safe", user_id=user_id, lines=lines)  # warm
        before = _session_counters(engine)
        for _ in range(5):
            place_order(engine, metrics, strategy="safe", user_id=user_id, lines=lines)
        after = _session_counters(engine)
    finally:
        engine.dispose()
    # Between the two reads: the first read's ROLLBACK on return, the orders, the second read.
    assert after["Com_commit"] - before["Com_commit"] == 5
    assert after["Com_rollback"] - before["Com_rollback"] == 1
    assert after["Questions"] - before["Questions"] == 1 + 5 * (10 + items) + 1


def test_concurrent_orders_never_share_a_batch_id(app, make_user, make_product, engine):
    """The writes batch hands the order id on in a session variable: under concurrency every
    order's items, payment and point use carry its own id."""
    product_id = make_product(price=10)
    users = [make_user() for _ in range(12)]
    barrier = threading.Barrier(len(users))

    def post(user_id):
        barrier.wait()
        return app.test_client().post(
            "/api/orders",
            json={"user_id": user_id, "items": [{"product_id": product_id, "quantity": 1}]},
        )

    with ThreadPoolExecutor(max_workers=len(users)) as pool:
        responses = list(pool.map(post, users))
    assert [r.status_code for r in responses] == [201] * len(users)
    with engine.connect() as conn:
        for user_id, response in zip(users, responses, strict=True):
            order_id = response.get_json()["order_id"]
            owners = conn.execute(
                text(
                    "SELECT (SELECT user_id FROM payments WHERE order_id = :o),"
                    " (SELECT user_id FROM point_history WHERE order_id = :o),"
                    " (SELECT COUNT(*) FROM order_items WHERE order_id = :o)"
                ),
                {"o": order_id},
            ).one()
            assert tuple(owners) == (user_id, user_id, 1)
    assert_invariants(engine)

"""Concurrent orders on the real MariaDB: exactly the right winners, deadlocks only on naive; the
Flask shop and the Spring shop alike (`shop`, `naive_shop`: conftest.py)."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import text

from tests.integration.conftest import assert_invariants, sample, shop_engine

pytestmark = pytest.mark.integration


@pytest.fixture
def engine(request, shop):
    return shop_engine(request, shop)


def fire(shop, requests: list[tuple[dict, dict]]) -> list:
    """POST every (body, headers) to /api/orders at once, one thread each; the responses."""
    barrier = threading.Barrier(len(requests))

    def post(request):
        body, headers = request
        client = shop.test_client()
        barrier.wait()
        return client.post("/api/orders", json=body, headers=headers)

    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        return list(pool.map(post, requests))


def statuses(responses) -> Counter:
    return Counter(r.status_code for r in responses)


def test_points_cover_exactly_25_of_40_concurrent_orders(shop, make_user, make_product, engine):
    user_id = make_user(points=25 * 100)
    product_id = make_product(price=100, stock=1000)
    body = {"user_id": user_id, "items": [{"product_id": product_id, "quantity": 1}]}
    responses = fire(shop, [(body, {})] * 40)
    assert statuses(responses) == {201: 25, 409: 15}
    assert {r.get_json()["error"]["code"] for r in responses if r.status_code == 409} == {
        "insufficient_points"
    }
    with engine.connect() as conn:
        assert conn.execute(text(f"SELECT point FROM users WHERE id = {user_id}")).scalar() == 0
        paid = conn.execute(text(f"SELECT COUNT(*) FROM payments WHERE user_id = {user_id}"))
        assert paid.scalar() == 25
    assert_invariants(engine)


def test_stock_of_10_sells_exactly_10_of_30_concurrent_orders(
    shop, make_user, make_product, engine
):
    product_id = make_product(price=10, stock=10)
    requests = [
        ({"user_id": make_user(), "items": [{"product_id": product_id, "quantity": 1}]}, {})
        for _ in range(30)
    ]
    responses = fire(shop, requests)
    assert statuses(responses) == {201: 10, 409: 20}
    assert {r.get_json()["error"]["code"] for r in responses if r.status_code == 409} == {
        "out_of_stock"
    }
    with engine.connect() as conn:
        stock = conn.execute(text(f"SELECT stock FROM products WHERE id = {product_id}"))
        assert stock.scalar() == 0
    assert_invariants(engine)


def test_naive_strategy_deadlocks_on_hot_user(naive_shop, make_user, make_product, engine):
    user_id = make_user(points=10**9)
    product_id = make_product(price=10, stock=10_000)
    deadlocks = sample(naive_shop, "shop_db_errors_total",
                       {"operation": "place_order", "kind": "deadlock"})  # fmt: skip
    with engine.connect() as conn:
        server_before = int(
            conn.execute(text("SHOW GLOBAL STATUS LIKE 'Innodb_deadlocks'")).one()[1]
        )
    body = {"user_id": user_id, "items": [{"product_id": product_id, "quantity": 1}]}
    responses = fire(naive_shop, [(body, {})] * 30)

    codes = Counter(r.get_json()["error"]["code"] for r in responses if r.status_code != 201)
    created = statuses(responses)[201]
    counted = sample(naive_shop, "shop_db_errors_total",
                     {"operation": "place_order", "kind": "deadlock"}) - deadlocks  # fmt: skip
    with engine.connect() as conn:
        server_after = int(
            conn.execute(text("SHOW GLOBAL STATUS LIKE 'Innodb_deadlocks'")).one()[1]
        )
    assert codes["deadlock"] > 0, codes
    assert set(codes) <= {"deadlock", "lock_wait_timeout"}
    assert all(r.status_code == 503 for r in responses if r.status_code != 201)
    assert counted == codes["deadlock"]
    assert server_after - server_before >= codes["deadlock"]  # InnoDB saw them too: real ones
    with engine.connect() as conn:
        paid = conn.execute(text(f"SELECT COUNT(*) FROM payments WHERE user_id = {user_id}"))
        assert paid.scalar() == created  # a failed order wrote nothing
    assert_invariants(engine)


def test_safe_strategy_never_deadlocks_on_hot_user(shop, make_user, make_product, engine):
    """The naive test's traffic on the fix: the user's row is locked first, by id, so the same
    30 orders queue behind one another instead of deadlocking."""
    user_id = make_user(points=10**9)
    product_id = make_product(price=10, stock=10_000)
    labels = {"operation": "place_order", "kind": "deadlock"}
    counted = sample(shop, "shop_db_errors_total", labels)
    with engine.connect() as conn:
        server_before = int(
            conn.execute(text("SHOW GLOBAL STATUS LIKE 'Innodb_deadlocks'")).one()[1]
        )
    body = {"user_id": user_id, "items": [{"product_id": product_id, "quantity": 1}]}
    responses = fire(shop, [(body, {})] * 30)
    assert statuses(responses) == {201: 30}
    assert sample(shop, "shop_db_errors_total", labels) == counted
    with engine.connect() as conn:
        server_after = int(
            conn.execute(text("SHOW GLOBAL STATUS LIKE 'Innodb_deadlocks'")).one()[1]
        )
    assert server_after == server_before
    assert_invariants(engine)


def test_safe_strategy_absorbs_60_concurrent_multi_item_orders(
    shop, make_user, make_product, engine
):
    user_id = make_user(points=10**9)
    products = [make_product(price=10, stock=10_000) for _ in range(4)]
    retries = sample(shop, "shop_db_retries_total", {"operation": "place_order"})
    requests = []
    for n in range(60):
        # Lines in varying order: the safe strategy must lock them in id order regardless.
        chosen = products[n % 4 :] + products[: n % 4]
        items = [{"product_id": p, "quantity": 1 + (n + i) % 3} for i, p in enumerate(chosen)]
        requests.append(({"user_id": user_id, "items": items}, {}))
    responses = fire(shop, requests)
    assert statuses(responses) == {201: 60}, [r.get_json() for r in responses[:3]]
    with engine.connect() as conn:
        paid = conn.execute(text(f"SELECT COUNT(*) FROM payments WHERE user_id = {user_id}"))
        assert paid.scalar() == 60
    assert sample(shop, "shop_db_retries_total", {"operation": "place_order"}) >= retries
    assert_invariants(engine)


def test_20_concurrent_requests_with_one_key_make_one_order(shop, make_user, make_product, engine):
    user_id = make_user(points=10_000)
    product_id = make_product(price=100)
    body = {"user_id": user_id, "items": [{"product_id": product_id, "quantity": 1}]}
    responses = fire(shop, [(body, {"Idempotency-Key": "race-1"})] * 20)
    assert statuses(responses) == {201: 20}
    assert len({r.get_json()["order_id"] for r in responses}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 19
    with engine.connect() as conn:
        assert (
            conn.execute(text(f"SELECT COUNT(*) FROM orders WHERE user_id = {user_id}")).scalar()
            == 1
        )
        assert (
            conn.execute(text(f"SELECT COUNT(*) FROM payments WHERE user_id = {user_id}")).scalar()
            == 1
        )
        assert conn.execute(text(f"SELECT point FROM users WHERE id = {user_id}")).scalar() == 9_900
    assert_invariants(engine)

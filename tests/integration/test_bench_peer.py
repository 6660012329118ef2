"""The bench's textbook peer keeps the shop's contract and books: it is a fair yardstick."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import create_engine, text

from bench.peer import create_app
from shop.catalog import popular_products
from shop.invariants import check_invariants
from shop.metrics import ShopMetrics
from shop.schema import metadata
from shop.seed import seed_catalog

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def peer(mariadb, redis_server):
    with mariadb.connect() as conn, conn.cursor() as cur:
        cur.execute("CREATE DATABASE peer_it")
    engine = create_engine(mariadb.url("peer_it"))
    metadata.create_all(engine)
    seed_catalog(engine, users=5, products=5, stock=500)
    env = {"SHOP_DATABASE_URL": mariadb.url("peer_it"), "SHOP_REDIS_URL": redis_server.url(3)}
    app = create_app({**env, "SHOP_DB_POOL_SIZE": "16"})
    yield app, engine
    engine.dispose()
    with mariadb.connect() as conn, conn.cursor() as cur:
        cur.execute("DROP DATABASE peer_it")


def test_peer_places_an_order_with_the_shops_body(peer):
    app, engine = peer
    price = engine.connect().execute(text("SELECT price FROM products WHERE id = 2")).scalar_one()
    response = app.test_client().post(
        "/api/orders", json={"user_id": 1, "items": [{"product_id": 2, "quantity": 3}]}
    )
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {"order_id", "user_id", "total", "status", "items"}
    assert body["total"] == 3 * price
    assert body["items"] == [{"product_id": 2, "quantity": 3, "price": price}]


@pytest.mark.parametrize(
    "order,status,code",
    [
        ({"user_id": 999, "items": [{"product_id": 1, "quantity": 1}]}, 404, "not_found"),
        ({"user_id": 1, "items": [{"product_id": 999, "quantity": 1}]}, 404, "not_found"),
        ({"user_id": 1, "items": [{"product_id": 1, "quantity": 1000}]}, 409, "out_of_stock"),
        ({"user_id": 1, "items": []}, 400, "invalid"),
    ],
    ids=["unknown-user", "unknown-product", "out-of-stock", "no-items"],
)
def test_peer_refuses_like_the_shop(peer, order, status, code):
    app, _ = peer
    response = app.test_client().post("/api/orders", json=order)
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code


def test_peer_concurrent_orders_on_hot_rows_keep_the_books(peer):
    app, engine = peer
    client = app.test_client()

    def order(n: int) -> int:
        lines = [{"product_id": 1 + n % 3, "quantity": 1}, {"product_id": 4, "quantity": 1}]
        return client.post("/api/orders", json={"user_id": 1 + n % 2, "items": lines}).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(order, range(60)))
    assert statuses == [201] * 60
    with engine.connect() as conn:
        assert check_invariants(conn) == dict.fromkeys(check_invariants(conn), 0)


def test_peer_popular_list_is_the_shops(peer):
    app, engine = peer
    response = app.test_client().get("/api/products/popular?days=3&limit=5")
    assert response.status_code == 200
    assert response.get_json() == popular_products(engine, ShopMetrics(None), days=3, limit=5)

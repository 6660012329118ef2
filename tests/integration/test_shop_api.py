"""Every endpoint's success and error contract, on the real MariaDB and Redis: the Flask shop in
process, the Spring shop over HTTP (`shop`, conftest.py), each on its own schema."""

from __future__ import annotations

import pytest

from shop.metrics import ERROR_KINDS, OPERATIONS, RETRIED_OPERATIONS
from tests.integration.conftest import assert_invariants, db_state, shop_engine

pytestmark = pytest.mark.integration


@pytest.fixture
def client(shop):
    return shop.test_client()


@pytest.fixture
def engine(request, shop):
    return shop_engine(request, shop)


def assert_error(response, status: int, code: str | None = None, field: str | None = None):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["message"]
    if code:
        assert error["code"] == code
    if field:
        assert error.get("field") == field
    return error


def test_list_products_pages_by_id(client):
    first = client.get("/api/products?limit=3&offset=0").get_json()
    second = client.get("/api/products?limit=3&offset=3").get_json()
    assert [p["id"] for p in first["items"]] == [1, 2, 3]
    assert [p["id"] for p in second["items"]] == [4, 5, 6]
    assert first["total"] >= 10
    assert set(first["items"][0]) == {"id", "name", "price", "stock"}


@pytest.mark.parametrize(
    ("query", "field"),
    [("limit=0", "limit"), ("limit=101", "limit"), ("limit=x", "limit"), ("offset=-1", "offset"),
     ("limit=&offset=", "limit"), ("offset=1&offset=2", "offset")],
)  # fmt: skip
def test_list_products_rejects_bad_paging(client, query, field):
    assert_error(client.get(f"/api/products?{query}"), 400, "invalid", field)


def test_get_product_has_price_and_stock(client, make_product):
    product_id = make_product(price=250, stock=7)
    body = client.get(f"/api/products/{product_id}").get_json()
    assert body == {"id": product_id, "name": body["name"], "price": 250, "stock": 7}


def test_unknown_product_is_404(client):
    assert_error(client.get("/api/products/999999999"), 404, "not_found", "product_id")


def test_points_read_and_charge(client, make_user, engine):
    user_id = make_user(points=100)
    assert client.get(f"/api/users/{user_id}/points").get_json() == {
        "user_id": user_id,
        "point": 100,
    }
    response = client.post(f"/api/users/{user_id}/points/charge", json={"amount": 50})
    assert response.status_code == 200
    assert response.get_json() == {"user_id": user_id, "point": 150}
    assert client.get(f"/api/users/{user_id}/points").get_json()["point"] == 150
    assert_invariants(engine)


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"amount": 0}, 400, "invalid", "amount"),
        ({"amount": -5}, 400, "invalid", "amount"),
        ({"amount": 1.5}, 400, "invalid", "amount"),
        ({"amount": "10"}, 400, "invalid", "amount"),
        ({"amount": True}, 400, "invalid", "amount"),
        ({"amount": 10**12}, 400, "invalid", "amount"),
        ({}, 400, "missing", "amount"),
        ([1], 400, "invalid", None),
    ],
)
def test_charge_rejects_bad_amounts_and_changes_nothing(
    client, make_user, engine, body, status, code, field
):
    user_id = make_user(points=100)
    before = db_state(engine)
    assert_error(client.post(f"/api/users/{user_id}/points/charge", json=body), status, code, field)
    assert db_state(engine) == before


def test_charge_unknown_user_is_404(client, engine):
    before = db_state(engine)
    response = client.post("/api/users/999999999/points/charge", json={"amount": 5})
    assert_error(response, 404, "not_found", "user_id")
    assert db_state(engine) == before


def test_unknown_user_points_is_404(client):
    assert_error(client.get("/api/users/999999999/points"), 404, "not_found", "user_id")


def test_order_is_paid_in_one_go(client, make_user, make_product, engine):
    user_id = make_user(points=10_000)
    cheap, dear = make_product(price=100, stock=5), make_product(price=1_000, stock=5)
    response = client.post(
        "/api/orders",
        json={
            "user_id": user_id,
            "items": [{"product_id": dear, "quantity": 2}, {"product_id": cheap, "quantity": 3}],
        },
    )
    assert response.status_code == 201, response.get_json()
    order = response.get_json()
    assert order["total"] == 2 * 1_000 + 3 * 100
    assert order["status"] == "paid"
    assert order["items"] == [
        {"product_id": dear, "quantity": 2, "price": 1_000},
        {"product_id": cheap, "quantity": 3, "price": 100},
    ]
    assert response.headers["Location"] == f"/api/orders/{order['order_id']}"
    assert client.get(f"/api/orders/{order['order_id']}").get_json() == order
    assert client.get(f"/api/users/{user_id}/points").get_json()["point"] == 10_000 - 2_300
    assert client.get(f"/api/products/{dear}").get_json()["stock"] == 3
    assert client.get(f"/api/products/{cheap}").get_json()["stock"] == 2
    assert_invariants(engine)


@pytest.mark.parametrize("strategy", ["safe", "naive"])
def test_an_order_naming_a_product_twice_buys_the_sum_on_one_line(
    strategy, shop, naive_shop, make_user, make_product, engine
):
    client = (shop if strategy == "safe" else naive_shop).test_client()
    user_id = make_user(points=10_000)
    cheap, dear = make_product(price=100, stock=5), make_product(price=1_000, stock=5)
    items = [{"product_id": cheap, "quantity": 1}, {"product_id": dear, "quantity": 2},
             {"product_id": cheap, "quantity": 2}]  # fmt: skip
    response = client.post("/api/orders", json={"user_id": user_id, "items": items})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["items"] == [
        {"product_id": cheap, "quantity": 3, "price": 100},
        {"product_id": dear, "quantity": 2, "price": 1_000},
    ]
    assert response.get_json()["total"] == 3 * 100 + 2 * 1_000
    assert client.get(f"/api/products/{cheap}").get_json()["stock"] == 2
    # The sum is what the stock must hold: the error names the product's first line.
    over = [{"product_id": dear, "quantity": 2}, {"product_id": dear, "quantity": 2}]
    assert_error(client.post("/api/orders", json={"user_id": user_id, "items": over}),
                 409, "out_of_stock", "items[0].quantity")  # fmt: skip
    assert_invariants(engine)


def test_unknown_order_is_404(client):
    assert_error(client.get("/api/orders/999999999"), 404, "not_found", "order_id")


BAD_ORDERS = [
    # (body, status, code, field)
    ({"items": [{"product_id": 1, "quantity": 1}]}, 400, "missing", "user_id"),
    ({"user_id": "1", "items": [{"product_id": 1, "quantity": 1}]}, 400, "invalid", "user_id"),
    ({"user_id": 0, "items": [{"product_id": 1, "quantity": 1}]}, 400, "invalid", "user_id"),
    ({"user_id": 2**64, "items": [{"product_id": 1, "quantity": 1}]}, 400, "invalid", "user_id"),
    ({"user_id": "U", "items": []}, 400, "invalid", "user_id"),
    ({"user_id": 1}, 400, "missing", "items"),
    ({"user_id": 1, "items": []}, 400, "invalid", "items"),
    ({"user_id": 1, "items": {"product_id": 1}}, 400, "invalid", "items"),
    ({"user_id": 1, "items": [7]}, 400, "invalid", "items[0]"),
    ({"user_id": 1, "items": [{"quantity": 1}]}, 400, "missing", "items[0].product_id"),
    ({"user_id": 1, "items": [{"product_id": 1}]}, 400, "missing", "items[0].quantity"),
    ({"user_id": 1, "items": [{"product_id": 1, "quantity": 0}]}, 400, "invalid",
     "items[0].quantity"),
    ({"user_id": 1, "items": [{"product_id": 1, "quantity": -2}]}, 400, "invalid",
     "items[0].quantity"),
    ({"user_id": 1, "items": [{"product_id": 1, "quantity": 1.5}]}, 400, "invalid",
     "items[0].quantity"),
    ({"user_id": 1, "items": [{"product_id": 1, "quantity": 2.0}]}, 400, "invalid",
     "items[0].quantity"),
    ({"user_id": 1, "items": [{"product_id": 1, "quantity": 10**9}]}, 400, "invalid",
     "items[0].quantity"),
    ({"user_id": 1, "items": [{"product_id": 1, "quantity": False}]}, 400, "invalid",
     "items[0].quantity"),
    ({"user_id": 1, "items": [{"product_id": 1, "quantity": 1},
                              {"product_id": 1, "quantity": 1},
                              {"product_id": 999999999, "quantity": 1}]}, 404, "not_found",
     "items[2].product_id"),
    ({"user_id": 1, "items": [{"product_id": 1, "quantity": 1}] * 51}, 400, "invalid", "items"),
    ({"user_id": 999999999, "items": [{"product_id": 1, "quantity": 1}]}, 404, "not_found",
     "user_id"),
    ({"user_id": 1, "items": [{"product_id": 1, "quantity": 1},
                              {"product_id": 999999999, "quantity": 1}]}, 404, "not_found",
     "items[1].product_id"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "status", "code", "field"), BAD_ORDERS)
def test_bad_order_is_rejected_and_changes_nothing(client, engine, body, status, code, field):
    before = db_state(engine)
    assert_error(client.post("/api/orders", json=body), status, code, field)
    assert db_state(engine) == before


@pytest.mark.parametrize(
    ("data", "content_type", "status", "code"),
    [
        ("{not json", "application/json", 400, "malformed_json"),
        ("", "application/json", 400, "malformed_json"),
        ('{"user_id": 1', "application/json", 400, "malformed_json"),
        ("\xff\xfe", "application/json", 400, "malformed_json"),
        ('{"user_id": 1}', "text/plain", 415, "unsupported_media_type"),
        ("user_id=1", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        ('"a string"', "application/json", 400, "invalid"),
        ("x" * (70 * 1024), "application/json", 413, "too_large"),
    ],
)
def test_unreadable_order_body_is_rejected_and_changes_nothing(
    client, engine, data, content_type, status, code
):
    before = db_state(engine)
    response = client.post("/api/orders", data=data, content_type=content_type)
    assert_error(response, status, code)
    assert db_state(engine) == before


def test_out_of_stock_is_409_and_changes_nothing(client, make_user, make_product, engine):
    user_id = make_user()
    plenty, scarce = make_product(stock=100), make_product(stock=2)
    before = db_state(engine)
    response = client.post(
        "/api/orders",
        json={
            "user_id": user_id,
            "items": [{"product_id": plenty, "quantity": 1}, {"product_id": scarce, "quantity": 3}],
        },
    )
    assert_error(response, 409, "out_of_stock", "items[1].quantity")
    assert db_state(engine) == before


def test_insufficient_points_is_409_and_changes_nothing(client, make_user, make_product, engine):
    user_id = make_user(points=99)
    product_id = make_product(price=100)
    before = db_state(engine)
    response = client.post(
        "/api/orders",
        json={"user_id": user_id, "items": [{"product_id": product_id, "quantity": 1}]},
    )
    assert_error(response, 409, "insufficient_points", "user_id")
    assert db_state(engine) == before


@pytest.mark.parametrize("key", ["", "x" * 65, "white space", "ключ"])
def test_bad_idempotency_key_is_400(client, key):
    response = client.post(
        "/api/orders",
        json={"user_id": 1, "items": [{"product_id": 1, "quantity": 1}]},
        headers={"Idempotency-Key": key},
    )
    assert_error(response, 400, "invalid", "Idempotency-Key")


def test_idempotent_retry_returns_the_first_order(client, make_user, make_product, engine):
    user_id, product_id = make_user(points=1_000), make_product(price=100)
    body = {"user_id": user_id, "items": [{"product_id": product_id, "quantity": 1}]}
    first = client.post("/api/orders", json=body, headers={"Idempotency-Key": "retry-1"})
    again = client.post("/api/orders", json=body, headers={"Idempotency-Key": "retry-1"})
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert client.get(f"/api/users/{user_id}/points").get_json()["point"] == 900
    other = dict(body, items=[{"product_id": product_id, "quantity": 2}])
    assert_error(
        client.post("/api/orders", json=other, headers={"Idempotency-Key": "retry-1"}),
        409, "idempotency_key_reused", "Idempotency-Key",
    )  # fmt: skip
    assert_invariants(engine)


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("get", "/no/such/page", 404, "not_found"),
        ("delete", "/api/orders", 405, "method_not_allowed"),
        ("get", "/api/products/abc", 404, "not_found"),
        ("get", "/api/products/-1", 404, "not_found"),
    ],
)
def test_routing_errors_are_json_not_html(client, method, path, status, code):
    assert_error(getattr(client, method)(path), status, code)


def test_popular_lists_top_sellers_by_quantity(client, make_user, make_product, redis_client):
    user_id = make_user()
    top, second = make_product(price=10), make_product(price=10)
    for product_id, qty in ((top, 900), (second, 800)):
        response = client.post(
            "/api/orders",
            json={"user_id": user_id, "items": [{"product_id": product_id, "quantity": qty}]},
        )
        assert response.status_code == 201
    popular = client.get("/api/products/popular?days=1&limit=2").get_json()
    assert [(p["id"], p["quantity_sold"]) for p in popular] == [(top, 900), (second, 800)]
    assert set(popular[0]) == {"id", "name", "price", "quantity_sold"}


@pytest.mark.parametrize(
    ("query", "field"),
    [("days=0", "days"), ("days=31", "days"), ("limit=0", "limit"), ("limit=1000", "limit"),
     ("days=one", "days"), ("days=", "days"), ("days=1&days=2", "days")],
)  # fmt: skip
def test_popular_rejects_bad_window(client, query, field):
    assert_error(client.get(f"/api/products/popular?{query}"), 400, "invalid", field)


def test_health_and_readiness(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["checks"] == {"database": "ok", "redis": "ok"}
    assert ready.get_json()["order_strategy"] == "safe"


def test_openapi_documents_every_route(app, client):
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    documented = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    routed = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = rule.rule
        for arg in rule.arguments:
            path = path.replace(f"<int:{arg}>", f"{{{arg}}}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routed.add((path, method.lower()))
    assert routed == documented


# The request histogram's count of one route, in each shop's dialect.
ORDERS_COUNTED = {
    "flask": 'flask_http_request_duration_seconds_count{method="POST",status="201",'
    'url_rule="/api/orders"}',
    "spring": 'http_server_requests_seconds_count{error="none",exception="none",method="POST",'
    'outcome="SUCCESS",status="201",uri="/api/orders"}',
}


def test_metrics_count_orders_by_strategy_and_result(
    request, shop, client, make_user, make_product
):
    from tests.integration.conftest import sample

    user_id, product_id = make_user(points=150), make_product(price=100)
    labels = {"strategy": "safe", "result": "created"}
    created = sample(shop, "shop_orders_total", labels)
    conflicts = sample(
        shop, "shop_orders_total", {"strategy": "safe", "result": "insufficient_points"}
    )
    body = {"user_id": user_id, "items": [{"product_id": product_id, "quantity": 1}]}
    assert client.post("/api/orders", json=body).status_code == 201
    assert client.post("/api/orders", json=body).status_code == 409
    assert sample(shop, "shop_orders_total", labels) == created + 1
    assert (
        sample(shop, "shop_orders_total", {"strategy": "safe", "result": "insufficient_points"})
        == conflicts + 1
    )
    text = client.get("/metrics").get_data(as_text=True)
    assert ORDERS_COUNTED[request.node.callspec.params["shop"]] in text


def test_rare_event_counters_exist_before_their_first_event(client):
    """Born at 0, so rate() and the alerts see the first deadlock, disconnect or cache error."""
    text = client.get("/metrics").get_data(as_text=True)
    for operation in OPERATIONS:
        for kind in ERROR_KINDS:
            assert f'shop_db_errors_total{{kind="{kind}",operation="{operation}"}}' in text
    for operation in RETRIED_OPERATIONS:
        assert f'shop_db_retries_total{{operation="{operation}"}}' in text
    for result in ("hit", "miss", "error"):
        assert f'shop_cache_requests_total{{cache="popular",result="{result}"}}' in text

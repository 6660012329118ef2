"""The JSON API: routes parse, call a service, shape the response. No SQL, no commits here."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from shop import catalog, db, orders, points, validation
from shop.cache import redis_answers
from shop.context import shop_context

api = Blueprint("api", __name__)
probes = Blueprint("probes", __name__)


@api.get("/api/products")
def list_products():
    shop = shop_context()
    limit = validation.query_int(request, "limit", 20, 1, 100)
    offset = validation.query_int(request, "offset", 0, 0, 10_000_000)
    return jsonify(catalog.list_products(shop.engine, shop.metrics, limit, offset))


@api.get("/api/products/popular")
def popular_products():
    shop = shop_context()
    days = validation.query_int(request, "days", 3, 1, 30)
    limit = validation.query_int(request, "limit", 5, 1, 100)

    def body() -> bytes:
        value = catalog.cached_popular_products(
            shop.popular_cache, shop.engine, shop.metrics, days, limit
        )
        return current_app.json.response(value).get_data()

    local = shop.popular_local
    data = local.get((days, limit), body) if local is not None else body()
    if shop.popular_fast is not None:  # this query string's next requests skip Flask
        shop.popular_fast.learn(request.environ.get("QUERY_STRING", ""), (days, limit))
    return current_app.response_class(data, mimetype="application/json")


@api.get("/api/products/<int:product_id>")
def get_product(product_id: int):
    shop = shop_context()
    return jsonify(catalog.get_product(shop.engine, shop.metrics, product_id))


@api.get("/api/users/<int:user_id>/points")
def get_points(user_id: int):
    shop = shop_context()
    return jsonify(points.get_points(shop.engine, shop.metrics, user_id))


@api.post("/api/users/<int:user_id>/points/charge")
def charge_points(user_id: int):
    shop = shop_context()
    body = validation.json_object(request)
    amount = validation.integer(
        validation.required(body, "amount"), "amount", 1, shop.settings.max_charge
    )
    result = points.charge_points(
        shop.engine, shop.metrics, user_id, amount, shop.settings.order_max_retries
    )
    return jsonify(result)


@api.post("/api/orders")
def place_order():
    shop = shop_context()
    key = validation.idempotency_key(request)
    user_id, lines = validation.order_request(validation.json_object(request))
    placed = orders.place_order(
        shop.engine,
        shop.metrics,
        strategy=shop.settings.order_strategy,
        user_id=user_id,
        lines=lines,
        idempotency_key=key,
        retries=shop.settings.order_max_retries,
        sales_mode=shop.settings.sales_mode,
    )
    response = jsonify(placed.order)
    response.status_code = 201
    response.headers["Location"] = f"/api/orders/{placed.order['order_id']}"
    if placed.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


@api.get("/api/orders/<int:order_id>")
def get_order(order_id: int):
    shop = shop_context()
    return jsonify(orders.get_order(shop.engine, shop.metrics, order_id))


@probes.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


@probes.get("/readyz")
def readyz():
    """Ready while the database answers: it is all the shop needs to answer every route. Redis
    down only degrades it (the popular list comes from the database; shop_cache_up says so)."""
    shop = shop_context()
    checks = {}
    try:
        db.ping(shop.engine)
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    checks["redis"] = "ok" if redis_answers(shop.redis) else "error: no answer to PING"
    ready = checks["database"] == "ok"
    status = "not_ready" if not ready else "ready" if checks["redis"] == "ok" else "degraded"
    response = jsonify({
        "status": status,
        "checks": checks,
        "order_strategy": shop.settings.order_strategy,
        "sales_mode": shop.settings.sales_mode,
    })  # fmt: skip
    response.status_code = 200 if ready else 503
    return response


@probes.get("/openapi.json")
def openapi():
    from shop.openapi import spec

    return jsonify(spec(current_app))

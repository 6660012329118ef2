"""Products: listing, one product, and the popular list over a daily sales aggregate."""

from __future__ import annotations

from sqlalchemy import Engine, text

from shop.cache import StaleWhileRevalidateCache
from shop.db import run_read
from shop.errors import NotFound
from shop.metrics import ShopMetrics

_LIST = text("SELECT id, name, price, stock FROM products ORDER BY id LIMIT :limit OFFSET :offset")
_COUNT = text("SELECT COUNT(*) FROM products")
_ONE = text("SELECT id, name, price, stock FROM products WHERE id = :id")
# Reads at most days x products rows of the aggregate, however many orders there are.
_POPULAR = text(
    "SELECT p.id, p.name, p.price, s.quantity FROM ("
    "  SELECT product_id, SUM(quantity) AS quantity FROM product_sales_daily"
    "  WHERE day > UTC_DATE() - INTERVAL :days DAY"
    "  GROUP BY product_id ORDER BY quantity DESC, product_id LIMIT :limit"
    ") s JOIN products p ON p.id = s.product_id ORDER BY s.quantity DESC, p.id"
)


def _product(row) -> dict:
    return {"id": row.id, "name": row.name, "price": row.price, "stock": row.stock}


def list_products(engine: Engine, metrics: ShopMetrics, limit: int, offset: int) -> dict:
    def read(conn):
        rows = conn.execute(_LIST, {"limit": limit, "offset": offset}).all()
        total = conn.execute(_COUNT).scalar_one()
        return {
            "items": [_product(r) for r in rows],
            "limit": limit,
            "offset": offset,
            "total": total,
        }

    return run_read(engine, read, operation="list_products", metrics=metrics)


def get_product(engine: Engine, metrics: ShopMetrics, product_id: int) -> dict:
    row = run_read(
        engine,
        lambda conn: conn.execute(_ONE, {"id": product_id}).first(),
        operation="get_product",
        metrics=metrics,
    )
    if row is None:
        raise NotFound(f"product {product_id} does not exist", field="product_id")
    return _product(row)


def popular_products(engine: Engine, metrics: ShopMetrics, days: int, limit: int) -> list[dict]:
    """Top sellers by quantity over the last `days` UTC days (today included), uncached."""
    rows = run_read(
        engine,
        lambda conn: conn.execute(_POPULAR, {"days": days, "limit": limit}).all(),
        operation="popular_products",
        metrics=metrics,
    )
    return [
        {"id": r.id, "name": r.name, "price": r.price, "quantity_sold": int(r.quantity)}
        for r in rows
    ]


def cached_popular_products(
    cache: StaleWhileRevalidateCache, engine: Engine, metrics: ShopMetrics, days: int, limit: int
) -> list[dict]:
    return cache.get(
        f"shop:popular:v1:{days}:{limit}",
        lambda: popular_products(engine, metrics, days, limit),
    )

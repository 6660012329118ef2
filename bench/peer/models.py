"""The peer's ORM classes, one per table, mapped onto the shop's own tables (shop.schema)."""

from __future__ import annotations

from sqlalchemy.orm import registry

from shop import schema

mapper_registry = registry(metadata=schema.metadata)


class User:
    pass


class Product:
    pass


class Order:
    pass


class OrderItem:
    pass


class Payment:
    pass


class PointHistory:
    pass


class ProductSalesDaily:
    pass


for cls, table in (
    (User, schema.users),
    (Product, schema.products),
    (Order, schema.orders),
    (OrderItem, schema.order_items),
    (Payment, schema.payments),
    (PointHistory, schema.point_history),
    (ProductSalesDaily, schema.product_sales_daily),
):
    mapper_registry.map_imperatively(cls, table)

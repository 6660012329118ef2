"""The shop's tables, JPA-style: surrogate ids and the foreign keys an ORM mapping would have."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.mysql import DATETIME

metadata = MetaData()

users = Table(
    "users",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False),
    Column("point", BigInteger, nullable=False, server_default="0"),
    # The mission's ORM wrote these back on every save: the naive path keeps doing so.
    Column("is_deleted", Boolean, nullable=False, server_default="0"),
    Column("deleted_at", DateTime, nullable=True),
    Column("created_at", DateTime, nullable=False, server_default=func.now()),
    CheckConstraint("point >= 0", name="ck_users_point_nonneg"),
    mysql_engine="InnoDB",
)

products = Table(
    "products",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False),
    Column("price", BigInteger, nullable=False),
    Column("stock", Integer, nullable=False),
    # What stock started at (plus restocks): sold = initial_stock - stock, an invariant check.
    Column("initial_stock", Integer, nullable=False),
    CheckConstraint("stock >= 0", name="ck_products_stock_nonneg"),
    CheckConstraint("price > 0", name="ck_products_price_pos"),
    mysql_engine="InnoDB",
)

orders = Table(
    "orders",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    # This foreign key is the mission's deadlock: inserting an order S-locks the users row.
    Column("user_id", BigInteger, ForeignKey("users.id"), nullable=False),
    Column("total", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("idempotency_key", String(64), nullable=True),
    Column("request_hash", String(64), nullable=True),
    Column("created_at", DATETIME(fsp=6), nullable=False, server_default=func.now(6)),
    UniqueConstraint("user_id", "idempotency_key", name="uq_orders_user_idempotency_key"),
    Index("ix_orders_created_at", "created_at"),
    mysql_engine="InnoDB",
)

order_items = Table(
    "order_items",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("order_id", BigInteger, ForeignKey("orders.id"), nullable=False),
    Column("product_id", BigInteger, ForeignKey("products.id"), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("price", BigInteger, nullable=False),
    CheckConstraint("quantity > 0", name="ck_order_items_quantity_pos"),
    mysql_engine="InnoDB",
)

payments = Table(
    "payments",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("order_id", BigInteger, ForeignKey("orders.id"), nullable=False, unique=True),
    Column("user_id", BigInteger, ForeignKey("users.id"), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("created_at", DATETIME(fsp=6), nullable=False, server_default=func.now(6)),
    mysql_engine="InnoDB",
)

point_history = Table(
    "point_history",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("user_id", BigInteger, ForeignKey("users.id"), nullable=False),
    # seed: the balance a user was created with; charge: top-ups; use: order payments.
    Column("kind", Enum("seed", "charge", "use", name="point_kind"), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("order_id", BigInteger, ForeignKey("orders.id"), nullable=True),
    Column("created_at", DATETIME(fsp=6), nullable=False, server_default=func.now(6)),
    Index("ix_point_history_user", "user_id", "kind"),
    mysql_engine="InnoDB",
)

# Units sold per product per UTC day, kept with every order: the popular list reads at most
# days x products rows, however many orders there are.
product_sales_daily = Table(
    "product_sales_daily",
    metadata,
    Column("day", Date, primary_key=True),
    Column("product_id", BigInteger, primary_key=True),
    Column("quantity", BigInteger, nullable=False),
    mysql_engine="InnoDB",
)

# SHOP_SALES_MODE=async: each order appends its lines here (no hot row) in its own transaction,
# and the sales consumer (shop.sales) moves them into product_sales_daily in batches. `day` is
# the order's UTC day, as the synchronous upsert's; `created_at` dates the wait (lag metric).
sales_queue = Table(
    "sales_queue",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("day", Date, nullable=False),
    Column("product_id", BigInteger, nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("created_at", DATETIME(fsp=6), nullable=False, server_default=func.now(6)),
    mysql_engine="InnoDB",
)

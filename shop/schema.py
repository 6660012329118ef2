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


def _table(name: str, *items) -> Table:
    """An InnoDB table of the shop's metadata."""
    return Table(name, metadata, *items, mysql_engine="InnoDB")


def _id() -> Column:
    """The surrogate key: BIGINT AUTO_INCREMENT, as an ORM mapping has it."""
    return Column("id", BigInteger, primary_key=True, autoincrement=True)


def _created_at() -> Column:
    """When the row was inserted, to the microsecond: the database's default."""
    return Column("created_at", DATETIME(fsp=6), nullable=False, server_default=func.now(6))


users = _table(
    "users",
    _id(),
    Column("username", String(64), nullable=False),
    Column("point", BigInteger, nullable=False, server_default="0"),
    # The mission's ORM wrote these back on every save: the naive path keeps doing so.
    Column("is_deleted", Boolean, nullable=False, server_default="0"),
    Column("deleted_at", DateTime, nullable=True),
    Column("created_at", DateTime, nullable=False, server_default=func.now()),
    CheckConstraint("point >= 0", name="ck_users_point_nonneg"),
)

products = _table(
    "products",
    _id(),
    Column("name", String(128), nullable=False),
    Column("price", BigInteger, nullable=False),
    Column("stock", Integer, nullable=False),
    # What stock started at (plus restocks): sold = initial_stock - stock, an invariant check.
    Column("initial_stock", Integer, nullable=False),
    CheckConstraint("stock >= 0", name="ck_products_stock_nonneg"),
    CheckConstraint("price > 0", name="ck_products_price_pos"),
)

orders = _table(
    "orders",
    _id(),
    # This foreign key is the mission's deadlock: inserting an order S-locks the users row.
    Column("user_id", BigInteger, ForeignKey("users.id"), nullable=False),
    Column("total", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("idempotency_key", String(64), nullable=True),
    Column("request_hash", String(64), nullable=True),
    _created_at(),
    UniqueConstraint("user_id", "idempotency_key", name="uq_orders_user_idempotency_key"),
    Index("ix_orders_created_at", "created_at"),
)

order_items = _table(
    "order_items",
    _id(),
    Column("order_id", BigInteger, ForeignKey("orders.id"), nullable=False),
    Column("product_id", BigInteger, ForeignKey("products.id"), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("price", BigInteger, nullable=False),
    CheckConstraint("quantity > 0", name="ck_order_items_quantity_pos"),
)

payments = _table(
    "payments",
    _id(),
    Column("order_id", BigInteger, ForeignKey("orders.id"), nullable=False, unique=True),
    Column("user_id", BigInteger, ForeignKey("users.id"), nullable=False),
    Column("amount", BigInteger, nullable=False),
    _created_at(),
)

point_history = _table(
    "point_history",
    _id(),
    Column("user_id", BigInteger, ForeignKey("users.id"), nullable=False),
    # seed: the balance a user was created with; charge: top-ups; use: order payments.
    Column("kind", Enum("seed", "charge", "use", name="point_kind"), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("order_id", BigInteger, ForeignKey("orders.id"), nullable=True),
    _created_at(),
    Index("ix_point_history_user", "user_id", "kind"),
)

# Units sold per product per UTC day, kept with every order: the popular list reads at most
# days x products rows, however many orders there are.
product_sales_daily = _table(
    "product_sales_daily",
    Column("day", Date, primary_key=True),
    Column("product_id", BigInteger, primary_key=True),
    Column("quantity", BigInteger, nullable=False),
)

# SHOP_SALES_MODE=async: each order appends its lines here (no hot row) in its own transaction,
# and the sales consumer (shop.sales) moves them into product_sales_daily in batches. `day` is
# the order's UTC day, as the synchronous upsert's; `created_at` dates the wait (lag metric).
sales_queue = _table(
    "sales_queue",
    _id(),
    Column("day", Date, nullable=False),
    Column("product_id", BigInteger, nullable=False),
    Column("quantity", Integer, nullable=False),
    _created_at(),
)

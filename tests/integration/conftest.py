"""Shop fixtures: one schema per session on the harness's MariaDB, apps per strategy."""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from sqlalchemy import Engine, text

from shop import create_app
from shop.invariants import check_invariants
from shop.schema import metadata
from shop.seed import seed_catalog
from shop.settings import Settings

_names = itertools.count(1)


@pytest.fixture(scope="session")
def shop_settings(mariadb, redis_server) -> Iterator[Settings]:
    with mariadb.connect() as conn, conn.cursor() as cur:
        cur.execute("CREATE DATABASE shop_it")
    # A pool as large as the most concurrent test, so the database (not the pool) decides.
    yield Settings(
        database_url=mariadb.url("shop_it"),
        redis_url=redis_server.url(1),
        db_pool_size=40,
        db_max_overflow=30,
        db_pool_timeout=30,
        # The Redis tier alone: test_shop_cache.py pins it lookup by lookup (and the per-worker
        # tier in front of it with an app of its own).
        popular_local_ttl=0,
    )
    with mariadb.connect() as conn, conn.cursor() as cur:
        cur.execute("DROP DATABASE shop_it")


def _dispose(app: Flask) -> None:
    app.extensions["shop"].engine.dispose()
    app.extensions["shop"].redis.close()


@pytest.fixture(scope="session")
def app(shop_settings) -> Iterator[Flask]:
    app = create_app(shop_settings)
    engine = app.extensions["shop"].engine
    metadata.create_all(engine)
    seed_catalog(engine, users=20, products=10)
    yield app
    _dispose(app)


@pytest.fixture(scope="session")
def naive_app(app, shop_settings) -> Iterator[Flask]:
    naive = create_app(dataclasses.replace(shop_settings, order_strategy="naive"))
    yield naive
    _dispose(naive)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def engine(app) -> Engine:
    return app.extensions["shop"].engine


@pytest.fixture
def make_user(engine) -> Callable[..., int]:
    """A new user with `points` (recorded as its seed balance, so invariants hold)."""

    def make(points: int = 1_000_000) -> int:
        with engine.begin() as conn:
            user_id = conn.execute(
                text("INSERT INTO users (username, point) VALUES (:n, :p)"),
                {"n": f"it-user-{next(_names)}", "p": points},
            ).lastrowid
            conn.execute(
                text("INSERT INTO point_history (user_id, kind, amount) VALUES (:u, 'seed', :p)"),
                {"u": user_id, "p": points},
            )
        return user_id

    return make


@pytest.fixture
def make_product(engine) -> Callable[..., int]:
    def make(price: int = 100, stock: int = 1000) -> int:
        with engine.begin() as conn:
            return conn.execute(
                text(
                    "INSERT INTO products (name, price, stock, initial_stock) "
                    "VALUES (:n, :p, :s, :s)"
                ),
                {"n": f"it-product-{next(_names)}", "p": price, "s": stock},
            ).lastrowid

    return make


def db_state(engine: Engine) -> dict:
    """Everything an order or a charge can change, summed: equal before and after = no write."""
    with engine.connect() as conn:
        return dict(
            conn.execute(
                text(
                    "SELECT (SELECT COUNT(*) FROM orders) AS orders,"
                    " (SELECT COUNT(*) FROM order_items) AS items,"
                    " (SELECT COUNT(*) FROM payments) AS payments,"
                    " (SELECT COUNT(*) FROM point_history) AS history,"
                    " (SELECT SUM(point) FROM users) AS points,"
                    " (SELECT SUM(stock) FROM products) AS stock,"
                    " (SELECT COALESCE(SUM(quantity), 0) FROM product_sales_daily) AS sales"
                )
            )
            .one()
            ._mapping
        )


def assert_invariants(engine: Engine) -> None:
    with engine.connect() as conn:
        violations = check_invariants(conn)
    assert violations == dict.fromkeys(violations, 0), violations


def sample(app: Flask, name: str, labels: dict | None = None) -> float:
    """A metric's current value from the app's own registry (0 when never touched)."""
    registry = app.extensions["shop"].metrics.registry
    return registry.get_sample_value(name, labels or {}) or 0.0


def wait_for_blocked_queries(engine: Engine, n: int, timeout: float = 20) -> list[int]:
    """Until `n` statements of this database run in the server (blocked behind a lock the test
    holds: its holder sleeps; INNODB_TRX's cache is not a reliable witness of a wait this
    young); their connection ids."""
    query = text(
        "SELECT ID FROM information_schema.PROCESSLIST"
        " WHERE DB = DATABASE() AND COMMAND = 'Query' AND ID <> CONNECTION_ID()"
    )
    deadline = time.monotonic() + timeout
    while True:
        with engine.connect() as conn:
            ids = list(conn.execute(query).scalars())
        if len(ids) >= n:
            return ids
        assert time.monotonic() < deadline, f"only {len(ids)} of {n} statements wait for a lock"
        time.sleep(0.05)

"""Shop fixtures: one schema per session on the harness's MariaDB, apps per strategy; the Spring
shop's jar on a schema of its own, one JVM per strategy, and `shop` to hold both to one test."""

from __future__ import annotations

import dataclasses
import itertools
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from sqlalchemy import Engine, create_engine, text

from shop import create_app
from shop.invariants import check_invariants
from shop.schema import metadata
from shop.seed import seed_catalog
from shop.settings import Settings
from stack.settings import REPO
from tests.harness.spring import SpringShop

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


def seeded_database(mariadb, database: str, users: int, products: int) -> str:
    """A new database with the shop's schema and a small catalogue; its URL."""
    with mariadb.connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{database}`")
    engine = create_engine(mariadb.url(database))
    metadata.create_all(engine)
    seed_catalog(engine, users=users, products=products)
    engine.dispose()
    return mariadb.url(database)


def init_with_cli(mariadb, database: str) -> Engine:
    """A new database made as the README makes one: `flask --app shop init-db`, then `seed`
    (20 users, 10 products); its engine."""
    with mariadb.connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{database}`")
    env = {**os.environ, "SHOP_DATABASE_URL": mariadb.url(database)}
    flask = [sys.executable, "-m", "flask", "--app", "shop"]
    for command in (["init-db"], ["seed", "--users", "20", "--products", "10"]):
        done = subprocess.run(
            [*flask, *command], env=env, cwd=REPO, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, f"flask {command[0]}: {done.stderr[-2000:]}"
    return create_engine(mariadb.url(database))


def start_spring_shop(
    base_dir, database_url: str, redis_url: str, ready_path: str = "/readyz", **env: str
) -> SpringShop:
    """The Spring shop's jar on `database_url`, with a pool as large as the most concurrent
    test (as the Flask test app's) and the Redis tier of the popular cache alone."""
    return SpringShop(
        base_dir,
        env={
            "SHOP_DATABASE_URL": database_url,
            "SHOP_REDIS_URL": redis_url,
            "SHOP_THREADS": "70",
            "SHOP_DB_POOL_TIMEOUT": "30",
            "SHOP_POPULAR_LOCAL_TTL_SECONDS": "0",
            "SHOP_LOG_LEVEL": "warning",
            **env,
        },
        ready_path=ready_path,
    ).start()


@pytest.fixture(scope="session")
def spring_engine(mariadb) -> Iterator[Engine]:
    """The Spring shops' schema: made by the Flask shop's CLI, never by the Spring shop."""
    engine = init_with_cli(mariadb, "shop_spring")
    yield engine
    engine.dispose()
    with mariadb.connect() as conn, conn.cursor() as cur:
        cur.execute("DROP DATABASE shop_spring")


@pytest.fixture(scope="session")
def spring_shops(harness_root, mariadb, redis_server, spring_engine) -> Iterator[Callable]:
    """`spring_shops(strategy)`: the Spring shop of that strategy on `shop_spring`, its JVM
    started on first use (a JVM start is slow) and stopped at the end of the session."""
    started: dict[str, SpringShop] = {}

    def get(strategy: str) -> SpringShop:
        if strategy not in started:
            started[strategy] = start_spring_shop(
                harness_root / f"spring-{strategy}",
                mariadb.url("shop_spring"),
                redis_server.url(2),
                SHOP_ORDER_STRATEGY=strategy,
            )
        return started[strategy]

    yield get
    for shop in started.values():
        shop.stop()


@pytest.fixture
def spring_app(spring_shops) -> SpringShop:
    return spring_shops("safe")


@pytest.fixture
def spring_naive_app(spring_shops) -> SpringShop:
    return spring_shops("naive")


# Parametrize a test over both shops with `shop` (and `naive_shop`): each is the Flask app or
# the running Spring shop, `engine` (and so make_user, make_product) follow it to its schema.
SHOPS = ["flask", "spring"]


@pytest.fixture(params=SHOPS)
def shop(request):
    return request.getfixturevalue("app" if request.param == "flask" else "spring_app")


@pytest.fixture
def naive_shop(request, shop):
    flask = isinstance(shop, Flask)
    return request.getfixturevalue("naive_app" if flask else "spring_naive_app")


def shop_engine(request, shop) -> Engine:
    """The schema `shop` serves."""
    if isinstance(shop, Flask):
        return shop.extensions["shop"].engine
    return request.getfixturevalue("spring_engine")


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


def sample(app: Flask | SpringShop, name: str, labels: dict | None = None) -> float:
    """A metric's current value from the app's own registry, or the Spring shop's scrape (0 when
    never touched)."""
    if isinstance(app, SpringShop):
        return app.sample(name, labels)
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

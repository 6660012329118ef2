"""The backing services of a bench: the test harness's MariaDB and Redis, seeded like the stack."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine

from shop.schema import metadata
from shop.seed import seed_catalog, seed_orders
from stack.ephemeral import MariaDB, Redis


def start_backing(
    root: Path, users: int, products: int, orders: int, servers: list
) -> tuple[MariaDB, Redis]:
    """MariaDB with database `shop` seeded, and Redis, under `root`; appended to `servers` as
    they start, so the caller stops whatever started even if a later one fails."""
    db = MariaDB(root / "mariadb").start()
    servers.append(db)
    redis = Redis(root / "redis").start()
    servers.append(redis)
    with db.connect() as conn, conn.cursor() as cur:
        cur.execute("CREATE DATABASE shop")
    engine = create_engine(db.url("shop"))
    try:
        metadata.create_all(engine)
        seed_catalog(engine, users=users, products=products)
        seed_orders(engine, orders, days=3)
    finally:
        engine.dispose()
    return db, redis


def stop_all(servers: list, log) -> None:
    for server in reversed(servers):
        try:
            server.stop()
        except Exception as exc:  # a stop that fails must not hide the others
            log(f"stopping {type(server).__name__}: {exc}")

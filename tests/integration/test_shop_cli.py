"""`flask --app shop` commands, run as a user runs them: a subprocess with an environment."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from stack.settings import REPO

pytestmark = pytest.mark.integration


def flask(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "shop", *args],
        env={**os.environ, **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def shop_env(mariadb, redis_server, mysql_database) -> dict:
    return {"SHOP_DATABASE_URL": mariadb.url(mysql_database), "SHOP_REDIS_URL": redis_server.url(2)}


def test_init_db_is_idempotent(shop_env, mariadb, mysql_database):
    for _ in range(2):
        result = flask(shop_env, "init-db")
        assert result.returncode == 0, result.stderr
        assert "8 tables present" in result.stdout
    with mariadb.connect(mysql_database) as conn, conn.cursor() as cur:
        cur.execute("SHOW TABLES")
        assert {row[0] for row in cur.fetchall()} == {
            "users", "products", "orders", "order_items", "payments", "point_history",
            "product_sales_daily", "sales_queue",
        }  # fmt: skip


def test_seed_creates_contiguous_ids_once_and_keeps_invariants(shop_env, mariadb, mysql_database):
    result = flask(shop_env, "seed", "--users", "2000", "--products", "50", "--orders", "500")
    assert result.returncode == 0, result.stderr
    assert "2000 users and 50 products created" in result.stdout
    again = flask(shop_env, "seed", "--users", "2000", "--products", "50")
    assert "0 users and 0 products created" in again.stdout
    with mariadb.connect(mysql_database) as conn, conn.cursor() as cur:
        cur.execute("SELECT MIN(id), MAX(id), COUNT(*) FROM users")
        assert cur.fetchone() == (1, 2000, 2000)
        cur.execute("SELECT MIN(id), MAX(id), COUNT(*) FROM products")
        assert cur.fetchone() == (1, 50, 50)
        cur.execute("SELECT COUNT(*), MIN(created_at) > NOW() - INTERVAL 3 DAY FROM orders")
        assert cur.fetchone() == (500, 1)
    checked = flask(shop_env, "check-invariants")
    assert checked.returncode == 0, checked.stdout
    assert "FAIL" not in checked.stdout


def test_check_invariants_fails_on_a_lost_update(shop_env, mariadb, mysql_database):
    assert (
        flask(shop_env, "seed", "--users", "10", "--products", "5", "--orders", "20").returncode
        == 0
    )
    with mariadb.connect(mysql_database) as conn, conn.cursor() as cur:
        cur.execute("UPDATE users SET point = point + 1 WHERE id = 1")  # a point nobody charged
    result = flask(shop_env, "check-invariants")
    assert result.returncode == 1
    assert "FAIL initial points + charges = points now + payments, per user (1)" in result.stdout


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"SHOP_DATABASE_URL": ""}, "SHOP_DATABASE_URL"),
        ({"SHOP_DATABASE_URL": "postgresql://x/y"}, "SHOP_DATABASE_URL"),
        ({"SHOP_ORDER_STRATEGY": "optimistic"}, "SHOP_ORDER_STRATEGY"),
        ({"SHOP_DB_POOL_SIZE": "many"}, "SHOP_DB_POOL_SIZE"),
    ],
)
def test_bad_setting_fails_with_one_line_naming_it(shop_env, env, variable):
    result = flask({**shop_env, **env}, "init-db")
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert variable in lines[0]

"""The audit on a real database: balanced books pass; each broken book FAILs, named."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import uuid

import pytest
from sqlalchemy import text

from lab.audit.audit_run import audit
from shop import create_app
from shop.schema import metadata
from shop.seed import seed_catalog
from stack.settings import REPO

pytestmark = pytest.mark.integration


@pytest.fixture
def run(mariadb, mysql_database, shop_settings, tmp_path):
    """A shop on its own database, ten orders placed, their attempts logged as a tool does."""
    url = mariadb.url(mysql_database)
    app = create_app(dataclasses.replace(shop_settings, database_url=url))
    engine = app.extensions["shop"].engine
    metadata.create_all(engine)
    seed_catalog(engine, users=5, products=3)
    client = app.test_client()
    lines = []
    for i in range(10):
        key = uuid.uuid4().hex
        body = {"user_id": 1 + i % 5, "items": [{"product_id": 1 + i % 3, "quantity": 1}]}
        response = client.post("/api/orders", json=body, headers={"Idempotency-Key": key})
        assert response.status_code == 201
        lines.append({"key": key, "user_id": body["user_id"], "status": 201,
                      "order_id": response.get_json()["order_id"]})  # fmt: skip
    (tmp_path / "orders.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    yield url, tmp_path, engine, lines
    engine.dispose()


def test_a_clean_run_passes_with_every_order_reconciled(run):
    url, results, _, _ = run
    result = audit(url, results)
    assert result.passed, result.lines()
    assert (result.reconciliation.acknowledged, result.reconciliation.stored) == (10, 10)


def test_points_changed_behind_the_books_fail_naming_the_invariant(run):
    url, results, engine, _ = run
    with engine.begin() as conn:
        conn.execute(text("UPDATE users SET point = point + 7 WHERE id = 2"))
    result = audit(url, results)
    assert not result.passed
    assert result.broken == {"initial points + charges = points now + payments, per user": 1}
    assert "books: FAIL initial points + charges = points now + payments, per user (1)" in (
        result.lines()
    )


def test_an_acknowledged_order_that_vanished_is_lost(run):
    url, results, engine, lines = run
    gone = lines[3]
    with engine.begin() as conn:
        for table in ("payments", "order_items", "point_history"):
            conn.execute(
                text(f"DELETE FROM {table} WHERE order_id = :id"), {"id": gone["order_id"]}
            )
        conn.execute(text("DELETE FROM orders WHERE id = :id"), {"id": gone["order_id"]})
    result = audit(url, results)
    assert result.reconciliation.lost == [gone["key"]]
    assert not result.passed  # the books broke too: stock and points moved for nothing
    assert "stock sold = order item quantities, per product" in result.broken


def test_make_audit_exits_1_on_a_broken_book_and_0_on_a_clean_one(run):
    url, results, engine, _ = run
    command = [sys.executable, "-m", "lab.audit", "--results", str(results), "--database-url", url]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1] == "audit: PASS"
    with engine.begin() as conn:
        conn.execute(text("UPDATE products SET stock = stock - 1 WHERE id = 1"))
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "books: FAIL stock sold = order item quantities, per product (1)" in done.stdout


def test_an_unreachable_database_is_one_line_and_exit_2(tmp_path):
    from stack.processes import free_port

    url = f"mysql+pymysql://root@127.0.0.1:{free_port()}/shop"
    command = [sys.executable, "-m", "lab.audit", "--results", str(tmp_path), "--database-url", url]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and done.stderr.startswith("audit: ")


def test_a_target_files_own_audit_a_command_or_sql_decides_on_a_real_database(run):
    """`audit: {command: ...}` balances on exit 0; `audit: {sql: ...}` on a single 0 from the
    target's database; the shop's books as before with `books: shop`."""
    from lab.load.run import target_audit
    from targets import Audit

    url, results, engine, _ = run
    rich = "SELECT COUNT(*) FROM users WHERE point > 1000000000"
    assert target_audit(Audit(sql=rich), url, results)["passed"]
    assert target_audit(Audit(command="exit 0"), None, results)["passed"]
    assert target_audit(Audit(books="shop"), url, results)["reconciliation"]["stored"] == 10
    with engine.begin() as conn:
        conn.execute(text("UPDATE users SET point = 2000000000 WHERE id IN (1, 2)"))
    by_sql = target_audit(Audit(sql=rich), url, results)
    assert not by_sql["passed"]
    assert by_sql["broken_invariants"] == {"the target's SQL check answered 2": 1}
    by_command = target_audit(Audit(command="exit 3"), None, results)
    assert by_command["broken_invariants"] == {"`exit 3` exited 3": 1}

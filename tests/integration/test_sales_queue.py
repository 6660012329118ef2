"""SHOP_SALES_MODE=async on the real MariaDB: orders queue their daily sales, the consumer moves
them into the aggregate exactly once (killed mid-batch, two at once), its metrics, the audit."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable

import pytest
import requests
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from lab.audit.audit_run import audit
from shop import create_app
from shop.invariants import check_invariants
from shop.sales.consumer import consume
from shop.sales.metrics import ConsumerMetrics
from shop.sales.queue import drain, drain_batch, read_queue_state
from shop.schema import metadata
from shop.seed import seed_catalog
from stack.processes import free_port
from stack.settings import REPO
from tests.integration.test_shop_concurrency import fire, statuses

pytestmark = pytest.mark.integration

PRODUCTS = 5
USERS = 40


@pytest.fixture
def shop(mariadb, mysql_database, shop_settings):
    """Apps of both strategies in async sales mode on a database of their own."""
    settings = dataclasses.replace(
        shop_settings, database_url=mariadb.url(mysql_database), sales_mode="async"
    )
    apps = {
        s: create_app(dataclasses.replace(settings, order_strategy=s)) for s in ("safe", "naive")
    }
    engine = apps["safe"].extensions["shop"].engine
    metadata.create_all(engine)
    seed_catalog(engine, users=USERS, products=PRODUCTS)
    yield apps, engine, settings
    for app in apps.values():
        app.extensions["shop"].engine.dispose()
        app.extensions["shop"].redis.close()


def order(app, n: int, lines: int = 2) -> int:
    """Order n: `lines` products (of the few, so they are hot), quantities 1-3; lines placed."""
    items = [{"product_id": 1 + (n + i) % PRODUCTS, "quantity": 1 + (n + i) % 3}
             for i in range(lines)]  # fmt: skip
    response = app.test_client().post(
        "/api/orders", json={"user_id": 1 + n % USERS, "items": items}
    )
    assert response.status_code == 201, response.get_json()
    return lines


def scalar(engine: Engine, sql: str):
    with engine.connect() as conn:
        return conn.execute(text(sql)).scalar()


def sold_per_day_and_product(engine: Engine, table: str) -> dict:
    with engine.connect() as conn:
        return dict(Counter({(r[0], r[1]): int(r[2]) for r in conn.execute(text(
            f"SELECT day, product_id, SUM(quantity) FROM {table} GROUP BY day, product_id"
        ))}))  # fmt: skip


def items_per_product(engine: Engine) -> dict[int, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT product_id, SUM(quantity) FROM order_items GROUP BY product_id")
        )
        return {r[0]: int(r[1]) for r in rows}


def aggregate_per_product(engine: Engine) -> dict[int, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT product_id, SUM(quantity) FROM product_sales_daily GROUP BY product_id")
        )
        return {r[0]: int(r[1]) for r in rows}


def assert_books_balance(engine: Engine) -> None:
    with engine.connect() as conn:
        violations = check_invariants(conn)
    assert violations == dict.fromkeys(violations, 0), violations


def wait_for(check: Callable[[], bool], timeout: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(0.1)


@pytest.mark.parametrize("strategy", ["safe", "naive"])
def test_async_orders_queue_their_sales_and_the_consumer_makes_them_exact(shop, strategy):
    apps, engine, _ = shop
    lines = sum(order(apps[strategy], n, lines=1 + n % 3) for n in range(30))
    # The order path wrote no aggregate row: one queue row per line, dated today (UTC).
    assert scalar(engine, "SELECT COUNT(*) FROM product_sales_daily") == 0
    assert scalar(engine, "SELECT COUNT(*) FROM sales_queue") == lines
    assert scalar(engine, "SELECT COUNT(*) FROM sales_queue WHERE day <> UTC_DATE()") == 0
    queued = sold_per_day_and_product(engine, "sales_queue")

    result = drain(engine, size=7)

    assert (result.rows, result.caught_up) == (lines, True)
    assert result.batches == -(-lines // 7)
    assert result.quantity == sum(items_per_product(engine).values())
    assert scalar(engine, "SELECT COUNT(*) FROM sales_queue") == 0
    assert sold_per_day_and_product(engine, "product_sales_daily") == queued
    assert aggregate_per_product(engine) == items_per_product(engine)
    assert_books_balance(engine)


def test_a_line_counts_on_its_orders_day_not_the_drains(shop):
    apps, engine, _ = shop
    for n in range(4):
        order(apps["safe"], n, lines=1)
    # Two orders placed "yesterday" (UTC) and drained today: their day stays theirs.
    with engine.begin() as conn:
        conn.execute(text("UPDATE sales_queue SET day = UTC_DATE() - INTERVAL 1 DAY "
                          "ORDER BY id LIMIT 2"))  # fmt: skip
    queued = sold_per_day_and_product(engine, "sales_queue")
    assert len({day for day, _ in queued}) == 2
    drain(engine, size=100)
    assert sold_per_day_and_product(engine, "product_sales_daily") == queued


def test_a_consumer_killed_before_its_commit_loses_and_double_counts_nothing(shop, mariadb):
    apps, engine, _ = shop
    lines = sum(order(apps["safe"], n) for n in range(20))
    queued = sold_per_day_and_product(engine, "sales_queue")

    def die(conn, batch):
        # The batch is summed, upserted and deleted, not committed: the consumer's connection
        # dies now, as when its process is killed (the server rolls the transaction back).
        assert batch.rows == 25
        own_id = conn.execute(text("SELECT CONNECTION_ID()")).scalar()
        with mariadb.connect() as other, other.cursor() as cur:
            cur.execute(f"KILL CONNECTION {int(own_id)}")

    with pytest.raises(OperationalError):
        drain_batch(engine, 25, before_commit=die)

    assert scalar(engine, "SELECT COUNT(*) FROM sales_queue") == lines  # nothing lost
    assert scalar(engine, "SELECT COUNT(*) FROM product_sales_daily") == 0  # nothing counted
    assert drain(engine, size=25).rows == lines
    assert sold_per_day_and_product(engine, "product_sales_daily") == queued  # counted once
    assert_books_balance(engine)


def consumer_process(settings, port: int, *args: str, batch: int = 20) -> subprocess.Popen:
    env = {**os.environ, "SHOP_DATABASE_URL": settings.database_url,
           "SHOP_SALES_BATCH_SIZE": str(batch), "SHOP_SALES_POLL_SECONDS": "0.1"}  # fmt: skip
    return subprocess.Popen(
        [sys.executable, "-m", "shop.sales", "--listen", f"127.0.0.1:{port}", *args],
        env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_a_consumer_process_killed_while_draining_loses_and_double_counts_nothing(shop):
    _, engine, settings = shop
    # A queue long enough that the kill lands while batches are being drained.
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO sales_queue (day, product_id, quantity) VALUES "
                 "(UTC_DATE(), :p, :q)"),
            [{"p": 1 + n % PRODUCTS, "q": 1 + n % 3} for n in range(20_000)],
        )  # fmt: skip
    queued = sold_per_day_and_product(engine, "sales_queue")
    consumer = consumer_process(settings, free_port(), batch=50)
    try:
        wait_for(lambda: scalar(engine, "SELECT COUNT(*) FROM sales_queue") < 19_000,
                 what="the consumer to start draining")  # fmt: skip
        consumer.send_signal(signal.SIGKILL)
        consumer.wait(timeout=30)
    finally:
        if consumer.poll() is None:
            consumer.kill()
            consumer.wait(timeout=30)
    left = scalar(engine, "SELECT COUNT(*) FROM sales_queue")
    assert 0 < left < 20_000, "the kill should land while rows were left"
    # Whatever batch it was in rolled back: what the aggregate holds is exactly what left.
    drained_qty = sum(sold_per_day_and_product(engine, "product_sales_daily").values())
    assert drained_qty + scalar(engine, "SELECT SUM(quantity) FROM sales_queue") == sum(
        queued.values()
    )
    assert drain(engine, size=500).caught_up
    assert sold_per_day_and_product(engine, "product_sales_daily") == queued


def test_two_consumers_beside_concurrent_orders_count_every_line_once(shop):
    apps, engine, settings = shop
    stop = threading.Event()
    settings = dataclasses.replace(settings, sales_batch_size=5, sales_poll_seconds=0.05)
    registries = [ConsumerMetrics(CollectorRegistry(), lambda: None) for _ in range(2)]
    results = []
    consumers = [
        threading.Thread(target=lambda m=m: results.append(consume(engine, settings, m, stop)))
        for m in registries
    ]
    for thread in consumers:
        thread.start()
    try:
        # Hot products, many users: the orders keep appending while both consumers drain.
        placed = Counter(statuses(fire(apps["safe"], [
            ({"user_id": 1 + n % USERS,
              "items": [{"product_id": 1 + n % PRODUCTS, "quantity": 1},
                        {"product_id": 1 + (n + 1) % PRODUCTS, "quantity": 2}]}, {})
            for n in range(40)
        ])))  # fmt: skip
        assert placed == {201: 40}
        for n in range(40, 100):
            order(apps["safe"], n)
        wait_for(lambda: read_queue_state(engine).depth == 0, what="the queue to empty")
    finally:
        stop.set()
        for thread in consumers:
            thread.join(timeout=30)
    rows = [m.registry.get_sample_value("shop_sales_consumer_rows_total") for m in registries]
    assert sum(rows) == 100 * 2  # every line drained once, by one of them
    assert sum(r.rows for r in results) == 200
    assert aggregate_per_product(engine) == items_per_product(engine)
    assert_books_balance(engine)


def test_naive_keeps_its_deadlock_on_a_hot_user_in_async_mode(shop):
    apps, engine, _ = shop
    body = {"user_id": 3, "items": [{"product_id": 2, "quantity": 1}]}
    responses = fire(apps["naive"], [(body, {})] * 30)
    codes = Counter(r.get_json()["error"]["code"] for r in responses if r.status_code != 201)
    assert codes["deadlock"] > 0, codes
    # A rolled-back order queued nothing: one line per created order.
    created = statuses(responses)[201]
    assert scalar(engine, "SELECT COUNT(*) FROM sales_queue") == created
    drain(engine, size=100)
    assert_books_balance(engine)


def test_the_consumer_reports_depth_lag_and_drained_rows(shop):
    apps, engine, _ = shop
    lines = sum(order(apps["safe"], n) for n in range(5))
    with engine.begin() as conn:
        conn.execute(text("UPDATE sales_queue SET created_at = UTC_TIMESTAMP(6) - INTERVAL 90 "
                          "SECOND ORDER BY id LIMIT 1"))  # fmt: skip
    metrics = ConsumerMetrics(CollectorRegistry(), lambda: read_queue_state(engine))
    value = metrics.registry.get_sample_value
    assert value("shop_sales_queue_depth") == lines
    assert 90 <= value("shop_sales_queue_lag_seconds") < 90 + 120
    drain(engine, size=100)
    assert (value("shop_sales_queue_depth"), value("shop_sales_queue_lag_seconds")) == (0, 0)


def metric_values(url: str) -> dict[str, float]:
    families = text_string_to_metric_families(requests.get(url, timeout=5).text)
    return {s.name: s.value for f in families for s in f.samples if not s.labels}


def test_the_consumer_cli_drains_and_serves_its_metrics(shop):
    apps, engine, settings = shop
    lines = sum(order(apps["safe"], n) for n in range(10))
    port = free_port()
    consumer = consumer_process(settings, port)
    url = f"http://127.0.0.1:{port}/metrics"
    try:

        def drained() -> bool:
            try:
                values = metric_values(url)
            except requests.ConnectionError:
                return False
            return values.get("shop_sales_consumer_rows_total") == lines

        wait_for(drained, what="the consumer to drain and say so")
        values = metric_values(url)
        assert (values["shop_sales_queue_depth"], values["shop_sales_queue_lag_seconds"]) == (0, 0)
        assert values["shop_sales_consumer_batches_total"] >= 1
        consumer.send_signal(signal.SIGTERM)
        out, err = consumer.communicate(timeout=30)
    finally:
        if consumer.poll() is None:
            consumer.kill()
            consumer.communicate(timeout=30)
    assert consumer.returncode == 0, err
    assert f"stopped after {lines} rows" in out
    assert aggregate_per_product(engine) == items_per_product(engine)


@pytest.mark.parametrize(
    "command", [[sys.executable, "-m", "shop.sales", "--once"],
                [sys.executable, "-m", "flask", "--app", "shop", "init-db"]]
)  # fmt: skip
def test_a_bad_sales_mode_is_one_readable_line(shop, command):
    _, _, settings = shop
    env = {**os.environ, "SHOP_DATABASE_URL": settings.database_url, "SHOP_SALES_MODE": "later"}
    result = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .endswith("SHOP_SALES_MODE='later' is not one of sync, async")
    ), result.stderr


def test_the_audit_waits_for_the_queue_then_checks_the_books(shop):
    apps, engine, settings = shop
    for n in range(6):
        order(apps["safe"], n)
    # No consumer: the audit waits its bound, says so, and the daily sales book fails.
    stuck = audit(settings.database_url, None, queue_timeout=1)
    assert not stuck.passed
    assert stuck.queue.left == 12
    assert "daily sales aggregate = order item quantities, per product" in stuck.broken
    assert stuck.lines()[0].startswith("sales queue: 12 lines still waiting after")
    # A consumer that starts while the audit waits: the books balance once it caught up.
    stop = threading.Event()
    later = threading.Timer(1.0, lambda: consume(
        engine, settings, ConsumerMetrics(CollectorRegistry(), lambda: None), stop))  # fmt: skip
    later.start()
    try:
        caught_up = audit(settings.database_url, None, queue_timeout=60)
    finally:
        stop.set()
        later.join(timeout=30)
    assert caught_up.passed, caught_up.lines()
    assert caught_up.queue.left == 0 and caught_up.queue.waited_s >= 0.5
    assert caught_up.lines()[0].startswith("sales queue: empty after")


def test_a_consumer_started_before_the_schema_waits_for_it_without_errors(
    mariadb, mysql_database, shop_settings
):
    # The native stack starts its processes, then creates the schema and seeds.
    settings = dataclasses.replace(
        shop_settings, database_url=mariadb.url(mysql_database), sales_mode="async",
        sales_poll_seconds=0.05,
    )  # fmt: skip
    app = create_app(settings)
    engine = app.extensions["shop"].engine
    metrics = ConsumerMetrics(CollectorRegistry(), lambda: read_queue_state(engine))
    assert metrics.registry.get_sample_value("shop_sales_queue_depth") is None  # no table yet
    stop = threading.Event()
    results = []
    consumer = threading.Thread(
        target=lambda: results.append(consume(engine, settings, metrics, stop))
    )
    consumer.start()
    try:
        time.sleep(0.3)  # not a synchronisation: a few of its polls land before the schema
        metadata.create_all(engine)
        seed_catalog(engine, users=USERS, products=PRODUCTS)
        lines = sum(order(app, n) for n in range(5))
        wait_for(
            lambda: metrics.registry.get_sample_value("shop_sales_consumer_rows_total") == lines,
            what="the consumer to drain once the schema exists",
        )
    finally:
        stop.set()
        consumer.join(timeout=30)
        engine.dispose()
        app.extensions["shop"].redis.close()
    assert results[0].errors == 0
    assert (
        metrics.registry.get_sample_value(
            "shop_sales_consumer_errors_total", {"step": "drain", "kind": "other"}
        )
        == 0
    )
    assert aggregate_per_product(engine) == items_per_product(engine)

"""What only the Spring shop has to prove: it starts or refuses as the Flask shop does, exports the
Flask shop's domain series at 0 from its start, and its naive strategy deadlocks InnoDB on the
statement of the seed's story. The contract itself is held in test_shop_api, test_shop_concurrency
and test_contract_fuzz, against both shops."""

from __future__ import annotations

import os
import subprocess
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from exporters.innodb.fingerprint import fingerprint
from exporters.innodb.parser import parse_status
from shop import create_app
from stack.processes import free_port
from stack.services import SPRING_SHOP_JAR
from tests.integration.conftest import assert_invariants, start_spring_shop

pytestmark = pytest.mark.integration

THE_STATEMENT = "update users set deleted_at=?,is_deleted=?,point=?,username=? where id=?"
DOMAIN = ("shop_orders", "shop_order_duration_seconds", "shop_db_errors", "shop_db_retries",
          "shop_cache_requests")  # fmt: skip


def families(text_: str) -> dict:
    return {f.name: f for f in text_string_to_metric_families(text_)}


@pytest.fixture(scope="module")
def fresh_spring(harness_root, mariadb, spring_engine):
    """A Spring shop no request has reached, its Redis a port nobody listens on."""
    shop = start_spring_shop(
        harness_root / "spring-fresh",
        mariadb.url("shop_spring"),
        f"redis://127.0.0.1:{free_port()}/0",
        ready_path="/healthz",
    )
    yield shop
    shop.stop()


@pytest.mark.parametrize(
    ("env", "says"),
    [({"SHOP_ORDER_STRATEGY": "fast"}, "SHOP_ORDER_STRATEGY='fast' is not one of safe, naive"),
     ({"SHOP_DATABASE_URL": "jdbc:mariadb://db/shop"}, "SHOP_DATABASE_URL must start with"),
     ({"SHOP_LOCK_WAIT_TIMEOUT": "0"}, "SHOP_LOCK_WAIT_TIMEOUT=0 is out of range"),
     ({"SHOP_SALES_MODE": "async"}, "SHOP_SALES_MODE='async'")],
)  # fmt: skip
def test_a_bad_setting_stops_the_start_with_one_line_naming_it(env, says):
    environ = {**os.environ, "SHOP_DATABASE_URL": "mysql+pymysql://u@127.0.0.1:1/d", **env}
    done = subprocess.run(["java", "-jar", str(SPRING_SHOP_JAR)], env=environ,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()  # one line, no stack trace
    assert line.startswith("spring-shop: configuration error: ") and says in line, line


def test_domain_series_are_the_flask_shops_and_exist_at_zero_from_the_start(
    fresh_spring, shop_settings
):
    spring = families(requests.get(f"{fresh_spring.url}/actuator/prometheus", timeout=10).text)
    flask_app = create_app(shop_settings)
    try:
        flask = families(flask_app.test_client().get("/metrics").get_data(as_text=True))
    finally:
        flask_app.extensions["shop"].engine.dispose()
    for name in DOMAIN:
        assert name in spring, f"{name} missing from the Spring shop's /actuator/prometheus"
        assert spring[name].type == flask[name].type, name
        spring_labels = {frozenset(s.labels) - {"le"} for s in spring[name].samples}
        assert spring_labels, name
        flask_labels = {frozenset(s.labels) - {"le"} for s in flask[name].samples}
        assert not flask_labels or spring_labels == flask_labels, name
        # Nothing has happened yet: every series is there, at 0.
        assert all(s.value == 0 for s in spring[name].samples if not s.name.endswith("_max"))
    # The Flask shop's latency buckets, so one le="0.2" answers for both shops.
    buckets = {s.labels["le"] for s in spring["shop_order_duration_seconds"].samples
               if s.name.endswith("_bucket")}  # fmt: skip
    assert {"0.05", "0.2", "+Inf"} <= buckets
    request_buckets = {s.labels["le"] for s in spring["http_server_requests_seconds"].samples
                       if s.name.endswith("_bucket")}  # fmt: skip
    assert {"0.05", "0.2"} <= request_buckets  # the histogram is on, with the SLO lines
    for name in ("hikaricp_connections_active", "jvm_memory_used_bytes", "process_cpu_usage"):
        assert name in spring, name


def test_popular_list_is_served_from_the_database_while_redis_is_down(fresh_spring):
    before = fresh_spring.sample(
        "shop_cache_requests_total", {"cache": "popular", "result": "error"}
    )
    response = requests.get(f"{fresh_spring.url}/api/products/popular?days=2&limit=3", timeout=10)
    assert response.status_code == 200 and isinstance(response.json(), list)
    after = fresh_spring.sample(
        "shop_cache_requests_total", {"cache": "popular", "result": "error"}
    )
    assert after == before + 1
    ready = requests.get(f"{fresh_spring.url}/readyz", timeout=10)
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"] == "ok"
    assert ready.json()["checks"]["redis"].startswith("error: ")


def test_naive_deadlock_is_the_seeds_statement_on_users(spring_naive_app, spring_engine, mariadb):
    with spring_engine.begin() as conn:
        user_id = conn.execute(
            text("INSERT INTO users (username, point) VALUES ('hot-user', 1000000)")
        ).lastrowid
        conn.execute(text("INSERT INTO point_history (user_id, kind, amount) "
                          "VALUES (:u, 'seed', 1000000)"), {"u": user_id})  # fmt: skip
        # One user, a product of its own per order: the only row they share is the user's (two
        # orders of one product may deadlock on its row too, and be the latest deadlock).
        products = [
            conn.execute(text("INSERT INTO products (name, price, stock, initial_stock) "
                              "VALUES (:n, 100, 10, 10)"), {"n": f"deadlock-{n}"}).lastrowid
            for n in range(16)
        ]  # fmt: skip
    barrier = threading.Barrier(16)

    def post(n):
        body = {"user_id": user_id, "items": [{"product_id": products[n], "quantity": 1}]}
        barrier.wait()
        return requests.post(f"{spring_naive_app.url}/api/orders", json=body, timeout=60)

    with ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(post, range(16)))
    codes = Counter(r.json().get("error", {}).get("code", "created") for r in responses)
    assert codes["deadlock"] > 0, codes
    assert all(r.headers.get("Retry-After") == "1" for r in responses if r.status_code == 503)
    with mariadb.connect() as conn, conn.cursor() as cur:
        cur.execute("SHOW ENGINE INNODB STATUS")
        status = cur.fetchone()[2]
    [deadlock] = parse_status(status).deadlocks
    for trx in deadlock.transactions:
        assert fingerprint(trx.query) == THE_STATEMENT, trx.query
        assert trx.query.startswith("/* update for shoplab.shop.domain.User */")
        assert (trx.waiting.schema, trx.waiting.table) == ("shop_spring", "users")
    assert_invariants(spring_engine)

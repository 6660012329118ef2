"""The shop when a dependency fails: a lock wait is one fast 503, a server that never answers
costs a bounded wait, a dead Redis costs the database one query per key, not one per request."""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import text

from shop import create_app
from stack.processes import free_port
from tests.integration.conftest import assert_invariants, db_state, sample

pytestmark = pytest.mark.integration
POPULAR = "/api/products/popular?days=3&limit=5"


def test_a_lock_wait_timeout_is_one_503_not_retried(shop_settings, make_user, make_product):
    lock_wait = 1
    app = create_app(dataclasses.replace(shop_settings, lock_wait_timeout=lock_wait))
    engine = app.extensions["shop"].engine
    try:
        user_id, product_id = make_user(points=10_000), make_product(price=10)
        body = {"user_id": user_id, "items": [{"product_id": product_id, "quantity": 1}]}
        retries = sample(app, "shop_db_retries_total", {"operation": "place_order"})
        before = db_state(engine)
        with engine.connect() as holder:
            holder.execute(text("SELECT id FROM users WHERE id = :id FOR UPDATE"),
                           {"id": user_id})  # fmt: skip
            waits = row_lock_waits(engine)
            started = time.monotonic()
            response = app.test_client().post("/api/orders", json=body)
            took = time.monotonic() - started
            waited = row_lock_waits(engine) - waits
            holder.rollback()
        assert response.status_code == 503
        assert response.get_json()["error"]["code"] == "lock_wait_timeout"
        assert response.headers["Retry-After"] == "1"
        # One wait of innodb_lock_wait_timeout, never one per retry (6 with the default 5): the
        # server counted one row lock wait, and it lasted the timeout (a busy machine only
        # lengthens it).
        assert waited == 1, waited
        assert took >= lock_wait * 0.9, took
        assert sample(app, "shop_db_retries_total", {"operation": "place_order"}) == retries
        assert db_state(engine) == before
        assert app.test_client().post("/api/orders", json=body).status_code == 201
        assert_invariants(engine)
    finally:
        engine.dispose()


def row_lock_waits(engine) -> int:
    """The server's count of row lock waits so far (the suite's tests run one at a time)."""
    with engine.connect() as conn:
        return int(conn.execute(text("SHOW GLOBAL STATUS LIKE 'Innodb_row_lock_waits'")).one()[1])


@pytest.fixture
def mute_server():
    """A TCP listener that accepts connections and never says a word (a frozen server's
    kernel still completes the handshake for it)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(64)
        yield server.getsockname()[1]


def test_a_database_that_never_answers_is_a_503_within_the_shop_timeout(shop_settings, mute_server):
    url = f"mysql+pymysql://root@127.0.0.1:{mute_server}/shop_it"
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"  # the popular list goes to the database
    # A greeting never comes: each request waits the read timeout (lock wait + 2 s), kept short.
    settings = dataclasses.replace(shop_settings, database_url=url, redis_url=dead_redis,
                                   db_connect_timeout=0.5, lock_wait_timeout=1)  # fmt: skip
    down = create_app(settings)
    try:
        client = down.test_client()
        for path in ("/api/products/1", "/api/products/popular"):
            started = time.monotonic()
            response = client.get(path)
            took = time.monotonic() - started
            assert response.status_code == 503, path
            assert response.get_json()["error"]["code"] == "database_unavailable"
            # The shop's own contract: an answer within its request timeout (34.5 s here, for a
            # 3 s read timeout: a bound no machine's load reaches).
            assert took < settings.request_timeout, (path, took)
        assert settings.request_timeout == (
            settings.db_pool_timeout + 0.5 + settings.lock_wait_timeout + 2 + 1
        )
    finally:
        down.extensions["shop"].engine.dispose()


def test_a_dead_redis_costs_the_database_one_query_per_key(shop_settings):
    """20 threads ask for a key nobody has while Redis is gone: one computes, the others wait
    for it; then the process's copy answers until it is stale."""
    dead = f"redis://127.0.0.1:{free_port()}/0"
    app = create_app(dataclasses.replace(shop_settings, redis_url=dead, popular_cache_ttl=30))
    cache = app.extensions["shop"].popular_cache
    calls = []
    lock = threading.Lock()

    def compute():
        with lock:
            calls.append(time.monotonic())
        time.sleep(0.3)  # a slow query: every other thread arrives while it runs
        return ["computed once"]

    barrier = threading.Barrier(20)

    def get(_):
        barrier.wait()
        return cache.get("chaos:key", compute)

    try:
        with ThreadPoolExecutor(max_workers=20) as pool:
            values = list(pool.map(get, range(20)))
        assert values == [["computed once"]] * 20
        assert len(calls) == 1
        assert [cache.get("chaos:key", compute) for _ in range(5)] == [["computed once"]] * 5
        assert len(calls) == 1
        assert sample(app, "shop_cache_requests_total",
                      {"cache": "popular", "result": "error"}) == 25  # fmt: skip
    finally:
        app.extensions["shop"].engine.dispose()


def test_the_copy_from_redis_is_served_when_redis_goes_away(app, shop_settings):
    """A value read from Redis is kept: when Redis dies, the popular list keeps its answer
    without asking the database, until that answer would have gone stale in Redis too."""
    cache = app.extensions["shop"].popular_cache
    client = app.test_client()
    assert client.get(POPULAR).status_code == 200  # computed and stored in Redis
    expected = client.get(POPULAR).get_json()  # a hit: the copy is refreshed from Redis
    shared = cache.client
    dead = f"redis://127.0.0.1:{free_port()}/0"
    cache.client = type(shared).from_url(dead, socket_timeout=0.25, socket_connect_timeout=0.25)
    try:
        computed = []
        key = "shop:popular:v1:3:5"
        assert cache.get(key, lambda: computed.append(1)) == expected
        assert computed == []
    finally:
        cache.client.close()
        cache.client = shared
        cache._open_until = 0.0

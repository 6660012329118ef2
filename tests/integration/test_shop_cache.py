"""The popular list's Redis cache: hits, one refresh per expiry under load, Redis down."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis as redis_lib

from shop import create_app
from stack.processes import free_port
from tests.integration.conftest import sample

pytestmark = pytest.mark.integration
POPULAR = "/api/products/popular?days=3&limit=5"
KEY = "shop:popular:v1:3:5"


@pytest.fixture
def shop_redis(shop_settings):
    client = redis_lib.Redis.from_url(shop_settings.redis_url)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def cache_counts(app) -> dict[str, float]:
    return {
        result: sample(app, "shop_cache_requests_total", {"cache": "popular", "result": result})
        for result in ("hit", "miss", "error")
    }


def delta(after: dict, before: dict) -> dict:
    return {k: after[k] - before[k] for k in after}


def concurrent_gets(app, n: int) -> list:
    barrier = threading.Barrier(n)

    def get(_):
        client = app.test_client()
        barrier.wait()
        return client.get(POPULAR)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(get, range(n)))


def test_second_request_is_a_hit(app, client, shop_redis):
    before = cache_counts(app)
    first = client.get(POPULAR)
    second = client.get(POPULAR)
    assert first.status_code == second.status_code == 200
    assert first.get_json() == second.get_json()
    assert delta(cache_counts(app), before) == {"hit": 1, "miss": 1, "error": 0}
    assert shop_redis.pttl(KEY) > 0


def test_cold_key_under_load_is_computed_once(app, shop_redis):
    before = cache_counts(app)
    responses = concurrent_gets(app, 20)
    assert {r.status_code for r in responses} == {200}
    assert len({json.dumps(r.get_json()) for r in responses}) == 1
    assert delta(cache_counts(app), before) == {"hit": 19, "miss": 1, "error": 0}


def test_expired_key_under_load_is_refreshed_once_while_stale_is_served(app, client, shop_redis):
    client.get(POPULAR)
    entry = json.loads(shop_redis.get(KEY))
    entry["fresh_until"] = time.time() - 1
    shop_redis.set(KEY, json.dumps(entry), px=60_000)
    before = cache_counts(app)
    responses = concurrent_gets(app, 20)
    assert {r.status_code for r in responses} == {200}
    assert delta(cache_counts(app), before) == {"hit": 19, "miss": 1, "error": 0}
    assert json.loads(shop_redis.get(KEY))["fresh_until"] > time.time()


def test_redis_down_serves_from_the_database_and_counts_it(app, shop_settings):
    down = create_app(
        dataclasses.replace(shop_settings, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    )
    try:
        client = down.test_client()
        expected = app.test_client().get(POPULAR).get_json()
        responses = [client.get(POPULAR) for _ in range(3)]
        assert {r.status_code for r in responses} == {200}
        assert responses[0].get_json() == expected
        assert cache_counts(down) == {"hit": 0, "miss": 0, "error": 3}
    finally:
        down.extensions["shop"].engine.dispose()


def test_the_copy_served_while_redis_is_down_is_bounded(shop_settings):
    down = create_app(
        dataclasses.replace(shop_settings, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    )
    try:
        cache = down.extensions["shop"].popular_cache
        client = down.test_client()
        for limit in range(1, 101):
            for days in (1, 2, 3):
                assert (
                    client.get(f"/api/products/popular?days={days}&limit={limit}").status_code
                    == 200
                )
        assert len(cache.copy) == cache.copy.max_entries < 300
    finally:
        down.extensions["shop"].engine.dispose()


def test_redis_down_leaves_the_shop_ready_degraded_and_says_so_in_a_metric(app, shop_settings):
    """Readiness follows what the shop needs to answer, the database: a cache outage must not
    take every replica out of a load balancer (k8s readiness probes /readyz)."""
    down = create_app(
        dataclasses.replace(shop_settings, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    )
    try:
        client = down.test_client()
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.get_json()["status"] == "degraded"
        assert ready.get_json()["checks"]["redis"].startswith("error")
        assert ready.get_json()["checks"]["database"] == "ok"
        cache_up = down.extensions["shop"].metrics.registry.get_sample_value("shop_cache_up")
        assert cache_up == 0  # not None: the series is there, saying the cache is down
        assert client.get(POPULAR).status_code == 200
    finally:
        down.extensions["shop"].engine.dispose()
    assert app.test_client().get("/readyz").get_json()["status"] == "ready"
    assert app.extensions["shop"].metrics.registry.get_sample_value("shop_cache_up") == 1


def test_database_down_is_503_with_json(shop_settings):
    url = f"mysql+pymysql://root@127.0.0.1:{free_port()}/shop_it"
    down = create_app(dataclasses.replace(shop_settings, database_url=url))
    client = down.test_client()
    for response in (
        client.get("/api/products/1"),
        client.post(
            "/api/orders", json={"user_id": 1, "items": [{"product_id": 1, "quantity": 1}]}
        ),
    ):
        assert response.status_code == 503
        assert response.get_json()["error"]["code"] == "database_unavailable"
        assert response.headers["Retry-After"] == "1"
    assert client.get("/readyz").status_code == 503
    assert (
        sample(down, "shop_db_errors_total", {"operation": "get_product", "kind": "disconnect"})
        == 1
    )


@pytest.fixture
def local_app(shop_settings):
    app = create_app(dataclasses.replace(shop_settings, popular_local_ttl=30))
    yield app
    app.extensions["shop"].engine.dispose()
    app.extensions["shop"].redis.close()


def local_counts(app) -> dict[str, float]:
    return {
        result: sample(app, "shop_cache_requests_total", {"cache": "popular_local", "result": r})
        for result, r in (("hit", "hit"), ("miss", "miss"))
    }


def test_local_tier_serves_the_redis_tiers_bytes_without_asking_redis(app, local_app, shop_redis):
    plain = app.test_client().get(POPULAR)
    client = local_app.test_client()
    before, redis_before = local_counts(local_app), cache_counts(local_app)
    responses = [client.get(POPULAR) for _ in range(5)]
    assert {r.status_code for r in responses} == {200}
    assert {r.data for r in responses} == {plain.data}  # the very bytes jsonify writes
    assert {r.content_type for r in responses} == {plain.content_type}
    assert delta(local_counts(local_app), before) == {"hit": 4, "miss": 1}
    # Only the one local miss reached Redis (a hit there: `app` had just filled it).
    assert delta(cache_counts(local_app), redis_before) == {"hit": 1, "miss": 0, "error": 0}


def test_local_tier_cold_key_under_load_asks_redis_once(local_app, shop_redis):
    local_app.extensions["shop"].popular_local.clear()
    before, redis_before = local_counts(local_app), cache_counts(local_app)
    responses = concurrent_gets(local_app, 20)
    assert {r.status_code for r in responses} == {200}
    assert len({r.data for r in responses}) == 1
    assert delta(local_counts(local_app), before) == {"hit": 19, "miss": 1}
    assert sum(delta(cache_counts(local_app), redis_before).values()) == 1


def test_local_tier_keeps_serving_while_redis_is_down(shop_settings):
    down = create_app(
        dataclasses.replace(
            shop_settings,
            redis_url=f"redis://127.0.0.1:{free_port()}/0",
            popular_local_ttl=30,
        )
    )
    try:
        client = down.test_client()
        responses = [client.get(POPULAR) for _ in range(3)]
        assert {r.status_code for r in responses} == {200}
        # One trip to the database (a Redis error), then the worker's own copy.
        assert cache_counts(down) == {"hit": 0, "miss": 0, "error": 1}
        assert local_counts(down) == {"hit": 2, "miss": 1}
    finally:
        down.extensions["shop"].engine.dispose()


def http_counts(app, url_rule: str = "/api/products/popular") -> dict[str, float]:
    """The exporter's request series for GETs of `url_rule`, by status."""
    counts = {
        status: sample(app, "flask_http_request_duration_seconds_count",
                       {"method": "GET", "url_rule": url_rule, "status": status})
        for status in ("200", "400")
    }  # fmt: skip
    total = sample(app, "flask_http_request_total", {"method": "GET", "status": "200"})
    return {**counts, "total": total}


def test_fast_path_answers_as_flask_does_and_counts_alike(local_app, shop_redis):
    fast = local_app.extensions["shop"].popular_fast
    assert fast is not None and local_app.wsgi_app is fast
    client = local_app.test_client()
    first = client.get(POPULAR)  # Flask: validates the query, fills the worker's bytes
    before, http_before = local_counts(local_app), http_counts(local_app)
    seen = []
    original = fast.wsgi_app
    fast.wsgi_app = lambda environ, start: (
        seen.append(environ["QUERY_STRING"]) or original(environ, start)
    )
    try:
        responses = [client.get(POPULAR) for _ in range(5)]
    finally:
        fast.wsgi_app = original
    assert seen == []  # none of the five reached Flask
    for r in responses:
        assert (r.status_code, r.data) == (200, first.data)
        assert dict(r.headers) == dict(first.headers)
    assert delta(local_counts(local_app), before) == {"hit": 5, "miss": 0}
    assert delta(http_counts(local_app), http_before) == {"200": 5, "400": 0, "total": 5}


def test_fast_path_takes_only_query_strings_flask_accepted(local_app, shop_redis):
    client = local_app.test_client()
    before = http_counts(local_app)
    for _ in range(3):
        response = client.get("/api/products/popular?days=3&limit=5&days=4")
        assert response.status_code == 400
        assert response.get_json()["error"]["field"] == "days"
    assert client.get("/api/products/popular?days=3&limit=5").status_code == 200
    # Another spelling of the same key is learnt on its own, through Flask, once.
    fast = local_app.extensions["shop"].popular_fast
    assert client.get("/api/products/popular?limit=5&days=3").status_code == 200
    assert fast._keys["limit=5&days=3"] == fast._keys["days=3&limit=5"] == (3, 5)
    assert delta(http_counts(local_app), before) == {"200": 2, "400": 3, "total": 2}
    assert client.post("/api/products/popular").status_code == 405


def test_fast_path_learns_a_bounded_number_of_query_strings(local_app, shop_redis):
    fast = local_app.extensions["shop"].popular_fast
    client = local_app.test_client()
    for i in range(fast.max_queries + 20):
        assert client.get(f"/api/products/popular?days=3&limit=5&x={i}").status_code == 200
    assert len(fast._keys) == fast.max_queries


def test_no_fast_path_when_the_shop_is_slowed_on_purpose_or_the_local_tier_is_off(shop_settings):
    for settings in (
        dataclasses.replace(shop_settings, popular_local_ttl=30, debug_delay_ms=1),
        dataclasses.replace(shop_settings, popular_local_ttl=0),
    ):
        app = create_app(settings)
        try:
            assert app.extensions["shop"].popular_fast is None
            assert app.wsgi_app.__self__ is app  # Flask's own
        finally:
            app.extensions["shop"].engine.dispose()

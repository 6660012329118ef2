"""The shop under gunicorn with several workers: metrics summed over workers, clean shutdown."""

from __future__ import annotations

import re

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from shop.schema import metadata
from shop.seed import seed_catalog
from tests.harness.servers import ShopServer

pytestmark = pytest.mark.integration


def scrape(url: str) -> dict[tuple, float]:
    text = requests.get(f"{url}/metrics", timeout=5).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.fixture
def shop_under_gunicorn(harness_root, mariadb, redis_server, mysql_database):
    from sqlalchemy import create_engine

    engine = create_engine(mariadb.url(mysql_database))
    metadata.create_all(engine)
    seed_catalog(engine, users=10, products=5)
    engine.dispose()
    server = ShopServer(
        harness_root / f"gunicorn-{mysql_database}",
        env={
            "SHOP_DATABASE_URL": mariadb.url(mysql_database),
            "SHOP_REDIS_URL": redis_server.url(3),
        },
        workers=4,
        threads=2,
    ).start()
    yield server
    server.stop()  # raises unless gunicorn drained and exited 0


def test_metrics_sum_over_four_workers(shop_under_gunicorn):
    url = shop_under_gunicorn.url
    n = 200
    for _ in range(n):
        # A new connection per request, so the workers share the load.
        response = requests.get(f"{url}/api/products/1", headers={"Connection": "close"}, timeout=5)
        assert response.status_code == 200
    samples = scrape(url)
    key = (
        "flask_http_request_duration_seconds_count",
        (("method", "GET"), ("status", "200"), ("url_rule", "/api/products/<int:product_id>")),
    )
    assert samples[key] == n
    total = sum(v for (name, labels), v in samples.items()
                if name == "flask_http_request_total" and ("status", "200") in labels)  # fmt: skip
    assert total >= n
    # Every worker has written its own file: the sum really spans processes.
    files = list((shop_under_gunicorn.base_dir / "metrics").glob("counter_*.db"))
    assert len(files) >= 2, files
    assert all(re.match(r"counter_\d+\.db", f.name) for f in files)


def test_orders_counted_across_workers(shop_under_gunicorn):
    url = shop_under_gunicorn.url
    for user_id in range(1, 11):
        for _ in range(3):
            response = requests.post(
                f"{url}/api/orders",
                json={"user_id": user_id, "items": [{"product_id": 2, "quantity": 1}]},
                headers={"Connection": "close"},
                timeout=10,
            )
            assert response.status_code == 201
    samples = scrape(url)
    assert samples[("shop_orders_total", (("result", "created"), ("strategy", "safe")))] == 30
    assert samples[("shop_order_duration_seconds_count", (("strategy", "safe"),))] == 30
    pool = {
        labels: v for (name, labels), v in samples.items() if name == "shop_db_pool_connections"
    }
    # Each worker's pool holds threads (2) + overflow (2): four live workers sum to 16.
    assert pool[(("state", "capacity"),)] == 4 * (2 + 2)
    assert pool[(("state", "in_use"),)] <= pool[(("state", "capacity"),)]

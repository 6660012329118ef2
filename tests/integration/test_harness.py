"""The harness's servers are real: each answers its own protocol on a free loopback port."""

from __future__ import annotations

import time

import pytest
import requests
from prometheus_client import CollectorRegistry, Counter, start_http_server

from stack.processes import DEFAULT_PORTS, free_port

pytestmark = pytest.mark.integration


def test_mariadb_answers_sql_with_deadlock_logging_on(mariadb, mysql_database):
    assert mariadb.port not in DEFAULT_PORTS
    with mariadb.connect(mysql_database) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, v INT) ENGINE=InnoDB")
        cur.execute("INSERT INTO t VALUES (1, 41)")
        cur.execute("UPDATE t SET v = v + 1 WHERE id = 1")
        cur.execute("SELECT v FROM t WHERE id = 1")
        assert cur.fetchone() == (42,)
        cur.execute("SELECT @@innodb_print_all_deadlocks, @@version, @@port")
        print_all, version, port = cur.fetchone()
    assert print_all == 1
    assert "MariaDB" in version
    assert port == mariadb.port


def test_mariadb_error_log_is_the_servers(mariadb):
    with mariadb.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT @@log_error")
        (log_error,) = cur.fetchone()
    assert log_error == str(mariadb.error_log)
    assert "ready for connections" in mariadb.error_log.read_text()


def test_redis_set_get(redis_server, redis_client):
    assert redis_server.port not in DEFAULT_PORTS
    redis_client.set("shoplab:probe", "42", ex=60)
    assert redis_client.get("shoplab:probe") == b"42"
    assert redis_client.config_get("port")["port"] == str(redis_server.port)


def _query(prometheus, expr: str) -> list[dict]:
    response = requests.get(f"{prometheus.url}/api/v1/query", params={"query": expr}, timeout=5)
    response.raise_for_status()
    return response.json()["data"]["result"]


@pytest.fixture
def metrics_target():
    """A real /metrics endpoint (prometheus_client's own server) on a free loopback port."""
    registry = CollectorRegistry()
    Counter("harness_probe", "A counter the smoke test scrapes.", registry=registry).inc(7)
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    yield f"127.0.0.1:{port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_prometheus_ready_and_scraping_a_target(make_prometheus, metrics_target):
    prometheus = make_prometheus(
        {
            "global": {"scrape_interval": "1s"},
            "scrape_configs": [
                {"job_name": "probe", "static_configs": [{"targets": [metrics_target]}]}
            ],
        }
    )
    assert prometheus.port not in DEFAULT_PORTS
    assert requests.get(f"{prometheus.url}/-/ready", timeout=5).status_code == 200
    result: list[dict] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        result = _query(prometheus, 'harness_probe_total{job="probe"}')
        if result:
            break
        time.sleep(0.5)
    assert result, "Prometheus never scraped the target"
    assert float(result[0]["value"][1]) == 7.0
    assert _query(prometheus, 'up{job="probe"}')[0]["value"][1] == "1"
    flags = requests.get(f"{prometheus.url}/api/v1/status/flags", timeout=5).json()["data"]
    assert flags["web.enable-remote-write-receiver"] == "true"

"""The shop under its server (shop.serve, granian) however it is started: metrics exact and
summed over workers, the popular list's fast path counted as the rest, a dead worker forgotten.

The server starts the way the README shows (PROMETHEUS_MULTIPROC_DIR unset) and the way the
native stack and the Dockerfile do (preset), with one worker and with four.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text

from shop.schema import metadata
from shop.seed import seed_catalog
from shop.settings import STRATEGIES
from stack.ephemeral import ShopServer
from stack.settings import REPO
from tests.integration.conftest import wait_for_blocked_queries

pytestmark = pytest.mark.integration

HOW = pytest.mark.parametrize(
    "workers,metrics_dir",
    [(1, False), (4, False), (4, True)],
    ids=["w1-unset", "w4-unset", "w4-preset"],
)


def scrape(url: str) -> dict[tuple, float]:
    text_ = requests.get(f"{url}/metrics", timeout=5).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text_)
        for s in family.samples
    }


def exported_names(url: str) -> set[str]:
    """Metric family names (a histogram's base name) and sample names on /metrics."""
    families = list(text_string_to_metric_families(requests.get(f"{url}/metrics", timeout=5).text))
    return {f.name for f in families} | {s.name for f in families for s in f.samples}


def shop_owned_metrics() -> set[str]:
    """The metric names of docs/metrics.md's shop section."""
    doc = (REPO / "docs" / "metrics.md").read_text()
    section = doc.split("<!-- section: shop")[1].split("<!-- end section: shop -->")[0]
    names = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            names.update(re.findall(r"`([a-z_:]+)`", line.split("|")[1]))
    return names


@pytest.fixture
def database(mariadb, mysql_database):
    engine = create_engine(mariadb.url(mysql_database))
    metadata.create_all(engine)
    seed_catalog(engine, users=10, products=5)
    yield engine
    engine.dispose()


@pytest.fixture
def start_shop(harness_root, mariadb, redis_server, mysql_database, database):
    started = []

    def start(workers: int, metrics_dir: bool, strategy: str = "safe", **env) -> ShopServer:
        server = ShopServer(
            harness_root / f"server-{mysql_database}-{len(started)}",
            env={
                "SHOP_DATABASE_URL": mariadb.url(mysql_database),
                "SHOP_REDIS_URL": redis_server.url(3),
                "SHOP_ORDER_STRATEGY": strategy,
                **env,
            },
            workers=workers,
            # Every parked order has a thread, whichever worker took it (the server's workers
            # accept connections as they come, not one per worker).
            threads=4,
            metrics_dir=metrics_dir,
        ).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()  # raises unless the server drained and exited 0


def workers_that_served(shop: ShopServer) -> set[int]:
    """The workers with a request counted in their own file of the metrics folder."""
    import psutil
    from prometheus_client.multiprocess import MultiProcessCollector

    served = set()
    for pid in shop.worker_pids():
        # Each worker keeps its own sample files open (wherever the server put the folder).
        files = [f.path for f in psutil.Process(pid).open_files()
                 if Path(f.path).name == f"counter_{pid}.db"]  # fmt: skip
        for metric in MultiProcessCollector._read_metrics(files).values():
            if any(s.name == "flask_http_request_total" and s.value for s in metric.samples):
                served.add(pid)
    return served


def order(url: str, user_id: int, product_id: int = 2) -> requests.Response:
    return requests.post(
        f"{url}/api/orders",
        json={"user_id": user_id, "items": [{"product_id": product_id, "quantity": 1}]},
        headers={"Connection": "close"},
        timeout=30,
    )


def hold_user_then_release(database, workers: int, send) -> list[requests.Response]:
    """`send()` from `workers` threads while a transaction holds user 1's row: every request
    blocks inside the server (a thread and a connection each); then the lock goes and all of
    them finish."""
    with database.connect() as holder:
        holder.execute(text("SELECT id FROM users WHERE id = 1 FOR UPDATE"))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(send) for _ in range(workers)]
            wait_for_blocked_queries(database, workers)
            holder.rollback()
            return [f.result() for f in futures]


@HOW
def test_requests_counted_exactly_however_the_server_starts(
    start_shop, database, workers, metrics_dir
):
    shop = start_shop(workers, metrics_dir)
    parked = hold_user_then_release(database, workers, lambda: order(shop.url, 1))
    assert [r.status_code for r in parked] == [201] * workers
    n = 60
    for i in range(n):
        response = requests.get(
            f"{shop.url}/api/products/{1 + i % 5}", headers={"Connection": "close"}, timeout=5
        )
        assert response.status_code == 200
    samples = scrape(shop.url)
    by_product = (
        "flask_http_request_duration_seconds_count",
        (("method", "GET"), ("status", "200"), ("url_rule", "/api/products/<int:product_id>")),
    )
    assert samples[by_product] == n
    orders = (
        "flask_http_request_duration_seconds_count",
        (("method", "POST"), ("status", "201"), ("url_rule", "/api/orders")),
    )
    assert samples[orders] == workers
    assert samples[("shop_orders_total", (("result", "created"), ("strategy", "safe")))] == workers
    assert samples[("shop_order_duration_seconds_count", (("strategy", "safe"),))] == workers
    total = sum(v for (name, labels), v in samples.items() if name == "flask_http_request_total")
    assert total == n + workers
    # The sums span the workers: with four, more than one served (a new connection each).
    assert len(workers_that_served(shop)) >= min(workers, 2)
    # Each worker's pool: a connection per thread + two overflow.
    assert samples[("shop_db_pool_connections", (("state", "capacity"),))] == workers * 6
    assert samples[("shop_db_pool_connections", (("state", "in_use"),))] == 0
    assert samples[("process_cpu_seconds_total", ())] > 0
    assert samples[("process_resident_memory_bytes", ())] > 0
    missing = shop_owned_metrics() - exported_names(shop.url)
    assert not missing, f"/metrics lacks {sorted(missing)}"


def test_a_fresh_shop_has_every_known_series_at_zero_before_any_request(start_shop):
    """Across granian's workers (summed files), before the first request: a panel on orders by
    result has data, rate() loses no first event, a restart reads as a reset of each series."""
    shop = start_shop(4, metrics_dir=True)
    samples = scrape(shop.url)
    results = ("created", "replayed", "out_of_stock", "insufficient_points", "not_found",
               "idempotency_key_reused", "deadlock", "lock_wait_timeout", "error")  # fmt: skip
    expected = [("shop_orders_total", (("result", r), ("strategy", s)))
                for s in STRATEGIES for r in results]  # fmt: skip
    expected += [("shop_order_duration_seconds_count", (("strategy", s),)) for s in STRATEGIES]
    expected += [("shop_cache_requests_total", (("cache", "popular"), ("result", r)))
                 for r in ("hit", "miss", "error")]  # fmt: skip
    expected += [("shop_cache_requests_total", (("cache", "popular_local"), ("result", r)))
                 for r in ("hit", "miss")]  # fmt: skip
    expected += [("shop_db_retries_total", (("operation", o),))
                 for o in ("place_order", "charge_points")]  # fmt: skip
    # Every answer the contract lists, the rare ones too.
    expected += [("flask_http_request_duration_seconds_count",
                  (("method", "POST"), ("status", status), ("url_rule", "/api/orders")))
                 for status in ("201", "400", "404", "409", "413", "415", "503")]  # fmt: skip
    expected += [("flask_http_request_total", (("method", "POST"), ("status", "503")))]
    assert {key: samples.get(key) for key in expected} == dict.fromkeys(expected, 0.0)
    assert samples[("shop_cache_up", ())] == 1


def test_naive_deadlocks_counted_exactly_across_workers(start_shop, database, mariadb):
    workers = 4
    shop = start_shop(workers, metrics_dir=False, strategy="naive")

    def server_deadlocks() -> int:
        with mariadb.connect() as conn, conn.cursor() as cur:
            cur.execute("SHOW GLOBAL STATUS LIKE 'Innodb_deadlocks'")
            return int(cur.fetchone()[1])

    before = server_deadlocks()
    seen = Counter()
    for _ in range(3):
        # Released together, the parked orders all take the user's S lock through the foreign
        # key and then all want it X: InnoDB must roll back all but one.
        for r in hold_user_then_release(database, workers, lambda: order(shop.url, 1)):
            seen[r.status_code if r.status_code == 201 else r.json()["error"]["code"]] += 1
    assert seen["deadlock"] >= 3, seen
    assert set(seen) <= {201, "deadlock"}, seen
    samples = scrape(shop.url)
    deadlocks = ("shop_db_errors_total", (("kind", "deadlock"), ("operation", "place_order")))
    assert samples[deadlocks] == seen["deadlock"] == server_deadlocks() - before
    assert (
        samples[("shop_orders_total", (("result", "deadlock"), ("strategy", "naive")))]
        == (seen["deadlock"])
    )
    assert (
        samples[("shop_orders_total", (("result", "created"), ("strategy", "naive")))]
        == (seen[201])
    )


def test_a_dead_workers_gauges_leave_the_sums(start_shop):
    import os
    import signal
    import time

    shop = start_shop(4, metrics_dir=False)
    capacity = ("shop_db_pool_connections", (("state", "capacity"),))
    victim = shop.worker_pids()[0]
    os.kill(victim, signal.SIGKILL)
    # The server replaces the worker: its gauge files are forgotten, the new one's counted.
    deadline = time.monotonic() + 20
    while victim in shop.worker_pids() or len(shop.worker_pids()) < 4:
        assert time.monotonic() < deadline, "the server did not replace the killed worker"
        time.sleep(0.1)
    deadline = time.monotonic() + 20
    while scrape(shop.url)[capacity] != 4 * 6:
        assert time.monotonic() < deadline, scrape(shop.url)[capacity]
        time.sleep(0.1)


def test_readme_shop_commands_verbatim_give_every_shop_metric(
    mariadb, redis_server, mysql_database, tmp_path
):
    """The README's "The shop" block, run as written (env var unset), on free ports."""
    import os
    import subprocess

    from stack.processes import free_port, shop_booted, wait_until

    readme = (REPO / "README.md").read_text()
    block = readme.split("## The shop")[1].split("```sh")[1].split("```")[0]
    commands = [
        line.split("#")[0].strip() for line in block.splitlines() if line.startswith(".venv/bin/")
    ]
    assert [c.split()[0] for c in commands] == [".venv/bin/flask"] * 2 + [".venv/bin/python"]
    port = free_port()
    env = {
        k: v for k, v in os.environ.items() if k not in ("PROMETHEUS_MULTIPROC_DIR", "VIRTUAL_ENV")
    }
    env |= {
        "SHOP_DATABASE_URL": mariadb.url(mysql_database),
        "SHOP_REDIS_URL": redis_server.url(4),
        "SHOP_BIND": f"127.0.0.1:{port}",
        "SHOP_WORKERS": "2",
        "SHOP_THREADS": "4",
        "SHOP_LOG_LEVEL": "warning",
    }
    venv = Path(os.sys.executable).parent.parent
    for command in commands[:2]:
        argv = command.replace(".venv", str(venv), 1).split()
        subprocess.run(argv, cwd=REPO, env=env, check=True, capture_output=True, timeout=120)
    server = commands[2].replace(".venv", str(venv), 1).split()
    proc = subprocess.Popen(server, cwd=REPO, env=env, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_http(f"{url}/readyz", proc)
        # Both workers, not the first to answer: a server stopped while one still boots waits
        # out its whole graceful timeout for it (20 s).
        wait_until(lambda: shop_booted(url, workers=2, threads=4), 30, "both workers booted")
        for _ in range(10):
            assert requests.get(f"{url}/api/products/popular", timeout=5).status_code == 200
        assert order(url, 1).status_code == 201
        missing = shop_owned_metrics() - exported_names(url)
        assert not missing, f"/metrics lacks {sorted(missing)}"
        samples = scrape(url)
        popular = (
            "flask_http_request_duration_seconds_count",
            (("method", "GET"), ("status", "200"), ("url_rule", "/api/products/popular")),
        )
        assert samples[popular] == 10
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0, proc.stderr.read().decode()[-2000:]


def _wait_http(url: str, proc, timeout: float = 30) -> None:
    import time

    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        assert time.monotonic() < deadline, f"{url} never answered 200"
        time.sleep(0.1)


def test_flask_run_exports_in_process_metrics(mariadb, redis_server, mysql_database, database):
    """`flask run` (one process, no shop.serve): the in-memory registry, process metrics too."""
    import os
    import subprocess

    from stack.processes import free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env |= {
        "SHOP_DATABASE_URL": mariadb.url(mysql_database),
        "SHOP_REDIS_URL": redis_server.url(5),
    }
    proc = subprocess.Popen(
        [os.sys.executable, "-m", "flask", "--app", "shop", "run", "--port", str(port)],
        cwd=REPO, env=env, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_http(f"{url}/readyz", proc)
        assert order(url, 2).status_code == 201
        missing = shop_owned_metrics() - exported_names(url)
        assert not missing, f"/metrics lacks {sorted(missing)}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_threads_per_worker_still_sum(start_shop):
    """Several threads in one worker update the same files: no lost increments."""
    shop = start_shop(2, metrics_dir=False)
    n, clients = 80, 8
    barrier = threading.Barrier(clients)

    def hammer(_):
        barrier.wait()
        with requests.Session() as session:
            for _ in range(n // clients):
                assert session.get(f"{shop.url}/api/products/3", timeout=5).status_code == 200

    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(hammer, range(clients)))
    key = (
        "flask_http_request_duration_seconds_count",
        (("method", "GET"), ("status", "200"), ("url_rule", "/api/products/<int:product_id>")),
    )
    assert scrape(shop.url)[key] == n


def test_sigterm_lets_the_orders_in_flight_finish_then_exits_0(start_shop, database):
    import signal
    import time

    shop = start_shop(2, metrics_dir=False)
    with database.connect() as holder:
        holder.execute(text("SELECT id FROM users WHERE id = 1 FOR UPDATE"))
        with ThreadPoolExecutor(max_workers=2) as pool:
            futures = [pool.submit(order, shop.url, 1) for _ in range(2)]
            wait_for_blocked_queries(database, 2)
            process = shop.proc
            process.send_signal(signal.SIGTERM)  # as an orchestrator stops it, mid-request
            time.sleep(1)
            assert process.poll() is None, "the server exited with requests in flight"
            holder.rollback()
            assert [f.result().status_code for f in futures] == [201, 201]
    assert process.wait(timeout=30) == 0
    shop.proc = None  # stopped here; the fixture has nothing left to stop
    with database.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM orders WHERE user_id = 1")).scalar() == 2

"""`make local-up` on free ports: all targets healthy, the shop and a deadlock in Prometheus
within 15 s, and `make local-down` leaves no process and no listening port behind."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest
import requests

from stack import cgroups
from stack.settings import DEFAULTS_FILE, read_env_file
from tests.harness.servers import REPO, free_port

pytestmark = pytest.mark.integration
PORT_KEYS = [k for k in read_env_file(DEFAULTS_FILE) if k.endswith("_PORT")]


def make(target: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", target], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=180)  # fmt: skip


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def query(prometheus: str, expr: str) -> float:
    result = requests.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=5).json()
    values = result["data"]["result"]
    return float(values[0]["value"][1]) if values else 0.0


def eventually(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout:.0f}s: {what}")
        time.sleep(0.5)


@pytest.fixture
def stack(harness_root):
    ports = {key: free_port() for key in PORT_KEYS}
    state = harness_root / "local-stack"
    env = {
        **os.environ,
        **{key: str(port) for key, port in ports.items()},
        "LOCAL_STATE_DIR": str(state),
        "LOCAL_ORDER_STRATEGY": "naive",
        "LOCAL_SHOP_WORKERS": "2",
        "LOCAL_SHOP_THREADS": "8",
        "LOCAL_SEED_USERS": "100",
        "LOCAL_SEED_PRODUCTS": "20",
        "LOCAL_SEED_ORDERS": "100",
    }
    up = make("local-up", env)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        yield env, ports, state
    finally:
        down = make("local-down", env)
        assert down.returncode == 0, down.stdout + down.stderr
        assert [k for k, p in ports.items() if listening(p)] == []
        leftovers = [
            p.info["pid"]
            for p in psutil.process_iter(["pid", "cmdline"])
            if any(str(state) in part for part in (p.info["cmdline"] or []))
        ]
        assert leftovers == [], f"processes left running: {leftovers}"


def test_local_stack_up_observed_and_down(stack):
    _env, ports, _state = stack
    prometheus = f"http://127.0.0.1:{ports['LOCAL_PROMETHEUS_PORT']}"
    shop = f"http://127.0.0.1:{ports['LOCAL_SHOP_PORT']}"

    def all_targets_up():
        targets = requests.get(f"{prometheus}/api/v1/targets", timeout=5).json()["data"]
        active = targets["activeTargets"]
        return len(active) >= 8 and all(t["health"] == "up" for t in active) and active

    active = eventually(all_targets_up, 20, "every Prometheus target up")
    assert {t["labels"]["job"] for t in active} == {
        "shop", "innodb", "mysql", "redis", "node", "cadvisor", "prometheus", "alertmanager",
    }  # fmt: skip

    assert requests.get(f"{shop}/api/products/3", timeout=5).status_code == 200
    route = 'url_rule="/api/products/<int:product_id>"'
    served = f"sum(flask_http_request_duration_seconds_count{{{route}}})"
    eventually(lambda: query(prometheus, served) >= 1, 15, "the shop request in Prometheus")

    # The mission's deadlock: concurrent orders of one (hot) user on the naive strategy.
    barrier = threading.Barrier(16)

    def order(_):
        barrier.wait()
        return requests.post(
            f"{shop}/api/orders",
            timeout=30,
            json={"user_id": 1, "items": [{"product_id": 2, "quantity": 1}]},
        )

    deadlocked = 0
    for _ in range(5):  # bounded: a few bursts are plenty for one deadlock
        with ThreadPoolExecutor(16) as pool:
            responses = list(pool.map(order, range(16)))
        deadlocked += sum(r.status_code == 503 and r.json()["error"]["code"] == "deadlock"
                          for r in responses)  # fmt: skip
        if deadlocked:
            break
    assert deadlocked > 0, "the naive strategy never deadlocked"
    eventually(lambda: query(prometheus, "innodb_deadlocks_total") >= 1, 15,
               "innodb_deadlocks_total in Prometheus")  # fmt: skip
    if cgroups.unavailable_reason() is None:
        # The compose limits, natively: 2 CPUs (200 ms per 100 ms period) and 4 GiB.
        assert query(prometheus, 'container_spec_cpu_quota{name="shop"}') == 200_000
        assert query(prometheus, 'container_spec_memory_limit_bytes{name="shop"}') == 4 * 2**30

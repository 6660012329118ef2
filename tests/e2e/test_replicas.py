"""`LOCAL_SHOP_REPLICAS=2 make local-up` on free ports: every target up, nginx spreads requests
over both replicas, a replica killed mid-run loses no order while nginx routes around it and
ShopReplicaDown (not ShopDown) fires; a killed keeper leaves no shop server holding its port, and
`make local-down` stops exactly what `local-up` started, whatever LOCAL_SHOP_REPLICAS it gets.

A stack of its own, not the shared one (docs/testing.md): two replicas with their own CPU
limit are another shape of every process, nginx and Prometheus included (a whole restart, not
a switch of the shop), and the test ends by killing the stack's keepers, and `make local-down`
with another replica count, which is the lifecycle it proves."""

from __future__ import annotations

import signal
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import psutil
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine

from lab.audit.books import broken_invariants, stored_orders
from lab.audit.reconcile import Attempt, reconcile
from stack import cgroups
from stack.processes import alive, tcp_open, wait_until
from stack.settings import read_stack_settings
from tests.e2e.native import make, native_stack, query

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

POPULAR = "/api/products/popular"
# The Python load of the kill run: paced orders, a replica killed a third of the way in.
RATE = 20  # orders per second
SECONDS = 15
KILL_AT = 5.0
# After the kill, requests already inside the dead replica fail (502); any request that starts
# this long after the kill must not (nginx skips the dead replica on its first refused connect).
SETTLE = 1.0


@dataclass(frozen=True)
class Sent:
    started: float  # monotonic
    attempt: Attempt


def replica_requests(port: int, route: str) -> float:
    """The replica's own request counter for `route`, read from its /metrics."""
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "flask_http_request_duration_seconds"
        for sample in family.samples
        if sample.name.endswith("_count") and sample.labels.get("url_rule") == route
    )


def keeper_of(state, name: str) -> psutil.Process:
    """The keeper of replica `name` of the stack in `state`."""
    [keeper] = [
        p
        for p in psutil.process_iter(["cmdline"])
        if (cmd := p.info["cmdline"] or [])[1:5] == ["-m", "stack", "keep", name]
        and any(str(state) in part for part in cmd)
    ]
    return keeper


def place_order(shop: str, user_id: int, product_id: int) -> Attempt:
    key = str(uuid.uuid4())
    order = {"user_id": user_id, "items": [{"product_id": product_id, "quantity": 1}]}
    try:
        answer = requests.post(f"{shop}/api/orders", json=order, timeout=30,
                               headers={"Idempotency-Key": key})  # fmt: skip
    except requests.RequestException:
        return Attempt(key, user_id, 0)
    order_id = answer.json().get("order_id") if answer.status_code == 201 else None
    return Attempt(key, user_id, answer.status_code, order_id)


def paced_orders(shop: str, kill, users: int, products: int) -> tuple[list[Sent], float]:
    """RATE * SECONDS orders at most RATE a second (an open model: a slow answer delays no
    other), with `kill()` called before the (KILL_AT * RATE)th; the attempts, and when the kill
    happened (monotonic)."""
    sent: list[Sent] = []
    lock = threading.Lock()

    def one(i: int, started: float) -> None:
        attempt = place_order(shop, 1 + i % users, 1 + i % products)
        with lock:
            sent.append(Sent(started, attempt))

    killed_at = None
    due = time.monotonic()
    with ThreadPoolExecutor(32) as pool:
        for i in range(RATE * SECONDS):
            if killed_at is None and i >= KILL_AT * RATE:
                kill()
                killed_at = time.monotonic()
            time.sleep(max(0.0, due - time.monotonic()))  # pacing, not synchronisation
            pool.submit(one, i, time.monotonic())
            # Never a burst to catch up after a stall (a busy machine): the requests stay at
            # least 1/RATE apart, so the count of those after the kill does not depend on time.
            due = max(due, time.monotonic()) + 1 / RATE
    return sent, killed_at


def alerts(prometheus: str, name: str) -> list[dict]:
    found = requests.get(f"{prometheus}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
    return [a for a in found if a["labels"]["alertname"] == name and a["state"] == "firing"]


def test_two_replicas_behind_nginx_survive_one_dying(harness_root):
    state = harness_root / "replicas"
    with native_stack(state, via_make=True, LOCAL_SHOP_REPLICAS="2", LOCAL_SHOP_CPUS="0.5",
                      LOCAL_ALERT_FOR_MAX="5s") as (env, ports, state):  # fmt: skip
        settings = read_stack_settings(env)
        prometheus = f"http://127.0.0.1:{ports['LOCAL_PROMETHEUS_PORT']}"
        shop = f"http://127.0.0.1:{ports['LOCAL_SHOP_PORT']}"
        replica_ports = [settings.replica_port(1), settings.replica_port(2)]

        # Every target up: two shop targets (one per replica) and nginx's exporter among them.
        def all_up():
            active = requests.get(f"{prometheus}/api/v1/targets", timeout=5).json()["data"][
                "activeTargets"
            ]
            return len(active) >= 10 and all(t["health"] == "up" for t in active) and active

        active = wait_until(all_up, 30, "every Prometheus target up")
        shops = sorted(t["labels"]["replica"] for t in active if t["labels"]["job"] == "shop")
        assert shops == ["1", "2"]
        assert {t["labels"]["job"] for t in active} >= {"shop", "nginx", "cadvisor", "mysql"}
        wait_until(lambda: query(prometheus, "nginx_up") == 1, 20, "nginx_up = 1")

        # Each replica in a cgroup of its own with its own limit (where cgroups are available).
        if cgroups.unavailable_reason() is None:
            for i in (1, 2):
                group = cgroups.ROOT / "cpu" / cgroups.GROUP / settings.cgroup(f"shop-{i}")
                assert (group / "cpu.cfs_quota_us").read_text().strip() == "50000"
                assert len((group / "cgroup.procs").read_text().split()) >= 3  # arbiter, workers
            quota = 'container_spec_cpu_quota{name="shop", replica="2"}'
            wait_until(lambda: query(prometheus, quota) == 50_000, 20, "replica 2's quota")

        # nginx spreads requests: each replica's own counter rises.
        before = [replica_requests(p, POPULAR) for p in replica_ports]
        with requests.Session() as client:  # one keep-alive connection to nginx
            for _ in range(40):
                assert client.get(f"{shop}{POPULAR}", timeout=10).status_code == 200
        after = [replica_requests(p, POPULAR) for p in replica_ports]
        served = [b - a for a, b in zip(before, after, strict=True)]
        assert sum(served) == 40 and min(served) >= 10, f"per replica: {served}"

        # Kill replica 2 (SIGKILL to its server and workers, as an OOM kill would) mid-run.
        keeper = keeper_of(state, "shop-2")
        victims = keeper.children(recursive=True)
        assert victims, "replica 2 has no processes"

        def kill() -> None:
            for p in victims:
                p.send_signal(signal.SIGKILL)

        sent, killed_at = paced_orders(shop, kill, users=100, products=20)
        assert keeper.is_running()  # the keeper outlived its replica: the stack runs on
        wait_until(lambda: not tcp_open(replica_ports[1]), 20, "replica 2's port closed")

        late = [s.attempt for s in sent if s.started > killed_at + SETTLE]
        failed_late = [a for a in late if a.status == 0 or a.status >= 500]
        # All but the at most RATE * SETTLE + 1 orders sent within SETTLE of the kill.
        assert len(late) >= RATE * (SECONDS - KILL_AT - SETTLE) - 1, len(late)
        assert failed_late == [], f"routed to the dead replica after the kill: {failed_late[:3]}"
        assert sum(a.status == 201 for a in late) > 0

        # No order lost: every 201 is stored with one payment, and the books balance.
        attempts = [s.attempt for s in sent]
        engine = create_engine(settings.database_url)
        try:
            with engine.connect() as conn:
                stored = stored_orders(conn, [a.key for a in attempts])
                result = reconcile(attempts, stored)
                broken = broken_invariants(conn)
        finally:
            engine.dispose()
        assert result.attempts == RATE * SECONDS and result.acknowledged > 0, result.summary()
        assert result.lost == [] and result.double_charged == [], result.summary()
        assert broken == {}

        # One replica down is a warning about that replica, not "the shop is down".
        [down] = wait_until(lambda: alerts(prometheus, "ShopReplicaDown"), 60,
                            "ShopReplicaDown firing")  # fmt: skip
        assert down["labels"]["replica"] == "2" and down["labels"]["severity"] == "warning"
        assert alerts(prometheus, "ShopDown") == []
        assert query(prometheus, "shop:replicas_up:sum") == 1

        # A keeper killed outright: honcho stops the stack, and no shop process of it is left
        # holding replica 1's port (the kernel's parent-death signal stops it).
        keeper = keeper_of(state, "shop-1")
        replica = keeper.children(recursive=True)
        assert replica, "replica 1 has no processes"
        keeper.send_signal(signal.SIGKILL)
        wait_until(lambda: not any(alive(p.pid) for p in replica), 60, "replica 1's processes gone")
        assert not tcp_open(replica_ports[0])

        # local-down with another replica count still checks and cleans what up started.
        down_once = make("local-down", {**env, "LOCAL_SHOP_REPLICAS": "1"})
        assert down_once.returncode == 0, down_once.stdout + down_once.stderr
        if cgroups.unavailable_reason() is None:
            for i in (1, 2):
                group = cgroups.ROOT / "cpu" / cgroups.GROUP / settings.cgroup(f"shop-{i}")
                assert not group.exists(), f"{group} left behind"
        print(
            f"\nreplicas e2e: spread {served} over 2 replicas; kill run {len(attempts)} orders, "
            f"{result.acknowledged} acknowledged, lost {len(result.lost)}, "
            f"{sum(a.status == 0 or a.status >= 500 for a in attempts)} failed (all within "
            f"{SETTLE:.0f}s of the kill), {len(late)} after it all answered"
        )

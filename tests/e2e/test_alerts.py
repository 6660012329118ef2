"""The alert path end to end on the native stack: rules, Prometheus, Alertmanager, webhook file.

A short burst of orders on three hot users deadlocks the naive strategy: InnoDBDeadlocks fires
and reaches the webhook's file; a stopped (SIGSTOP) shop fires ShopDown. The safe strategy
under the same burst makes no deadlock, so no InnoDBDeadlocks alert. The shared stack runs with
LOCAL_ALERT_FOR_MAX=5s, so a `for: 1m` rule fires within seconds (and Alertmanager notifies
within seconds, even in a group that notified a moment ago); the rules are otherwise those
shipped. Each alert counts only when it became active after its cause (the stack is
shared: an older alert must not pass for this test's).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psutil
import pytest
import requests

from stack.processes import wait_until
from stack.runner import ALERTS_FILE
from tests.e2e.conftest import SharedStack
from tests.e2e.native import query

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
HOT_USERS = 3
BURST_SECONDS = 5.0
BURST_THREADS = 12
BURST_MAX_PER_THREAD = 150


def order_burst(shop: str) -> dict[int, int]:
    """Orders on HOT_USERS users from a bounded pool for BURST_SECONDS: status -> count."""
    deadline = time.monotonic() + BURST_SECONDS

    def client(seed: int) -> dict[int, int]:
        rng, codes = random.Random(seed), {}
        with requests.Session() as session:
            for _ in range(BURST_MAX_PER_THREAD):
                if time.monotonic() > deadline:
                    break
                body = {"user_id": rng.randint(1, HOT_USERS),
                        "items": [{"product_id": rng.randint(1, 20), "quantity": 1}]}  # fmt: skip
                status = session.post(f"{shop}/api/orders", json=body, timeout=10).status_code
                codes[status] = codes.get(status, 0) + 1
        return codes

    totals: dict[int, int] = {}
    with ThreadPoolExecutor(BURST_THREADS) as pool:
        for codes in pool.map(client, range(BURST_THREADS)):
            for status, n in codes.items():
                totals[status] = totals.get(status, 0) + n
    return totals


def wait_for_deadlock_baseline(prometheus: str) -> None:
    """increase() needs a sample from before the deadlocks: a series first seen at 500 has not
    increased. A stack that has run for a while has one; a fresh one scrapes within ~10 s."""
    wait_until(lambda: query(prometheus, "count(innodb_deadlocks_total)"), 30,
               "innodb_deadlocks_total scraped")  # fmt: skip


def prometheus_alerts(prometheus: str, name: str) -> list[dict]:
    alerts = requests.get(f"{prometheus}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
    return [a for a in alerts if a["labels"]["alertname"] == name]


def firing(prometheus: str, name: str) -> list[dict]:
    return [a for a in prometheus_alerts(prometheus, name) if a["state"] == "firing"]


def _notifications(state: Path) -> list[dict]:
    path = state / ALERTS_FILE
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _key(line: dict) -> tuple:
    return line["alertname"], line.get("fingerprint"), line.get("starts_at")


def notified(state: Path) -> frozenset:
    """Every alert the webhook's file has a notification of so far."""
    return frozenset(map(_key, _notifications(state)))


def webhook_lines(state: Path, name: str, known: frozenset = frozenset()) -> list[dict]:
    """The webhook's notifications of alert `name`, but of the alerts in `known` (those notified
    before the test's cause: the stack is shared)."""
    return [r for r in _notifications(state) if r["alertname"] == name and _key(r) not in known]


def shop_processes(shop_port: int) -> list[psutil.Process]:
    bind = f"127.0.0.1:{shop_port}"
    return [p for p in psutil.process_iter(["cmdline"]) if bind in (p.info["cmdline"] or [])]


@dataclass(frozen=True)
class Burst:
    prometheus: str
    shop_port: int
    state: Path
    codes: dict[int, int]
    started: float  # monotonic
    started_at: float  # Unix time, to compare with Prometheus's timestamps
    ended_at: float
    known: frozenset  # the alerts the webhook had been told of before the burst


@contextmanager
def stack_after_burst(stack: SharedStack) -> Iterator[Burst]:
    """The shared stack (in the test's shape), once the order burst has hit it."""
    prometheus = stack.url("LOCAL_PROMETHEUS_PORT")
    wait_for_deadlock_baseline(prometheus)
    known = notified(stack.state)
    started, started_at = time.monotonic(), time.time()
    codes = order_burst(stack.url("LOCAL_SHOP_PORT"))
    # The shop's server (its one replica) is behind nginx, on the replica port.
    yield Burst(prometheus, stack.ports["LOCAL_SHOP_REPLICA_PORT"], stack.state, codes, started,
                started_at, time.time(), known)  # fmt: skip


@pytest.mark.shared_stack("naive")
def test_naive_deadlocks_and_a_stopped_shop_reach_the_webhook(stack):
    # The naive shapes run after every safe one: no deadlock yet in the rule's 5 minutes.
    prometheus = stack.url("LOCAL_PROMETHEUS_PORT")
    assert prometheus_alerts(prometheus, "InnoDBDeadlocks") == [], "deadlocked before the burst"
    with stack_after_burst(stack) as burst:
        state, codes = burst.state, burst.codes
        assert codes.get(503, 0) > 0, f"the naive strategy never deadlocked: {codes}"
        [alert] = wait_until(lambda: firing(prometheus, "InnoDBDeadlocks"), 30,
                             "InnoDBDeadlocks firing in Prometheus")  # fmt: skip
        seen_after = time.monotonic() - burst.started
        active_after = _unix(alert["activeAt"]) - burst.started_at  # `for` 0: active = firing
        assert alert["labels"]["severity"] == "warning"
        assert alert["annotations"]["runbook_url"] == "docs/runbooks/innodb-deadlocks.md"
        [line, *_] = wait_until(lambda: webhook_lines(state, "InnoDBDeadlocks", burst.known),
                                30, "InnoDBDeadlocks in the webhook's file")  # fmt: skip
        delivered_after = time.monotonic() - burst.started
        assert (line["status"], line["receiver"], line["severity"]) == (
            "firing", "warning", "warning",
        )  # fmt: skip
        assert line["labels"]["job"] == "innodb"
        assert "deadlocks in the last 5 minutes" in line["annotations"]["description"]
        assert (query(prometheus, "innodb_deadlocks_total") or 0) >= 1

        # A shop restarted for this shape was down for a moment: ShopDown must be over (not
        # pending, not firing) before the stop, or the alert below could be that moment's.
        wait_until(lambda: not prometheus_alerts(prometheus, "ShopDown"), 60,
                   "no ShopDown pending or firing before the stop")  # fmt: skip
        # Stop the shop without letting it exit (honcho would take the stack down with it).
        processes = shop_processes(burst.shop_port)
        assert processes, "no shop process bound to the shop's port"
        known, stopped = notified(state), time.monotonic()
        for p in processes:
            p.suspend()
        try:
            [down] = wait_until(lambda: firing(prometheus, "ShopDown"), 45,
                                "ShopDown firing in Prometheus")  # fmt: skip
            down_after = time.monotonic() - stopped
            assert down["labels"]["severity"] == "critical"
            [line, *_] = wait_until(lambda: webhook_lines(state, "ShopDown", known), 30,
                                    "ShopDown in the webhook's file")  # fmt: skip
            down_delivered_after = time.monotonic() - stopped
            assert (line["receiver"], line["labels"]["job"]) == ("critical", "shop")
        finally:
            for p in processes:
                p.resume()
        print(
            f"\nalerts e2e (naive): burst of {BURST_SECONDS:.0f}s {codes}; InnoDBDeadlocks "
            f"firing {active_after:.1f}s after the burst began (seen {seen_after:.1f}s), in the "
            f"webhook file after {delivered_after:.1f}s; "
            f"ShopDown firing {down_after:.1f}s after SIGSTOP, in the file after "
            f"{down_delivered_after:.1f}s"
        )


@pytest.mark.shared_stack("safe")
def test_safe_strategy_under_the_same_burst_fires_no_deadlock_alert(stack):
    # The safe shapes run first (tests/e2e/conftest.py): the stack has never deadlocked.
    prometheus = stack.url("LOCAL_PROMETHEUS_PORT")
    assert query(prometheus, "max(innodb_deadlocks_total)") in (0, None), "deadlocked before"
    with stack_after_burst(stack) as burst:
        state, codes = burst.state, burst.codes
        assert codes.get(201, 0) > 0 and 503 not in codes, codes

        # Silent means: a scrape of the exporter after the burst, then a rule evaluation
        # after that scrape, and still no InnoDBDeadlocks, pending or firing.
        def innodb_scraped_after_burst() -> float:
            targets = requests.get(f"{prometheus}/api/v1/targets", timeout=5).json()
            scraped = [_unix(t["lastScrape"]) for t in targets["data"]["activeTargets"]
                       if t["labels"]["job"] == "innodb"]  # fmt: skip
            return scraped[0] if scraped and scraped[0] > burst.ended_at else 0.0

        scraped = wait_until(innodb_scraped_after_burst, 20, "an innodb scrape after the burst")

        def evaluated_after_scrape() -> bool:
            groups = requests.get(f"{prometheus}/api/v1/rules", timeout=5).json()["data"]
            [mysql] = [g for g in groups["groups"] if g["name"] == "mysql-alerts"]
            return _unix(mysql["lastEvaluation"]) > scraped

        wait_until(evaluated_after_scrape, 20, "a mysql-alerts evaluation after that scrape")
        assert query(prometheus, "innodb_deadlocks_total") == 0
        assert prometheus_alerts(prometheus, "InnoDBDeadlocks") == []
        assert webhook_lines(state, "InnoDBDeadlocks") == []  # never, on this stack
        print(f"\nalerts e2e (safe): burst {codes}; no deadlock, no InnoDBDeadlocks alert")


def _unix(rfc3339: str) -> float:
    """Prometheus API timestamps (nanosecond RFC 3339) as Unix seconds."""
    head, _, rest = rfc3339.partition(".")
    fraction = "".join(ch for ch in rest if ch.isdigit())[:6] or "0"
    zone = rest.lstrip("0123456789") or "Z"
    stamp = datetime.fromisoformat(f"{head}.{fraction.ljust(6, '0')}{zone.replace('Z', '+00:00')}")
    return stamp.timestamp()

"""The shop's traffic model in Locust: the same plan, thresholds and summary as k6.

One user class per API (OrderUser, PopularUser), each with constant pacing of 1 s, so the
number of users is the offered rate; ScenarioShape turns the plan's arrival-rate stages into
user counts. The master (or the only process) exports Prometheus metrics fed by the `request`
event; with `--processes N` or separate workers, each worker ships its counts to the master in
`report_to_master`. At the end the run writes <results_dir>/locust-summary.json (the shape of
k6's) and exits 99 when a threshold failed, as k6 does.

Every knob comes resolved in LOAD_PLAN (the plan's JSON, or the path of a file holding it), as
`python -m lab.load` writes it (`python -m lab.load plan` prints one): stages in iterations/s
and whole seconds, SLO numbers, hot users, ratios, the shop's URL, the testid. The process's
own settings: LOCUST_METRICS_PORT (0: no metrics server), LOCUST_METRICS_ADDR (127.0.0.1),
LOCUST_SCRAPE_WAIT (seconds); LOCUST_TESTID and RESULTS_DIR when the plan has none (compose).
"""

from __future__ import annotations

import json
import math
import os
import random
import sys
import time
import uuid
from bisect import bisect_left
from pathlib import Path

import gevent
import requests
from locust import LoadTestShape, events, task
from locust.contrib.fasthttp import FastHttpUser
from locust.runners import MasterRunner, WorkerRunner
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

# The repository (or compose's /shoplab): the plan's stage maths live in loadtest.scenarios.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lab.load.scenarios import Plan, plan_from_json

ORDERS, POPULAR = "POST /api/orders", "GET /api/products/popular"
# Seconds; the same edges as the shop's own histogram where they overlap.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)


def read_plan(environ) -> Plan:
    raw = environ.get("LOAD_PLAN", "").strip()
    if not raw:
        raise ValueError(
            "LOAD_PLAN is not set: run through `make load` or `python -m lab.load plan`"
        )
    return plan_from_json(raw if raw.startswith("{") else Path(raw).read_text())


def _process_number(name: str, default: float) -> float:
    raw = os.environ.get(name, "") or str(default)
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name}={raw!r} is not a non-negative number")
    return value


try:
    PLAN = read_plan(os.environ)
    PROCESS = {
        "metrics_port": int(_process_number("LOCUST_METRICS_PORT", 0)),
        "metrics_addr": os.environ.get("LOCUST_METRICS_ADDR", "127.0.0.1"),
        # Seconds to hold the load until Prometheus has scraped the master once (so counters
        # start from 0 in Prometheus), and to linger at the end for a last scrape.
        "scrape_wait": _process_number("LOCUST_SCRAPE_WAIT", 0),
    }
except (ValueError, OSError, TypeError, KeyError) as exc:
    sys.stderr.write(f"locustfile: {exc}\n")
    sys.exit(2)
TESTID = PLAN.testid or os.environ.get("LOCUST_TESTID") or f"locust-{PLAN.scenario}-compose"
RESULTS_DIR = PLAN.results_dir or os.environ.get("RESULTS_DIR", "")


# ---- ids: products 1..total, users 1..highest (bisection on the points API) ----------------
IDS: dict[str, int] = {}


def discover(host: str) -> dict[str, int]:
    session = requests.Session()
    res = session.get(f"{host}/api/products", params={"limit": 1}, timeout=5)
    if res.status_code != 200:
        raise RuntimeError(
            f"GET /api/products answered {res.status_code}: is the shop up at {host}?"
        )
    products = int(res.json()["total"])

    def exists(user_id: int) -> bool:
        return session.get(f"{host}/api/users/{user_id}/points", timeout=5).status_code == 200

    if products < 1 or not exists(1):
        raise RuntimeError(
            "the shop has no users or products: seed it first (flask --app shop seed)"
        )
    lo = 1
    while exists(lo * 2) and lo < 10**9:
        lo *= 2
    hi = lo * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if exists(mid) else (lo, mid)
    return {"users": lo, "products": products}


# ---- metrics: counts kept per process, merged on the master ---------------------------------
class Counts:
    """Per `METHOD path` request counts, failures and histogram buckets (plain, msgpack-able)."""

    def __init__(self) -> None:
        self.data: dict[str, dict] = {}

    def _entry(self, key: str) -> dict:
        entry = self.data.get(key)
        if entry is None:
            entry = self.data[key] = {
                "requests": 0, "failures": 0, "sum": 0.0, "buckets": [0] * (len(BUCKETS) + 1)
            }  # fmt: skip
        return entry

    def observe(self, key: str, seconds: float, failed: bool, count: int = 1) -> None:
        entry = self._entry(key)
        entry["requests"] += count
        entry["failures"] += failed
        entry["sum"] += seconds
        entry["buckets"][bisect_left(BUCKETS, seconds)] += count

    def merge(self, other: dict[str, dict]) -> None:
        for key, theirs in other.items():
            mine = self._entry(key)
            for field in ("requests", "failures", "sum"):
                mine[field] += theirs[field]
            mine["buckets"] = [
                a + b for a, b in zip(mine["buckets"], theirs["buckets"], strict=True)
            ]

    def take(self) -> dict[str, dict]:
        data, self.data = self.data, {}
        return data


COUNTS = Counts()


class Exporter:
    """prometheus_client collector over COUNTS and the runner's live state."""

    def __init__(self, environment) -> None:
        self.environment = environment

    def collect(self):
        RUN["scrapes"] += 1
        testid = TESTID
        hist = HistogramMetricFamily(
            "locust_request_duration_seconds", "Response time of each request.",
            labels=["testid", "method", "name"],
        )  # fmt: skip
        reqs = CounterMetricFamily(
            "locust_requests",
            "Requests sent, failed ones included.",
            labels=["testid", "method", "name"],
        )
        fails = CounterMetricFamily(
            "locust_failures", "Requests that failed.", labels=["testid", "method", "name"]
        )
        for key, entry in sorted(COUNTS.data.items()):
            method = key.split(" ", 1)[0]
            labels = [testid, method, key]
            cumulative, buckets = 0, []
            for edge, count in zip((*BUCKETS, math.inf), entry["buckets"], strict=True):
                cumulative += count
                buckets.append(("+Inf" if edge == math.inf else repr(edge), cumulative))
            hist.add_metric(labels, buckets, entry["sum"])
            reqs.add_metric(labels, entry["requests"])
            fails.add_metric(labels, entry["failures"])
        yield from (hist, reqs, fails)
        runner = self.environment.runner
        users = GaugeMetricFamily("locust_users", "Users running now.", labels=["testid"])
        users.add_metric([testid], runner.user_count if runner else 0)
        target = GaugeMetricFamily(
            "locust_target_tps", "The run's TARGET_TPS.", labels=["testid", "scenario"]
        )
        target.add_metric([testid, PLAN.scenario], PLAN.target_tps)
        # The 1-based index of the plan's stage running now, for the dashboards' annotations.
        stage = GaugeMetricFamily(
            "locust_loadtest_stage", "The plan's stage running now (1-based).", labels=["testid"]
        )
        stage.add_metric([testid], PLAN.stage_at(time.time() - (RUN["started"] or time.time())))
        workers = GaugeMetricFamily(
            "locust_workers", "Workers connected to the master.", labels=["testid"]
        )
        workers.add_metric([testid], len(runner.clients) if isinstance(runner, MasterRunner) else 0)
        yield from (users, target, workers, stage)


# ---- the run's clock, thresholds and summary -------------------------------------------------
RUN = {"started": None, "ended": None, "aborted": None, "scrapes": 0}


def endpoint_stats(environment, key: str) -> dict:
    method, name = key.split(" ", 1)
    entry = environment.stats.get(name, method)
    count = entry.num_requests
    return {
        "count": count,
        "failures": entry.num_failures,
        "p95_ms": entry.get_response_time_percentile(0.95) if count else None,
        "p99_ms": entry.get_response_time_percentile(0.99) if count else None,
    }


def thresholds(environment, final: bool) -> list[dict]:
    slo = PLAN.slo
    out = []
    for key, limit in ((ORDERS, slo["orders_p95_ms"]), (POPULAR, slo["popular_p95_ms"])):
        e = endpoint_stats(environment, key)
        p95 = e["p95_ms"]
        out.append({"name": f"{key}: p95 < {limit} ms", "pass": p95 is None or p95 < limit})
        ratio = e["failures"] / e["count"] if e["count"] else 0.0
        out.append({"name": f"{key}: failure rate <= {slo['error_rate']}",
                    "pass": ratio <= slo["error_rate"]})  # fmt: skip
    if final:
        # Locust never drops a request, it falls behind its pacing instead: the analogue of
        # k6's dropped iterations is requests sent against the requests the shape offered.
        sent = environment.stats.total.num_requests
        out.append({"name": "requests sent >= 90 % of offered",
                    "pass": sent >= 0.9 * PLAN.offered_requests(run_seconds()) - 2})  # fmt: skip
    return out


def watch_thresholds(environment) -> None:
    """abortOnFail: stop a load or soak run as soon as a threshold fails (after the ramp)."""
    gevent.sleep(PLAN.abort_delay_s)
    while RUN["ended"] is None:
        failed = [t["name"] for t in thresholds(environment, final=False) if not t["pass"]]
        if failed:
            RUN["aborted"] = failed
            sys.stderr.write(f"locustfile: threshold failed, aborting: {'; '.join(failed)}\n")
            environment.runner.quit()
            return
        gevent.sleep(2)


def run_seconds() -> float:
    ended = RUN["ended"] or time.time()
    return max(0.001, ended - (RUN["started"] or ended))


def write_summary(environment) -> bool:
    seconds = run_seconds()
    results = thresholds(environment, final=True)
    total = environment.stats.total
    summary = {
        "tool": "locust",
        "scenario": PLAN.scenario,
        "testid": TESTID,
        "target_tps": PLAN.target_tps,
        # Achieved: successful requests per second (failed ones are sent, not achieved).
        "achieved_tps": (total.num_requests - total.num_failures) / seconds,
        "offered_requests": round(PLAN.offered_requests(seconds)),
        "duration_s": seconds,
        "started_at": RUN["started"],
        "requests": total.num_requests,
        "failures": total.num_failures,
        "error_rate": total.num_failures / total.num_requests if total.num_requests else 0.0,
        "dropped_iterations": 0,
        "endpoints": {key: endpoint_stats(environment, key) for key in (ORDERS, POPULAR)},
        "thresholds": results,
        # What the shape ran, [seconds, iterations/s] per stage: the plan's, unchanged.
        "start_rate": PLAN.start_rate,
        "stages": [[stage.seconds, stage.rate] for stage in PLAN.stages],
        "aborted": RUN["aborted"],
        "passed": all(t["pass"] for t in results) and not RUN["aborted"],
    }
    if RESULTS_DIR:
        path = Path(RESULTS_DIR) / "locust-summary.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"locust: {summary['scenario']}: {summary['requests']} requests, "
          f"{summary['achieved_tps']:.1f}/s, errors {summary['error_rate'] * 100:.2f} %, "
          f"thresholds {'passed' if summary['passed'] else 'FAILED'}", flush=True)  # fmt: skip
    return summary["passed"]


@events.init.add_listener
def on_init(environment, **_kw) -> None:
    runner = environment.runner
    if isinstance(runner, WorkerRunner):

        @events.report_to_master.add_listener
        def ship(client_id, data, **_):
            data["shoplab_counts"] = COUNTS.take()

        return
    if isinstance(runner, MasterRunner):

        @events.worker_report.add_listener
        def receive(client_id, data, **_):
            COUNTS.merge(data.get("shoplab_counts", {}))

    if PROCESS["metrics_port"]:
        for key in (ORDERS, POPULAR):  # series exist at 0 before the first request
            COUNTS.observe(key, 0, False, count=0)
        registry = CollectorRegistry()
        registry.register(Exporter(environment))
        start_http_server(PROCESS["metrics_port"], addr=PROCESS["metrics_addr"], registry=registry)


@events.request.add_listener
def on_request(request_type, name, response_time, exception, **_kw) -> None:
    COUNTS.observe(f"{request_type} {name}", response_time / 1000, exception is not None)


@events.test_start.add_listener
def on_test_start(environment, **_kw) -> None:
    if isinstance(environment.runner, MasterRunner):
        RUN["started"] = time.time()
        return
    if RUN["started"] is None:
        RUN["started"] = time.time()
    host = (environment.host or PLAN.shop_url).rstrip("/")
    try:
        IDS.update(discover(host))
    except (RuntimeError, requests.RequestException, ValueError, KeyError) as exc:
        sys.stderr.write(f"locustfile: cannot discover ids: {exc}\n")
        RUN["aborted"] = [f"cannot discover ids: {exc}"]
        environment.process_exit_code = 2
        environment.runner.quit()
        return


@events.test_stop.add_listener
def on_test_stop(environment, **_kw) -> None:
    if RUN["ended"] is None and not isinstance(environment.runner, WorkerRunner):
        RUN["ended"] = time.time()


@events.quitting.add_listener
def on_quitting(environment, **_kw) -> None:
    if isinstance(environment.runner, WorkerRunner) or RUN["started"] is None:
        return
    RUN["ended"] = RUN["ended"] or time.time()
    passed = write_summary(environment)
    if PROCESS["metrics_port"] and PROCESS["scrape_wait"]:
        wait_for_scrape(PROCESS["scrape_wait"])
    if environment.process_exit_code is None or environment.process_exit_code == 0:
        environment.process_exit_code = 0 if passed else 99


def wait_for_scrape(limit: float) -> bool:
    """Block (cooperatively) until Prometheus scrapes the master once more, or `limit` s."""
    seen, deadline = RUN["scrapes"], time.monotonic() + limit
    while RUN["scrapes"] == seen and time.monotonic() < deadline:
        gevent.sleep(0.2)
    return RUN["scrapes"] != seen


# ---- the users and the shape -----------------------------------------------------------------
class PacedUser(FastHttpUser):
    """Constant pacing of one request a second, each user at its own random phase.

    Users spawned in the same instant must not fire in the same instant (200 users would be one
    burst of 200 requests each second, and its queueing would be measured as latency).
    Locust's constant_pacing keeps the phase of the spawn time, so the pacing is done here:
    a random first delay, then a fixed 1 s grid; a user that falls behind skips ahead rather
    than firing a catch-up burst.
    """

    abstract = True
    _next = 0.0

    def on_start(self) -> None:
        gevent.sleep(random.random())
        self._next = time.monotonic()

    def wait_time(self) -> float:
        now = time.monotonic()
        self._next = max(self._next + 1.0, now)
        return self._next - now


def _user_id() -> int:
    users = IDS.get("users", 1)
    if PLAN.hot_users > 0 and random.random() < PLAN.hot_ratio:
        return random.randint(1, min(PLAN.hot_users, users))
    return random.randint(1, users)


class OrderUser(PacedUser):
    """The order-payment API: one order a second, 1-3 products, hot users per HOT_USERS."""

    weight = max(1, round(PLAN.order_ratio * 100))
    abstract = PLAN.order_ratio == 0  # ORDER_RATIO=0: no orders at all, as in k6

    @task
    def order(self) -> None:
        products = IDS.get("products", 1)
        chosen = random.sample(range(1, products + 1), k=min(products, random.randint(1, 3)))
        items = [{"product_id": p, "quantity": random.randint(1, 2)} for p in chosen]
        body = {"user_id": _user_id(), "items": items}
        headers = {"Idempotency-Key": uuid.uuid4().hex}
        sent = time.time()
        with self.client.post("/api/orders", json=body, headers=headers, name="/api/orders",
                              catch_response=True) as res:  # fmt: skip
            order_id = None
            if res.status_code != 201:
                res.failure(f"status {res.status_code}")
            elif not (order_id := (res.json() or {}).get("order_id")):
                res.failure("no order_id in the answer")
        log_request("orders", sent, res.status_code or 0, key=headers["Idempotency-Key"],
                    user_id=body["user_id"], order_id=order_id)  # fmt: skip


_ORDER_LOG: list = []


def log_request(endpoint: str, sent: float, status: int, **order) -> None:
    """One line per request in <results_dir>/orders.jsonl (the same file k6 writes): an order
    attempt with its key, user and order id is what the audit reconciles; `t` (epoch s when
    sent) and `ms` time every request for `make chaos`. Workers append to it too: a line is
    one write, under O_APPEND."""
    if not RESULTS_DIR:
        return
    if not _ORDER_LOG:
        path = Path(RESULTS_DIR) / "orders.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        _ORDER_LOG.append(open(path, "a", buffering=1, encoding="utf-8"))  # noqa: SIM115
    line = {"endpoint": endpoint, **order, "status": status, "t": round(sent, 3),
            "ms": round((time.time() - sent) * 1000, 1)}  # fmt: skip
    _ORDER_LOG[0].write(json.dumps(line) + "\n")


class PopularUser(PacedUser):
    """The popular-products API: one read a second."""

    weight = max(1, round((1 - PLAN.order_ratio) * 100))
    abstract = PLAN.order_ratio == 1

    @task
    def popular(self) -> None:
        sent = time.time()
        with self.client.get("/api/products/popular?days=3&limit=5",
                             name="/api/products/popular", catch_response=True) as res:  # fmt: skip
            if res.status_code != 200:
                res.failure(f"status {res.status_code}")
            elif not isinstance(res.json(), list):
                res.failure("the answer is not a list")
        log_request("popular", sent, res.status_code or 0)


class ScenarioShape(LoadTestShape):
    """The scenario's arrival-rate stages as user counts (1 user = 1 request/s)."""

    started = False

    def tick(self):
        if not self.started:
            waiting = PROCESS["metrics_port"] and PROCESS["scrape_wait"] and not RUN["scrapes"]
            if waiting and self.get_run_time() < PROCESS["scrape_wait"]:
                return 0, 10.0  # hold until Prometheus has seen the counters at 0
            if waiting:
                sys.stderr.write("locustfile: Prometheus has not scraped the master; going on\n")
            self.started = True
            self.reset_time()
            RUN["started"] = time.time()
            if PLAN.abort_on_fail:
                gevent.spawn(watch_thresholds, self.runner.environment)
        t = self.get_run_time()
        wanted = PLAN.offered_rate(t)
        if wanted is None:
            return None
        users = round(wanted)
        return users, max(10.0, float(users))

"""The target's traffic model in Locust: the users and the shape, wired to the run's settings,
metrics and summary (lab.load.locust_*), the same plan, thresholds and summary as k6.

One user class, each user with a constant pacing of 1 s, so the number of users is the offered
rate; each request goes to one of the target's endpoints, drawn by the plan's mix and rendered
from the endpoint's templates (lab.load.model). ScenarioShape turns the plan's arrival-rate
stages into user counts. Nothing is read at import: Locust's init event reads LOAD_PLAN and the
process's knobs once (lab.load.locust_settings); a bad one stops the run with one line, exit 2.
The master (or the only process) exports Prometheus metrics fed by the `request` event; workers
ship their counts to it in `report_to_master`. At the end the run writes
<results_dir>/locust-summary.json and exits 99 when a threshold failed, as k6 does.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from pathlib import Path

import gevent
import requests
from locust import LoadTestShape, events, task
from locust.contrib.fasthttp import FastHttpUser
from locust.runners import MasterRunner, WorkerRunner
from prometheus_client import CollectorRegistry, start_http_server

# The repository (or compose's /shoplab): the plan's maths and the model live in lab.load.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from knobs import KnobError
from lab.load import model
from lab.load.locust_metrics import Counts, Exporter
from lab.load.locust_settings import LocustSettings
from lab.load.locust_summary import one_line, summary, thresholds


class Run:
    """The run's state in this process: settings (set at init), ids, clock, outcome."""

    settings: LocustSettings | None = None
    spans: dict[str, tuple[int, int]] = {}
    started: float | None = None
    ended: float | None = None
    aborted: list[str] | None = None
    scrapes = 0
    counts = Counts()
    log = None  # the run log, opened on first use
    mix: model.Mix | None = None  # the endpoints interleaved in their shares, on first use

    @classmethod
    def seconds(cls) -> float:
        ended = cls.ended or time.time()
        return max(0.001, ended - (cls.started or ended))


def _scraped() -> None:
    Run.scrapes += 1


@events.init.add_listener
def on_init(environment, **_kw) -> None:
    try:
        Run.settings = LocustSettings.from_env(os.environ)
    except KnobError as exc:
        sys.stderr.write(f"locustfile: {exc}\n")
        raise SystemExit(2) from None
    runner = environment.runner
    if isinstance(runner, WorkerRunner):

        @events.report_to_master.add_listener
        def ship(client_id, data, **_):
            data["shoplab_counts"] = Run.counts.take()

        return
    if isinstance(runner, MasterRunner):

        @events.worker_report.add_listener
        def receive(client_id, data, **_):
            Run.counts.merge(data.get("shoplab_counts", {}))

    s = Run.settings
    if s.metrics_port:
        for endpoint in s.plan.target["endpoints"]:  # series exist at 0 before the first request
            Run.counts.observe(f"{endpoint['method']} {endpoint['name']}", 0, False, count=0)
        registry = CollectorRegistry()
        registry.register(Exporter(Run.counts, s.plan, s.testid, lambda: environment.runner,
                                   lambda: Run.started, _scraped))  # fmt: skip
        start_http_server(s.metrics_port, addr=s.metrics_addr, registry=registry)


@events.request.add_listener
def on_request(request_type, name, response_time, exception, **_kw) -> None:
    Run.counts.observe(f"{request_type} {name}", response_time / 1000, exception is not None)


def _get(session: requests.Session, base: str):
    def get(path: str) -> tuple[int, object]:
        res = session.get(f"{base}{path}", timeout=5)
        try:
            return res.status_code, res.json()
        except ValueError:
            return res.status_code, None

    return get


@events.test_start.add_listener
def on_test_start(environment, **_kw) -> None:
    if isinstance(environment.runner, MasterRunner):
        Run.started = time.time()
        return
    if Run.started is None:
        Run.started = time.time()
    plan = Run.settings.plan
    host = (environment.host or plan.base_url).rstrip("/")
    try:
        Run.spans = model.discover(_get(requests.Session(), host), plan.target["ids"])
    except (model.DiscoveryError, requests.RequestException, ValueError) as exc:
        sys.stderr.write(f"locustfile: cannot discover ids: {exc}\n")
        Run.aborted = [f"cannot discover ids: {exc}"]
        environment.process_exit_code = 2
        environment.runner.quit()


@events.test_stop.add_listener
def on_test_stop(environment, **_kw) -> None:
    if Run.ended is None and not isinstance(environment.runner, WorkerRunner):
        Run.ended = time.time()


@events.quitting.add_listener
def on_quitting(environment, **_kw) -> None:
    if isinstance(environment.runner, WorkerRunner) or Run.started is None:
        return
    Run.ended = Run.ended or time.time()
    s = Run.settings
    out = summary(s.plan, environment.stats, testid=s.testid, seconds=Run.seconds(),
                  started=Run.started, aborted=Run.aborted)  # fmt: skip
    if s.results_dir:
        path = Path(s.results_dir) / "locust-summary.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(out, indent=2) + "\n")
    print(one_line(out), flush=True)
    if s.metrics_port and s.scrape_wait:
        wait_for_scrape(s.scrape_wait)
    if environment.process_exit_code is None or environment.process_exit_code == 0:
        environment.process_exit_code = 0 if out["passed"] else 99


def wait_for_scrape(limit: float) -> bool:
    """Block (cooperatively) until Prometheus scrapes the master once more, or `limit` s."""
    seen, deadline = Run.scrapes, time.monotonic() + limit
    while Run.scrapes == seen and time.monotonic() < deadline:
        gevent.sleep(0.2)
    return Run.scrapes != seen


def watch_thresholds(environment) -> None:
    """abortOnFail: stop a load or soak run as soon as a threshold fails (after the ramp)."""
    plan = Run.settings.plan
    gevent.sleep(plan.abort_delay_s)
    while Run.ended is None:
        failed = [t["name"] for t in thresholds(plan, environment.stats, Run.seconds(), False)
                  if not t["pass"]]  # fmt: skip
        if failed:
            Run.aborted = failed
            sys.stderr.write(f"locustfile: threshold failed, aborting: {'; '.join(failed)}\n")
            environment.runner.quit()
            return
        gevent.sleep(2)


def log_request(endpoint: str, sent: float, status: int, fields: dict) -> None:
    """One line per request in <results_dir>/orders.jsonl (the same file k6 writes): the
    endpoint's run-log fields (what the audit reconciles), `t` (epoch s when sent) and `ms`
    (what `make chaos` times). Workers append to it too: a line is one write, under O_APPEND."""
    results = Run.settings.results_dir
    if not results:
        return
    if Run.log is None:
        path = Path(results) / "orders.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        Run.log = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115
    line = {"endpoint": endpoint, "status": status, "t": round(sent, 3),
            "ms": round((time.time() - sent) * 1000, 1), **fields}  # fmt: skip
    Run.log.write(json.dumps(line) + "\n")


class TargetUser(FastHttpUser):
    """Constant pacing of one request a second, each user at its own random phase, each request
    to an endpoint of the mix.

    Users spawned in the same instant must not fire in the same instant (200 users would be one
    burst of 200 requests each second, and its queueing would be measured as latency).
    Locust's constant_pacing keeps the phase of the spawn time, so the pacing is done here:
    a random first delay, then a fixed 1 s grid; a user that falls behind skips ahead rather
    than firing a catch-up burst.
    """

    _next = 0.0

    def on_start(self) -> None:
        gevent.sleep(random.random())
        self._next = time.monotonic()

    def wait_time(self) -> float:
        now = time.monotonic()
        self._next = max(self._next + 1.0, now)
        return self._next - now

    @task
    def send(self) -> None:
        plan = Run.settings.plan
        if Run.mix is None:
            Run.mix = model.Mix(plan.mix, plan.target["endpoints"], random)
        endpoint = Run.mix.next()
        draw = model.Draw(Run.spans, plan.target.get("hot"), plan.hot_users, plan.hot_ratio)
        req = model.build(endpoint, draw)
        sent = time.time()
        with self.client.request(endpoint["method"], req.path, data=req.data, headers=req.headers,
                                 name=endpoint["name"], catch_response=True) as res:  # fmt: skip
            ok = res.status_code in endpoint["expect"]
            fields = model.log_fields(req, ok, res.json)
            missing = [f for f, src in endpoint["log"].items()
                       if src.startswith("answer.") and fields.get(f) is None]  # fmt: skip
            if not ok:
                res.failure(f"status {res.status_code}")
            elif missing:
                res.failure(f"no {missing[0]} in the answer")
        log_request(endpoint["name"], sent, res.status_code or 0, fields)


class ScenarioShape(LoadTestShape):
    """The scenario's arrival-rate stages as user counts (1 user = 1 request/s)."""

    started = False

    def tick(self):
        s = Run.settings
        if not self.started:
            waiting = s.metrics_port and s.scrape_wait and not Run.scrapes
            if waiting and self.get_run_time() < s.scrape_wait:
                return 0, 10.0  # hold until Prometheus has seen the counters at 0
            if waiting:
                sys.stderr.write("locustfile: Prometheus has not scraped the master; going on\n")
            self.started = True
            self.reset_time()
            Run.started = time.time()
            if s.plan.abort_on_fail:
                gevent.spawn(watch_thresholds, self.runner.environment)
        wanted = s.plan.offered_rate(self.get_run_time())
        if wanted is None:
            return None
        users = round(wanted)
        return users, max(10.0, float(users))

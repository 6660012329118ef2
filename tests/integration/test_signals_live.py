"""The vocabulary on a real Prometheus: the generated load rules turn a Locust exporter's series
into the tool-neutral load:* series, the verdict's window queries read them back, and the one
client answers "no data" the same way whether the series, the number or Prometheus is missing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from signals.build import RULES_DIR
from signals.client import Prometheus, PrometheusError
from signals.load import verdict_queries
from stack.processes import free_port

pytestmark = pytest.mark.integration
TESTID = "locust-load-20260101-000000"
# The shop's endpoints as our locustfile names its requests: the endpoint's name, its method.
METHODS = {"orders": "POST", "popular": "GET"}


class LocustExporter:
    """The series our locustfile's exporter serves, as prometheus_client writes them."""

    def __init__(self, registry: CollectorRegistry):
        labels = ["testid", "method", "name"]
        self.requests = Counter("locust_requests", "sent", labels, registry=registry)
        self.failures = Counter("locust_failures", "failed", labels, registry=registry)
        self.duration = Histogram("locust_request_duration_seconds", "time", labels,
                                  buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 10),
                                  registry=registry)  # fmt: skip
        self.stage = Gauge("locust_loadtest_stage", "stage", ["testid"], registry=registry)
        self.target = Gauge("locust_target_tps", "target", ["testid", "scenario"],
                            registry=registry)  # fmt: skip
        self.users = Gauge("locust_users", "users", ["testid"], registry=registry)
        self.slo = Gauge("locust_slo_p95_seconds", "slo", ["testid", "endpoint"],
                         registry=registry)  # fmt: skip
        for name, method in METHODS.items():  # every series from the start, as the exporter does
            self.requests.labels(TESTID, method, name)
            self.failures.labels(TESTID, method, name)
            self.duration.labels(TESTID, method, name)

    def send(self, endpoint: str, count: int, seconds: float, failed: int = 0) -> None:
        labels = (TESTID, METHODS[endpoint], endpoint)
        self.requests.labels(*labels).inc(count)
        self.failures.labels(*labels).inc(failed)
        for _ in range(count):
            self.duration.labels(*labels).observe(seconds)


@pytest.fixture
def locust_target() -> Iterator[tuple[str, LocustExporter]]:
    registry = CollectorRegistry()
    exporter = LocustExporter(registry)
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    yield f"127.0.0.1:{port}", exporter
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def prometheus(make_prometheus, locust_target) -> tuple[Prometheus, LocustExporter]:
    target, exporter = locust_target
    server = make_prometheus({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES_DIR / "load.rules.yml")],
        "scrape_configs": [{"job_name": "locust", "static_configs": [{"targets": [target]}]}],
    })  # fmt: skip
    return Prometheus(server.url), exporter


def test_locust_series_become_the_load_vocabulary_and_the_verdict_reads_them(prometheus):
    client, exporter = prometheus
    exporter.stage.labels(TESTID).set(2)
    exporter.target.labels(TESTID, "load").set(40)
    exporter.users.labels(TESTID).set(40)
    exporter.slo.labels(TESTID, "orders").set(0.2)
    client.wait_for(f'locust_requests_total{{testid="{TESTID}"}}', timeout=30)
    exporter.send("orders", 100, 0.08, failed=10)
    exporter.send("popular", 100, 0.02)

    run = f'tool="locust",testid="{TESTID}"'
    client.wait_for(f'load:requests:rate1m{{{run},endpoint="popular",outcome="ok"}} > 0', 30)
    client.wait_for(f'load:requests_total:sum{{{run},outcome="ok"}} > 0', 30)
    assert client.value(f"load:stage{{{run}}}") == 2
    assert client.value(f'load:target_tps{{{run},scenario="load"}}') == 40
    assert client.value(f"load:offered_tps:rate1m{{{run}}}") == 40
    assert client.value(f'load:slo_p95_seconds{{{run},endpoint="orders"}}') == 0.2
    totals = {
        (s["metric"]["endpoint"], s["metric"]["outcome"]): s["values"][-1][1]
        for s in client.query_range(f"load:requests_total:sum{{{run}}}", *_last(client), 1)
    }
    assert totals == {("orders", "ok"): 90, ("orders", "error"): 10, ("popular", "ok"): 100,
                      ("popular", "error"): 0}  # fmt: skip
    client.wait_for(f"load:error_ratio:rate1m{{{run}}} > 0", 30)
    assert client.value(f"load:error_ratio:rate1m{{{run}}}") == pytest.approx(0.05, rel=0.01)

    queries = verdict_queries("locust", TESTID, 60, tuple(METHODS))
    figures = {name: client.value(expr) for name, expr in queries.items()}
    assert figures["errors"] == pytest.approx(0.05, rel=0.01)
    assert figures["dropped"] == 0
    assert figures["rate"] > 0
    # Bucket-interpolated: orders all in (0.05, 0.1], popular in (0.01, 0.025].
    assert figures["orders_p95"] == pytest.approx(97.5, rel=0.01)
    assert figures["popular_p95"] == pytest.approx(24.25, rel=0.01)
    assert client.label_values("tool", "load:stage") == ["locust"]


def _last(client: Prometheus) -> tuple[float, float]:
    now = client.value("time()")
    return now - 5, now


def test_the_client_says_no_data_for_absent_nan_and_a_missing_prometheus(prometheus):
    client, _exporter = prometheus
    assert client.ready()
    assert client.value("vector(3)") == 3
    assert client.value("scalar(vector(4))") == 4
    assert client.value("no_such_metric_anywhere") is None
    assert client.value("vector(0) / 0") is None  # NaN
    now = client.value("time()")
    assert [v for _t, v in client.series("vector(2)", now - 4, now, 1)] == [2.0] * 5
    assert client.series("no_such_metric_anywhere", now - 4, now, 1) == []
    with pytest.raises(PrometheusError):
        client.value("sum(")
    with pytest.raises(TimeoutError, match="no_such_metric_anywhere"):
        client.wait_for("no_such_metric_anywhere", timeout=1)

    gone = Prometheus(f"http://127.0.0.1:{free_port()}", timeout=2)
    assert not gone.ready()
    assert gone.value("vector(1)") is None
    assert gone.series("vector(1)", now - 4, now, 1) == []
    assert gone.query_range("vector(1)", now - 4, now, 1) == []
    assert gone.label_values("job") == []

"""The Spring shop under test: its jar run as the stack runs it, and a client that answers like
Flask's test client, so one test can hold both shops to the same contract."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import requests
from mirakuru import HTTPExecutor
from prometheus_client.parser import text_string_to_metric_families

from stack.services import SPRING_SHOP_JAR, spring_shop_jvm
from tests.harness.servers import LOOPBACK, _Server, free_port

# SIGTERM: Spring Boot drains and the JVM exits 128 + 15.
EXIT_ON_SIGTERM = 143


class HttpResponse:
    """A requests response with the Flask test response's reading methods."""

    def __init__(self, response: requests.Response):
        self.raw = response
        self.status_code = response.status_code
        self.headers = response.headers

    @property
    def is_json(self) -> bool:
        return self.headers.get("Content-Type", "").split(";")[0].strip() == "application/json"

    def get_json(self):
        return self.raw.json()

    json = property(get_json)

    def get_data(self, as_text: bool = False):
        return self.raw.text if as_text else self.raw.content


class HttpClient:
    """Flask's test-client calls (`get`, `post(json=, data=, content_type=, headers=)`, ...) over
    HTTP to a running server; a str body goes as UTF-8, as Flask's client sends it."""

    def __init__(self, url: str):
        self.url = url
        self.session = requests.Session()

    def open(self, method: str, path: str, json=None, data=None, content_type=None, headers=None):
        # A header value beyond ASCII goes as its UTF-8 bytes (http.client would refuse the str).
        headers = {k: v if v.isascii() else v.encode() for k, v in (headers or {}).items()}
        if content_type is not None:
            headers["Content-Type"] = content_type
        if isinstance(data, str):
            data = data.encode()
        response = self.session.request(
            method, f"{self.url}{path}", json=json, data=data, headers=headers, timeout=60
        )
        return HttpResponse(response)

    def get(self, path: str, **kwargs):
        return self.open("GET", path, **kwargs)

    def post(self, path: str, **kwargs):
        return self.open("POST", path, **kwargs)

    def delete(self, path: str, **kwargs):
        return self.open("DELETE", path, **kwargs)


@dataclass
class SpringShop(_Server):
    """`java -jar spring-shop.jar` with the stack's JVM flags (stack.services.spring_shop_jvm),
    SHOP_* from `env`, on a free loopback port; ready when `ready_path` answers 200."""

    base_dir: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    host: str = LOOPBACK
    cpus: str = "2"
    memory: str = "1g"
    # Ready when this answers 200 (/healthz for a shop whose Redis is down on purpose).
    ready_path: str = "/readyz"
    executor: HTTPExecutor | None = None
    metrics_path = "/actuator/prometheus"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def log(self) -> Path:
        return self.base_dir / "spring-shop.log"

    def start(self, timeout: float = 180) -> SpringShop:
        if not SPRING_SHOP_JAR.exists():
            raise RuntimeError(f"{SPRING_SHOP_JAR} is missing: run `make setup`")
        self.base_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env, "SHOP_BIND": f"{self.host}:{self.port}"}
        args = ["java", *spring_shop_jvm(self.cpus, self.memory), "-jar", str(SPRING_SHOP_JAR)]
        # The JVM's log to a file: a pipe nobody reads would block it once full.
        command = ["sh", "-c", f'exec "$@" >>{self.log} 2>&1', "spring-shop", *args]
        self.executor = HTTPExecutor(
            command, url=f"{self.url}{self.ready_path}", status="200", timeout=timeout, envvars=env,
            stdout=None, stderr=None,
        )  # fmt: skip
        try:
            self.executor.start()
        except Exception as exc:
            tail = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            self.executor = None
            raise RuntimeError(f"the Spring shop did not become ready: {exc}\n{tail}") from exc
        return self

    def stop(self) -> None:
        if self.executor is not None:
            executor, self.executor = self.executor, None
            executor.stop(expected_returncode=EXIT_ON_SIGTERM)

    def test_client(self) -> HttpClient:
        return HttpClient(self.url)

    def sample_sum(self, name: str) -> float:
        """A metric's samples summed over their labels (0 when absent)."""
        text = requests.get(f"{self.url}{self.metrics_path}", timeout=10).text
        return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
                   if s.name == name)  # fmt: skip

    def sample(self, name: str, labels: dict | None = None) -> float:
        """A metric's current value from its Prometheus scrape (0 when absent)."""
        text = requests.get(f"{self.url}{self.metrics_path}", timeout=10).text
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if s.name == name and s.labels == (labels or {}):
                    return s.value
        return 0.0

"""Single servers of the stack on their own, for the test harness and the benches: one MariaDB,
Redis, Prometheus or shop on a free loopback port in a folder of its own, each with the command
line of the service table (`stack.services`), started and stopped with `stack.processes`."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pymysql
import redis as redis_lib
import requests
import yaml

from stack import processes, services
from stack.processes import LOOPBACK, free_port
from stack.services import Native
from stack.settings import REPO, StackSettings, read_stack_settings


def _settings(base_dir: Path, **ports: int) -> StackSettings:
    """The stack settings that place one service in `base_dir` on its port (the rest of the
    stack's settings are the defaults, the target the default one: a single server reads none
    of them)."""
    return read_stack_settings(
        {"LOCAL_STATE_DIR": str(base_dir), **{k: str(v) for k, v in ports.items()}}
    )


@dataclass
class Server:
    """A process on a port, its output in `log`; a context manager, stopping it twice is
    harmless. Subclasses say how it starts (`start`) and when it is ready."""

    base_dir: Path
    port: int = field(default_factory=free_port, kw_only=True)
    host: str = field(default=LOOPBACK, kw_only=True)
    proc: subprocess.Popen | None = field(default=None, repr=False, kw_only=True)

    @property
    def log(self) -> Path:
        return self.base_dir / "server.log"

    @property
    def pid(self) -> int:
        """The server's own process (it leads its process group)."""
        assert self.proc is not None, f"{type(self).__name__} is not running"
        return self.proc.pid

    def __enter__(self):
        return self

    def __exit__(self, *_exc) -> None:
        self.stop()

    def launch(
        self,
        command: list[str],
        ready,
        timeout: float,
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        """Start `command`, then wait until `ready()`; a server that is not ready in time (or
        exits first) is stopped and NotReady says which, with the end of its log."""
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.proc = processes.start(command, env=env, cwd=cwd, log=self.log)
        what = f"{type(self).__name__} on port {self.port} ready"
        try:
            processes.wait_until(ready, timeout, what, log=self.log,
                                 alive=lambda: not processes.exited(self.proc))  # fmt: skip
        except BaseException:
            self.stop()
            raise

    # How long it may take to exit after SIGTERM before SIGKILL.
    stop_timeout = processes.STOP_TIMEOUT_S

    # SIGTERM to the server alone (it stops what it started), not to its whole group.
    term_leader_only = False

    def stop(self) -> int | None:
        """SIGTERM to its group (or to the server alone), SIGKILL after `stop_timeout`; the
        server's exit code."""
        if self.proc is None:
            return None
        proc, self.proc = self.proc, None
        return processes.stop_group(proc, self.stop_timeout, leader_first=self.term_leader_only)


@dataclass
class MariaDB(Server):
    """MariaDB as the stack runs it (the table's flags), its data under `base_dir`, root
    without a password; `stop()` then `start()` again keeps the data."""

    user: str = "root"
    password: str = ""

    @property
    def _target(self) -> Native:
        return Native(_settings(self.base_dir, LOCAL_MARIADB_PORT=self.port))

    @property
    def datadir(self) -> Path:
        return self._target.state / "mariadb"

    @property
    def error_log(self) -> Path:
        """Where `innodb_print_all_deadlocks` writes every deadlock."""
        return Path(self._target.mysql_error_log)

    def url(self, database: str = "") -> str:
        """SQLAlchemy URL for the pymysql driver."""
        return f"mysql+pymysql://{self.user}@{self.host}:{self.port}/{database}"

    def dsn(self, database: str = "") -> str:
        """Plain DSN (as the InnoDB exporter takes it)."""
        return f"mysql://{self.user}@{self.host}:{self.port}/{database}"

    def connect(self, database: str | None = None, **kwargs) -> pymysql.Connection:
        return pymysql.connect(host=self.host, port=self.port, user=self.user,
                               password=self.password, database=database, autocommit=True,
                               **kwargs)  # fmt: skip

    def _answers_sql(self) -> bool:
        try:
            self.connect(connect_timeout=2).close()
            return True
        except pymysql.err.OperationalError:
            return False

    def start(self, timeout: float = 60) -> MariaDB:
        self.error_log.parent.mkdir(parents=True, exist_ok=True)
        if not (self.datadir / "mysql").exists():
            self.datadir.mkdir(parents=True, exist_ok=True)
            subprocess.run(services.mariadb_install_command(self.datadir), check=True,
                           capture_output=True)  # fmt: skip
        command = services.program_command(services.SERVICES["mysql"], self._target)
        self.launch(command, self._answers_sql, timeout)
        return self


@dataclass
class Redis(Server):
    """Redis as the stack runs it (a cache: nothing saved), in `base_dir`."""

    def url(self, db: int = 0) -> str:
        return f"redis://{self.host}:{self.port}/{db}"

    def _answers_ping(self) -> bool:
        try:
            with redis_lib.Redis(host=self.host, port=self.port, socket_timeout=1) as client:
                return bool(client.ping())
        except redis_lib.RedisError:
            return False

    def start(self, timeout: float = 30) -> Redis:
        target = Native(_settings(self.base_dir, LOCAL_REDIS_PORT=self.port))
        (target.state / "redis").mkdir(parents=True, exist_ok=True)
        command = services.program_command(services.SERVICES["redis"], target)
        self.launch(command, self._answers_ping, timeout)
        return self


@dataclass
class Prometheus(Server):
    """Prometheus as the stack runs it (remote-write receiver, native histograms), given its
    configuration as a mapping."""

    config: dict

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 30) -> Prometheus:
        target = Native(_settings(self.base_dir, LOCAL_PROMETHEUS_PORT=self.port))
        self.base_dir.mkdir(parents=True, exist_ok=True)
        (target.state / "prometheus.yml").write_text(yaml.safe_dump(self.config, sort_keys=False))
        command = services.program_command(services.SERVICES["prometheus"], target)
        self.launch(command, lambda: processes.http_ok(f"{self.url}/-/ready"), timeout)
        return self


@dataclass
class ShopServer(Server):
    """The shop under its server (`python -m shop.serve`, the table's line) with the settings
    environment `env`; ready once every worker has built the app.

    `metrics_dir` False starts it as the README does, with PROMETHEUS_MULTIPROC_DIR unset
    (shop.serve then makes its own folder); True presets it, as the native stack and the
    Dockerfile do.
    """

    env: dict[str, str]
    workers: int = 2
    threads: int = 4
    metrics_dir: bool = True
    # Above shop.serve's own 20 s to drain (its graceful timeout): it must exit by itself,
    # told as an orchestrator tells it (SIGTERM to its main process, which stops its workers).
    stop_timeout = 30.0
    term_leader_only = True

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 30) -> ShopServer:
        env = {**os.environ, **self.env, "SHOP_WORKERS": str(self.workers),
               "SHOP_THREADS": str(self.threads), "SHOP_LOG_LEVEL": "warning"}  # fmt: skip
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        if self.metrics_dir:
            env["PROMETHEUS_MULTIPROC_DIR"] = str(self.base_dir / "metrics")
        target = Native(_settings(self.base_dir, LOCAL_SHOP_REPLICA_PORT=self.port))
        command = services.program_command(services.SERVICES["shop"], target)
        self.launch(command, self._workers_booted, timeout, env=env, cwd=REPO)
        return self

    def worker_pids(self) -> list[int]:
        """The server's worker processes: its main process's children."""
        import psutil

        return [child.pid for child in psutil.Process(self.pid).children()]

    def _workers_booted(self) -> bool:
        return processes.shop_booted(self.url, self.workers, self.threads)

    def stop(self) -> int | None:
        """SIGTERM, as an orchestrator would; the server must exit 0 after draining."""
        code = super().stop()
        if code not in (None, 0):
            raise RuntimeError(f"the shop exited {code} on SIGTERM; the end of its log "
                               f"{self.log}:{processes.last_lines(self.log, 15)}")  # fmt: skip
        return code


# SIGTERM: Spring Boot drains and the JVM exits 128 + 15.
SPRING_EXIT_ON_SIGTERM = 143


@dataclass
class SpringShop(Server):
    """The Spring shop as the stack runs it (`java` with stack.services.spring_shop_jvm, the
    jar `make setup` builds), SHOP_* from `env`; ready when `ready_path` answers 200."""

    env: dict[str, str]
    cpus: str = "2"
    memory: str = "1g"
    # Ready when this answers 200 (/healthz for a shop whose Redis is down on purpose).
    ready_path: str = "/readyz"
    metrics_path = "/actuator/prometheus"
    stop_timeout = 30.0
    term_leader_only = True

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def log(self) -> Path:
        return self.base_dir / "spring-shop.log"

    def start(self, timeout: float = 180) -> SpringShop:
        if not services.SPRING_SHOP_JAR.exists():
            raise RuntimeError(f"{services.SPRING_SHOP_JAR} is missing: run `make setup`")
        env = {**os.environ, **self.env, "SHOP_BIND": f"{self.host}:{self.port}"}
        command = [services.tool("java"), *services.spring_shop_jvm(self.cpus, self.memory),
                   "-jar", str(services.SPRING_SHOP_JAR)]  # fmt: skip
        ready = lambda: processes.http_ok(f"{self.url}{self.ready_path}")  # noqa: E731
        self.launch(command, ready, timeout, env=env, cwd=REPO)
        return self

    def stop(self) -> int | None:
        """SIGTERM to the JVM, which drains and exits 143."""
        code = super().stop()
        if code not in (None, 0, SPRING_EXIT_ON_SIGTERM):
            raise RuntimeError(f"the Spring shop exited {code} on SIGTERM; the end of its log "
                               f"{self.log}:{processes.last_lines(self.log, 15)}")  # fmt: skip
        return code

    def sample_sum(self, name: str) -> float:
        """A metric's samples summed over their labels (0 when absent)."""
        return sum(s.value for s in self._samples() if s.name == name)

    def sample(self, name: str, labels: dict | None = None) -> float:
        """A metric's current value from its Prometheus scrape (0 when absent)."""
        found = [s.value for s in self._samples() if s.name == name and s.labels == (labels or {})]
        return found[0] if found else 0.0

    def _samples(self) -> list:
        from prometheus_client.parser import text_string_to_metric_families

        text = requests.get(f"{self.url}{self.metrics_path}", timeout=10).text
        return [s for family in text_string_to_metric_families(text) for s in family.samples]

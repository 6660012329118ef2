"""Starting and stopping the real servers the tests talk to; no pytest in here."""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import port_for
import pymysql
import yaml
from mirakuru import HTTPExecutor, TCPExecutor
from pytest_redis.executor import RedisExecutor

LOOPBACK = "127.0.0.1"
# The packages' default ports: the harness never takes them, so it can never talk to a
# server it did not start.
DEFAULT_PORTS = frozenset({3306, 6379, 9090, 9093, 9100, 9104, 9113, 9121})


def free_port() -> int:
    """A free loopback port that is none of the well-known defaults."""
    while True:
        port = port_for.select_random()
        if port not in DEFAULT_PORTS:
            return port


def find_binary(*names: str) -> str:
    """The first of `names` on PATH (Debian keeps daemons in /usr/sbin)."""
    for name in names:
        for candidate in (shutil.which(name), shutil.which(name, path="/usr/sbin:/sbin")):
            if candidate:
                return candidate
    raise FileNotFoundError(f"none of {', '.join(names)} found: run `make setup`")


class _Server:
    """A server run by a mirakuru executor; stopping it twice is harmless."""

    executor = None

    def __enter__(self):
        return self

    def __exit__(self, *_exc) -> None:
        self.stop()

    def stop(self) -> None:
        if self.executor is not None:
            executor, self.executor = self.executor, None
            executor.stop()


@dataclass
class MariaDB(_Server):
    """A MariaDB server with its own datadir, on a loopback port, root without password."""

    base_dir: Path
    port: int = field(default_factory=free_port)
    host: str = LOOPBACK
    user: str = "root"
    password: str = ""
    executor: TCPExecutor | None = None

    @property
    def datadir(self) -> Path:
        return self.base_dir / "data"

    @property
    def socket(self) -> Path:
        return self.base_dir / "mysqld.sock"

    @property
    def error_log(self) -> Path:
        """Where `innodb_print_all_deadlocks` writes every deadlock."""
        return self.base_dir / "error.log"

    def url(self, database: str = "") -> str:
        """SQLAlchemy URL for the pymysql driver."""
        return f"mysql+pymysql://{self.user}@{self.host}:{self.port}/{database}"

    def dsn(self, database: str = "") -> str:
        """Plain DSN (as the InnoDB exporter takes it)."""
        return f"mysql://{self.user}@{self.host}:{self.port}/{database}"

    def connect(self, database: str | None = None, **kwargs) -> pymysql.Connection:
        return pymysql.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            database=database,
            autocommit=True,
            **kwargs,
        )

    def server_args(self) -> list[str]:
        return [
            find_binary("mariadbd", "mysqld"),
            "--no-defaults",
            f"--datadir={self.datadir}",
            f"--socket={self.socket}",
            f"--pid-file={self.base_dir / 'mysqld.pid'}",
            f"--tmpdir={self.base_dir}",
            f"--port={self.port}",
            f"--bind-address={self.host}",
            f"--log-error={self.error_log}",
            "--user=root",
            "--skip-name-resolve",
            "--skip-log-bin",
            "--innodb-print-all-deadlocks=ON",
            "--innodb-buffer-pool-size=256M",
            "--innodb-log-file-size=128M",
            # Tests make and drop schemas often; durability per commit only slows them down.
            "--innodb-flush-log-at-trx-commit=2",
            "--innodb-doublewrite=0",
            "--max-connections=500",
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_unicode_ci",
        ]

    def start(self, timeout: float = 60) -> MariaDB:
        self.datadir.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                find_binary("mariadb-install-db", "mysql_install_db"),
                "--no-defaults",
                f"--datadir={self.datadir}",
                "--user=root",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            check=True,
            capture_output=True,
        )
        self.executor = TCPExecutor(
            self.server_args(), host=self.host, port=self.port, timeout=timeout
        )
        try:
            self.executor.start()
        except Exception as exc:
            log = (
                self.error_log.read_text(errors="replace")[-2000:]
                if self.error_log.exists()
                else ""
            )
            raise RuntimeError(f"MariaDB did not start on port {self.port}: {exc}\n{log}") from exc
        self._wait_for_sql(timeout)
        return self

    def _wait_for_sql(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.connect().close()
                return
            except pymysql.err.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


@dataclass
class Redis(_Server):
    """A Redis server on a loopback port, data in its own dir, nothing persisted."""

    base_dir: Path
    port: int = field(default_factory=free_port)
    host: str = LOOPBACK
    executor: RedisExecutor | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://{self.host}:{self.port}/{db}"

    def start(self) -> Redis:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.executor = RedisExecutor(
            executable=find_binary("redis-server"),
            databases=16,
            redis_timeout=30,
            loglevel="warning",
            host=self.host,
            port=self.port,
            save="",
            datadir=self.base_dir,
        )
        self.executor.start()
        return self


@dataclass
class Prometheus(_Server):
    """A Prometheus server given a config (a mapping), with the remote-write receiver on."""

    base_dir: Path
    config: dict
    port: int = field(default_factory=free_port)
    host: str = LOOPBACK
    rule_files: list[Path] = field(default_factory=list)
    executor: HTTPExecutor | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def config_file(self) -> Path:
        return self.base_dir / "prometheus.yml"

    def start(self, timeout: float = 30) -> Prometheus:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(yaml.safe_dump(self.config, sort_keys=False))
        args = [
            find_binary("prometheus"),
            f"--config.file={self.config_file}",
            f"--storage.tsdb.path={self.base_dir / 'data'}",
            f"--web.listen-address={self.host}:{self.port}",
            "--web.enable-remote-write-receiver",
            "--web.enable-lifecycle",
            "--enable-feature=native-histograms",
            "--log.level=warn",
        ]
        self.executor = HTTPExecutor(args, url=f"{self.url}/-/ready", status="200", timeout=timeout)
        self.executor.start()
        return self


REPO = Path(__file__).resolve().parents[2]


@dataclass
class ShopServer:
    """The shop under its server (`python -m shop.serve`), with the given settings environment.

    `metrics_dir` False starts it as the README does, with PROMETHEUS_MULTIPROC_DIR unset
    (shop.serve then makes its own folder); True presets it, as the native stack and the
    Dockerfile do.
    """

    base_dir: Path
    env: dict[str, str]
    workers: int = 2
    threads: int = 4
    metrics_dir: bool = True
    port: int = field(default_factory=free_port)
    host: str = LOOPBACK
    executor: HTTPExecutor | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 30) -> ShopServer:
        import os
        import sys

        self.base_dir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            **self.env,
            "SHOP_WORKERS": str(self.workers),
            "SHOP_THREADS": str(self.threads),
            "SHOP_LOG_LEVEL": "warning",
        }
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        if self.metrics_dir:
            env["PROMETHEUS_MULTIPROC_DIR"] = str(self.base_dir / "metrics")
        args = [sys.executable, "-m", "shop.serve", "-b", f"{self.host}:{self.port}"]
        self.executor = HTTPExecutor(
            args, url=f"{self.url}/healthz", status="200", timeout=timeout, envvars=env,
            cwd=str(REPO),
        )  # fmt: skip
        self.executor.start()
        self._wait_for_workers(timeout)
        return self

    def worker_pids(self) -> list[int]:
        """The server's worker processes: its main process's children."""
        import psutil

        return [child.pid for child in psutil.Process(self.executor.process.pid).children()]

    def _wait_for_workers(self, timeout: float) -> None:
        # Every worker has built the app once the pool capacities of all of them are summed
        # on /metrics (one pool of threads + 2 overflow per worker, see shop/serve.py).
        import requests
        from prometheus_client.parser import text_string_to_metric_families

        want = self.workers * (self.threads + 2)
        deadline = time.monotonic() + timeout
        while True:
            response = requests.get(f"{self.url}/metrics", timeout=5)
            capacity = [
                s.value
                for family in text_string_to_metric_families(response.text)
                for s in family.samples
                if s.name == "shop_db_pool_connections" and s.labels == {"state": "capacity"}
            ] if response.status_code == 200 else []  # fmt: skip
            if capacity == [want]:
                return
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"only some of {self.workers} shop workers booted "
                    f"(pool capacity {capacity}, want {want})"
                )
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM, as an orchestrator would; the server must exit 0 after draining."""
        if self.executor is not None:
            executor, self.executor = self.executor, None
            executor.stop(expected_returncode=0)

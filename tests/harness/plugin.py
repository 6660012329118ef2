"""pytest fixtures for the real servers, and the check that a run leaves nothing behind."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
import redis as redis_lib

from stack.ephemeral import MariaDB, Prometheus, Redis

ROOT_PREFIX = "shoplab-test-"


def _leftover_dirs() -> list[str]:
    tmp = Path(tempfile.gettempdir())
    return sorted(str(p) for p in tmp.glob(f"{ROOT_PREFIX}{os.getpid()}-*"))


def _leftover_children() -> list[str]:
    return [
        f"{child.pid} {' '.join(child.cmdline()[:2])}"
        for child in psutil.Process().children(recursive=True)
        if child.is_running() and child.status() != psutil.STATUS_ZOMBIE
    ]


@pytest.fixture(scope="session")
def harness_root() -> Iterator[Path]:
    """One temporary folder per test session; every server keeps its files below it."""
    root = Path(tempfile.mkdtemp(prefix=f"{ROOT_PREFIX}{os.getpid()}-"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def mariadb(harness_root: Path) -> Iterator[MariaDB]:
    """A MariaDB started for this session, `innodb_print_all_deadlocks=ON`, see `.error_log`."""
    with MariaDB(harness_root / "mariadb").start() as server:
        yield server


@pytest.fixture
def mysql_database(mariadb: MariaDB) -> Iterator[str]:
    """A fresh, empty database for one test, dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with mariadb.connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}`")
    yield name
    with mariadb.connect() as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


@pytest.fixture(scope="session")
def redis_server(harness_root: Path) -> Iterator[Redis]:
    """A Redis started for this session."""
    with Redis(harness_root / "redis").start() as server:
        yield server


@pytest.fixture
def redis_client(redis_server: Redis) -> Iterator[redis_lib.Redis]:
    """A client on an emptied database; emptied again afterwards."""
    client = redis_lib.Redis.from_url(redis_server.url())
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture(scope="session")
def make_prometheus(harness_root: Path) -> Iterator[Callable[[dict], Prometheus]]:
    """Factory: `make_prometheus(config_mapping)` starts a Prometheus with that config.

    Every Prometheus it started is stopped at the end of the session.
    """
    started: list[Prometheus] = []

    def start(config: dict) -> Prometheus:
        server = Prometheus(harness_root / f"prometheus-{len(started)}", config).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if any server process or harness folder outlived the session."""
    children = _leftover_children()
    dirs = _leftover_dirs()
    if not children and not dirs:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    lines = [f"leftover process: {c}" for c in children] + [f"leftover dir: {d}" for d in dirs]
    for line in lines:
        if reporter:
            reporter.write_line(f"HARNESS LEAK: {line}", red=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """A temp folder of this session's own: pytest's shared /tmp/pytest-of-<user> is pruned by
    any other session that starts meanwhile (retention 0), under this one's running tests."""
    if config.option.basetemp is None and not hasattr(config, "workerinput"):
        config.option.basetemp = tempfile.mkdtemp(prefix=f"shoplab-pytest-{os.getpid()}-")
        config.add_cleanup(lambda: shutil.rmtree(config.option.basetemp, ignore_errors=True))

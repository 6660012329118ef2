"""`make local-up` and friends: the stack's processes under honcho, on loopback ports."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import requests

from stack import alert_rules, alertmanager_config, cgroups, services
from stack.prometheus_config import dump, render
from stack.services import ALERTS_FILE, tool
from stack.settings import REPO, StackSettings, StackSettingsError, parse_bytes

CGROUP_NAMES = tuple(services.limited())
# The exporters' least-privilege account (loopback only, a local stack's password).
EXPORTER_USER = "exporter"
EXPORTER_PASSWORD = "exporter"
EXPORTER_GRANTS = (
    f"CREATE USER IF NOT EXISTS '{EXPORTER_USER}'@'127.0.0.1' IDENTIFIED BY '{EXPORTER_PASSWORD}'",
    f"GRANT PROCESS, REPLICATION CLIENT, SELECT ON *.* TO '{EXPORTER_USER}'@'127.0.0.1'",
)


def say(msg: str) -> None:
    print(f"local: {msg}", flush=True)


@dataclass(frozen=True)
class Component:
    name: str
    port_key: str
    command: list[str]
    ready: Callable[[StackSettings], bool]
    path: str = ""  # what a person opens


def _http_ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


def _tcp_ok(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def components(s: StackSettings) -> list[Component]:
    """The native stack's processes, in start order: the rows of `stack.services` that run here."""
    out = []
    for row in services.native_services():
        health = row.health
        if health.path:
            ready = partial(_http_url_ok, key=row.port.local, path=health.path)
        else:
            ready = partial(_tcp_key_ok, key=row.port.local)
        out.append(Component(row.name, row.port.local, services.native_command(row, s), ready,
                             row.open_path))  # fmt: skip
    return out


def _http_url_ok(s: StackSettings, key: str, path: str) -> bool:
    return _http_ok(s.url(key, path))


def _tcp_key_ok(s: StackSettings, key: str) -> bool:
    return _tcp_ok(s.port(key))


def _pid_file(s: StackSettings) -> Path:
    return s.state_dir / "honcho.pid"


def supervisor_pid(s: StackSettings) -> int | None:
    """honcho's pid while the stack runs (everything the stack started descends from it)."""
    try:
        pid = int(_pid_file(s).read_text())
        os.kill(pid, 0)
        return pid
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None


def _prepare(s: StackSettings, alerting: alertmanager_config.AlertmanagerSettings) -> None:
    state = s.state_dir
    for sub in ("logs", "redis", "prometheus", "alertmanager", "shop-metrics"):
        (state / sub).mkdir(parents=True, exist_ok=True)
    for old in (state / "shop-metrics").glob("*.db"):
        old.unlink()
    rules_dir = alert_rules.RULES_DIR
    if s.alert_for_max is not None:
        rules_dir = alert_rules.cap_for(rules_dir, state / "rules", s.alert_for_max)
        say(f"alert rules: every `for:` capped at {s.alert_for_max}s (LOCAL_ALERT_FOR_MAX)")
    native = render("native", s, rules_dir=str(rules_dir))
    (state / "prometheus.yml").write_text(dump(native))
    (state / "alertmanager.yml").write_text(
        alertmanager_config.dump(alertmanager_config.native(s, alerting))
    )
    locust_sd = state / "locust.json"
    if not locust_sd.exists():
        locust_sd.write_text("[]\n")
    (state / "mysqld-exporter.cnf").write_text(
        f"[client]\nuser={EXPORTER_USER}\npassword={EXPORTER_PASSWORD}\nhost=127.0.0.1\n"
        f"port={s.port('LOCAL_MARIADB_PORT')}\n"
    )
    if not (state / "mariadb" / "mysql").exists():
        say("initialising MariaDB data directory")
        (state / "mariadb").mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                tool("mariadb-install-db"),
                "--no-defaults",
                f"--datadir={state / 'mariadb'}",
                "--user=root",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            check=True,
            capture_output=True,
        )


def _procfile(s: StackSettings) -> Path:
    lines = []
    for c in components(s):
        log = s.state_dir / "logs" / f"{c.name}.log"
        cmd = " ".join(shlex.quote(part) for part in c.command)
        lines.append(f"{c.name}: exec {cmd} >>{shlex.quote(str(log))} 2>&1")
    path = s.state_dir / "Procfile"
    path.write_text("\n".join(lines) + "\n")
    return path


def _seed(s: StackSettings) -> None:
    env = {**os.environ, "SHOP_DATABASE_URL": s.database_url, "SHOP_REDIS_URL": s.redis_url}
    import pymysql

    with pymysql.connect(host="127.0.0.1", port=s.port("LOCAL_MARIADB_PORT"), user="root") as c:
        cur = c.cursor()
        cur.execute("CREATE DATABASE IF NOT EXISTS shop")
        for statement in EXPORTER_GRANTS:
            cur.execute(statement)
    flask = [sys.executable, "-m", "flask", "--app", "shop"]
    subprocess.run(flask + ["init-db"], env=env, check=True, capture_output=True, cwd=REPO)
    with pymysql.connect(
        host="127.0.0.1", port=s.port("LOCAL_MARIADB_PORT"), user="root", database="shop"
    ) as c:
        cur = c.cursor()
        cur.execute("SELECT COUNT(*) FROM orders")
        have_orders = cur.fetchone()[0]
    orders = "0" if have_orders else s.values["LOCAL_SEED_ORDERS"]
    out = subprocess.run(
        flask
        + services.seed_args(s.values["LOCAL_SEED_USERS"], s.values["LOCAL_SEED_PRODUCTS"], orders),
        env=env,
        check=True,
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    say(out.stdout.strip().splitlines()[-2] if out.stdout.strip() else "seeded")


def _wait_ready(
    s: StackSettings, names: list[str], timeout: float, alive: Callable[[], bool]
) -> list[str]:
    pending = {c.name: c for c in components(s) if c.name in names}
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline and alive():
        for name, c in list(pending.items()):
            if c.ready(s):
                say(f"{name:16s} ready  {s.url(c.port_key, c.path)}")
                del pending[name]
        if pending:
            time.sleep(0.3)
    return list(pending)


def up(s: StackSettings, timeout: float = 90, environ: Mapping[str, str] | None = None) -> int:
    """Start the stack of `s`; 0 when every process is ready. `environ` (default: this process's)
    holds the ALERTMANAGER_* notification settings."""
    if supervisor_pid(s):
        say(f"already running (honcho pid {supervisor_pid(s)}); `make local-status`")
        return 0
    try:
        alerting = alertmanager_config.AlertmanagerSettings.from_env(
            os.environ if environ is None else environ
        )
    except StackSettingsError as exc:
        say(f"configuration error: {exc}")
        return 2
    reason = cgroups.unavailable_reason()
    if reason:
        say(f"container limits off: {reason}; shop and MariaDB run without cgroups")
    else:
        for name in CGROUP_NAMES:
            limits = services.SERVICES[name].limits
            cgroups.create(s.cgroup(name), s.number(limits.cpus),
                           parse_bytes(limits.memory, s.values[limits.memory]))  # fmt: skip
        names = " and ".join(f"shoplab/{s.cgroup(n)}" for n in CGROUP_NAMES)
        say(f"container limits on: cgroups {names} (cgroup v1)")
    _prepare(s, alerting)
    procfile = _procfile(s)
    say(f"starting {len(components(s))} processes under honcho (logs: {s.state_dir / 'logs'})")
    with open(s.state_dir / "logs" / "honcho.log", "ab") as log:
        proc = subprocess.Popen(
            [tool("honcho"), "start", "-f", str(procfile), "-d", str(REPO)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=REPO,
        )
    _pid_file(s).write_text(str(proc.pid))
    alive = lambda: proc.poll() is None  # noqa: E731  honcho stops all when one process dies
    failed = _wait_ready(s, ["mysql", "redis"], timeout, alive)
    if not failed:
        _seed(s)
        rest = [c.name for c in components(s) if c.name not in ("mysql", "redis")]
        failed = _wait_ready(s, rest, timeout, alive)
    if failed:
        if not alive():
            say("honcho stopped: a process exited (see below); everything it started is down")
        for name in failed:
            say(f"{name} is NOT ready; its log: {s.state_dir / 'logs' / (name + '.log')}")
        say(f"honcho's log: {s.state_dir / 'logs' / 'honcho.log'}; stop with `make local-down`")
        return 1
    say(
        f"all up. Prometheus {s.url('LOCAL_PROMETHEUS_PORT')}  shop {s.url('LOCAL_SHOP_PORT')}  "
        f"stop with `make local-down`"
    )
    say(f"alerts Alertmanager sends: {s.state_dir / ALERTS_FILE}")
    return 0


def status(s: StackSettings) -> int:
    pid = supervisor_pid(s)
    say(f"honcho: {'running, pid ' + str(pid) if pid else 'not running'}")
    down = 0
    for c in components(s):
        ok = c.ready(s)
        down += not ok
        say(f"{c.name:16s} {'up  ' if ok else 'DOWN'}  {s.url(c.port_key, c.path)}")
    return 0 if down == 0 else 1


def down(s: StackSettings, timeout: float = 30) -> int:
    pid = supervisor_pid(s)
    if pid is None:
        say("not running")
    else:
        say(f"stopping honcho (pid {pid}) and everything it started")
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _group_alive(pid):
            _reap(pid)
            time.sleep(0.2)
        if _group_alive(pid):
            say("some processes ignored SIGTERM: killing them")
            os.killpg(pid, signal.SIGKILL)
    _pid_file(s).unlink(missing_ok=True)
    cgroups.remove([s.cgroup(name) for name in CGROUP_NAMES])
    busy = [c.name for c in components(s) if _tcp_ok(s.port(c.port_key))]
    if busy:
        say(f"still listening: {', '.join(busy)}")
        return 1
    say("stopped; no port of the stack is listening")
    return 0


def _reap(pid: int) -> None:
    """Collect honcho's exit status when `up` ran in this process: until then it is a zombie
    that keeps its process group alive."""
    # Started by another process (`make local-up`): its parent reaps it.
    with suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


class StackStartError(RuntimeError):
    """The native stack did not come up; `up` said why, with the logs to read."""


@contextmanager
def running(
    s: StackSettings, timeout: float = 90, environ: Mapping[str, str] | None = None
) -> Iterator[StackSettings]:
    """The native stack of `s`, up for the body of a `with`, and always down after it (also when
    it did not come up: `down` stops whatever part of it started). `environ` as for `up`."""
    try:
        if up(s, timeout, environ) != 0:
            raise StackStartError(f"the native stack in {s.state_dir} did not come up")
        yield s
    finally:
        down(s)


def reset(s: StackSettings) -> int:
    rc = down(s)
    shutil.rmtree(s.state_dir, ignore_errors=True)
    say(f"removed {s.state_dir}: the next `make local-up` starts from fresh data")
    return rc


def describe(s: StackSettings) -> str:
    return json.dumps({c.name: s.url(c.port_key) for c in components(s)}, indent=2)

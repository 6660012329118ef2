"""`make local-up` and friends: the stack's processes under honcho, on loopback ports."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from stack import (
    accounts,
    alert_rules,
    alertmanager_config,
    balancer,
    cgroups,
    keeper,
    processes,
    services,
)
from stack.prometheus_config import dump, render
from stack.services import ALERTS_FILE, Native, tool
from stack.settings import REPO, StackSettings, StackSettingsError, read_stack_settings
from targets import find_target


def mysqld_exporter_cnf(s: StackSettings) -> str:
    """Debian's mysqld_exporter (0.14) takes its account from a my.cnf only: the stack's own
    account on its MariaDB, or the target's DSN for a service the user runs."""
    dsn = s.target.dsn
    if dsn is not None:
        return (f"[client]\nuser={dsn.user}\npassword={dsn.password}\nhost={dsn.host}\n"
                f"port={dsn.port}\n")  # fmt: skip
    user, password = accounts.MYSQLD_EXPORTER.user, accounts.MYSQLD_EXPORTER.password
    return (f"[client]\nuser={user}\npassword={password}\nhost={accounts.NATIVE_HOST}\n"
            f"port={s.port('LOCAL_MARIADB_PORT')}\n")  # fmt: skip


def say(msg: str) -> None:
    print(f"local: {msg}", flush=True)


@dataclass(frozen=True)
class Component:
    name: str
    port: int
    command: list[str]
    ready: Callable[[StackSettings], bool]
    path: str = ""  # what a person opens
    cgroup: str = ""  # under shoplab/, for a process with limits
    restartable: bool = False  # a fault of `make chaos` may hold it down (services.Service)

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def components(s: StackSettings) -> list[Component]:
    """The native stack's processes, in start order: the rows of `stack.services` that run
    here, a replicated row once per replica (`shop-1`, `shop-2`, ...)."""
    out = []
    for process in services.native_processes(s):
        row, port = process.row, process.port(s)
        if row.health.path:
            ready = partial(_http_port_ok, port=port, path=row.health.path)
        else:
            ready = partial(_tcp_port_ok, port=port)
        cgroup = s.cgroup(process.name) if row.limits else ""
        out.append(Component(process.name, port, services.native_command(process, s), ready,
                             row.open_path, cgroup, row.restartable))  # fmt: skip
    return out


def _http_port_ok(_s: StackSettings, port: int, path: str) -> bool:
    return processes.http_ok(f"http://127.0.0.1:{port}{path}")


def _tcp_port_ok(_s: StackSettings, port: int) -> bool:
    return processes.tcp_open(port)


def _pid_file(s: StackSettings) -> Path:
    return s.state_dir / "honcho.pid"


def _started_file(s: StackSettings) -> Path:
    """What `up` started (name, port, cgroup of each process): `down` stops and checks exactly
    that, even when run with other settings (another LOCAL_SHOP_REPLICAS)."""
    return s.state_dir / "started.json"


def _started(s: StackSettings) -> list[dict]:
    try:
        return json.loads(_started_file(s).read_text())["processes"]
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return [{"name": c.name, "port": c.port, "cgroup": c.cgroup} for c in components(s)]


def _record_started(s: StackSettings) -> None:
    processes_ = [{"name": c.name, "port": c.port, "cgroup": c.cgroup} for c in components(s)]
    target = str(s.target.source or s.target.name)
    _started_file(s).write_text(
        json.dumps({"settings": s.values, "target": target, "processes": processes_})
    )


def running_settings(s: StackSettings) -> StackSettings | None:
    """The settings the stack in `s`'s state dir runs with now (as `up` or the last `switch`
    recorded them); None when it does not run, or did not record them."""
    if supervisor_pid(s) is None:
        return None
    try:
        recorded = json.loads(_started_file(s).read_text())
        target = find_target({"TARGET": recorded["target"]})
        return StackSettings(recorded["settings"], target, s.default_state_dir)
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None


def supervisor_pid(s: StackSettings) -> int | None:
    """honcho's pid while the stack runs (everything the stack started descends from it): the
    pid in its file, while that process is still this stack's honcho (pids wrap around: a
    process of somebody else's may have it by now)."""
    try:
        pid = int(_pid_file(s).read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    return pid if str(_procfile_path(s)).encode() in cmdline else None


def _prepare(s: StackSettings, alerting: alertmanager_config.AlertmanagerSettings) -> None:
    state = s.state_dir
    for sub in ("logs", "redis", "prometheus", "alertmanager", "shop-metrics"):
        (state / sub).mkdir(parents=True, exist_ok=True)
    # Each replica's metrics folder (shop-metrics/shop-N) is emptied by its server before its
    # workers start (shop.serve.prepare_environment), once the replica's last run has exited.
    rules_dir = alert_rules.RULES_DIR
    if s.alert_for_max is not None:
        rules_dir = alert_rules.cap_for(rules_dir, state / "rules", s.alert_for_max)
        say(f"alert rules: every `for:` capped at {s.alert_for_max}s, and Alertmanager's "
            "group_wait and group_interval (LOCAL_ALERT_FOR_MAX)")  # fmt: skip
    native = render("native", s, rules_dir=str(rules_dir))
    (state / "prometheus.yml").write_text(dump(native))
    (state / "alertmanager.yml").write_text(
        alertmanager_config.dump(alertmanager_config.native(s, alerting))
    )
    (state / "nginx").mkdir(exist_ok=True)
    (state / "nginx.conf").write_text(balancer.render(services.nginx_balancer(Native(s))))
    locust_sd = state / "locust.json"
    if not locust_sd.exists():
        locust_sd.write_text("[]\n")
    (state / "mysqld-exporter.cnf").write_text(mysqld_exporter_cnf(s))
    if not s.target.external and not (state / "mariadb" / "mysql").exists():
        say("initialising MariaDB data directory")
        (state / "mariadb").mkdir(parents=True, exist_ok=True)
        subprocess.run(services.mariadb_install_command(state / "mariadb"), check=True,
                       capture_output=True)  # fmt: skip


def running_target(s: StackSettings) -> str | None:
    """The target file the running stack of `s` serves (or watches), None when it is down."""
    if supervisor_pid(s) is None:
        return None
    try:
        return json.loads(_started_file(s).read_text()).get("target")
    except (FileNotFoundError, ValueError, AttributeError):
        return None


def hold_file(s: StackSettings, name: str) -> Path:
    """While this file exists, a restartable service that exits waits, then starts again (a
    fault of `make chaos` holds it down); without it, its exit stops the stack as any other."""
    return s.state_dir / "hold" / name


def _procfile(s: StackSettings) -> Path:
    lines = []
    (s.state_dir / "hold").mkdir(parents=True, exist_ok=True)
    for stale in (s.state_dir / "hold").iterdir():  # a fault's, from a run that was killed
        stale.unlink()
    shutil.rmtree(services.keeper_folder(s), ignore_errors=True)  # a switch's, before a restart
    for c in components(s):
        log = s.state_dir / "logs" / f"{c.name}.log"
        cmd = " ".join(shlex.quote(part) for part in c.command)
        run = f"{cmd} >>{shlex.quote(str(log))} 2>&1"
        if c.restartable:
            hold = shlex.quote(str(hold_file(s, c.name)))
            # The trap makes the shell wait for its child on honcho's SIGTERM (sent to the whole
            # group) before it exits, so a stop still ends with the service down.
            lines.append(f"{c.name}: trap 'exit 143' TERM; while :; do {run}; rc=$?; "
                         f"[ -e {hold} ] || exit $rc; while [ -e {hold} ]; do sleep 0.2; done; "
                         "done")  # fmt: skip
        else:
            lines.append(f"{c.name}: exec {run}")
    path = _procfile_path(s)
    path.write_text("\n".join(lines) + "\n")
    return path


def _procfile_path(s: StackSettings) -> Path:
    return s.state_dir / "Procfile"


def _seed(s: StackSettings) -> None:
    env = {**os.environ, "SHOP_DATABASE_URL": s.database_url, "SHOP_REDIS_URL": s.redis_url}
    import pymysql

    with pymysql.connect(host="127.0.0.1", port=s.port("LOCAL_MARIADB_PORT"), user="root") as c:
        cur = c.cursor()
        cur.execute("CREATE DATABASE IF NOT EXISTS shop")
        for statement in accounts.native_statements():
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
                say(f"{name:16s} ready  {c.url(c.path)}")
                del pending[name]
        if pending:
            time.sleep(0.3)
    return list(pending)


def _first_exit(honcho_log: Path) -> str:
    """The process whose exit made honcho stop the stack (honcho logs `<name>.1 stopped`)."""
    if not honcho_log.exists():
        return ""
    for line in honcho_log.read_text(errors="replace").splitlines():
        # 19:07:10 system            | redis-exporter.1 stopped (rc=-15)
        match = re.search(r"\| (\S+)\.\d+ stopped \(rc=", line)
        if match:
            return match[1]
    return ""


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
        limited = [p for p in services.native_processes(s) if p.row.limits]
        for p in limited:
            limits = p.row.limits
            cgroups.create(s.cgroup(p.name), s.number(limits.cpus), s.memory_bytes(limits.memory))
        names = ", ".join(f"shoplab/{s.cgroup(p.name)}" for p in limited)
        say(f"container limits on: cgroups {names} (cgroup v1)")
    _prepare(s, alerting)
    procfile = _procfile(s)
    say(f"starting {len(components(s))} processes under honcho (logs: {s.state_dir / 'logs'})")
    proc = processes.start([tool("honcho"), "start", "-f", str(procfile), "-d", str(REPO)],
                           cwd=REPO, log=s.state_dir / "logs" / "honcho.log")  # fmt: skip
    _pid_file(s).write_text(str(proc.pid))
    _record_started(s)
    alive = lambda: not processes.exited(proc)  # noqa: E731  honcho stops all when one dies
    backing = [c.name for c in components(s) if c.name in ("mysql", "redis")]
    failed = _wait_ready(s, backing, timeout, alive)
    if not failed:
        if backing:
            _seed(s)
        rest = [c.name for c in components(s) if c.name not in backing]
        if s.replicas > 1:
            say(f"{s.replicas} shop replicas behind nginx on {s.url('LOCAL_SHOP_PORT')}")
        failed = _wait_ready(s, rest, timeout, alive)
    if failed:
        if not alive():
            say("honcho stopped: a process exited (see below); everything it started is down")
            first = _first_exit(s.state_dir / "logs" / "honcho.log")
            if first:
                log = s.state_dir / "logs" / f"{first}.log"
                say(f"the first to exit: {first}; its log: {log}{processes.last_lines(log, 10)}")
        for name in failed:
            log = s.state_dir / "logs" / f"{name}.log"
            say(f"{name} is NOT ready; its log: {log}{processes.last_lines(log)}")
        honcho = s.state_dir / "logs" / "honcho.log"
        say(f"honcho's log: {honcho}{processes.last_lines(honcho)}")
        say("stop with `make local-down`")
        return 1
    app = s.target.url if s.target.external else s.url("LOCAL_SHOP_PORT")
    say(
        f"all up. Prometheus {s.url('LOCAL_PROMETHEUS_PORT')}  {s.target.name} {app}  "
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
        say(f"{c.name:16s} {'up  ' if ok else 'DOWN'}  {c.url(c.path)}")
    return 0 if down == 0 else 1


def down(s: StackSettings, timeout: float = 30) -> int:
    started = _started(s)
    pid = supervisor_pid(s)
    if pid is None:
        say("not running")
    else:
        say(f"stopping honcho (pid {pid}) and everything it started")
        processes.stop_group(pid, timeout, say)
    _pid_file(s).unlink(missing_ok=True)
    cgroups.remove([p["cgroup"] for p in started if p["cgroup"]])
    _started_file(s).unlink(missing_ok=True)
    busy = [p["name"] for p in started if processes.tcp_open(p["port"])]
    if busy:
        say(f"still listening: {', '.join(busy)}")
        return 1
    say("stopped; no port of the stack is listening")
    return 0


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


def _replicas_to_restart(now: StackSettings, wanted: StackSettings) -> list[str] | None:
    """The shop replicas whose command line differs between the two settings, when nothing else
    does (the same target, processes, ports and cgroups, every other command alike); None
    otherwise."""
    if now.target != wanted.target:
        return None  # another app, scraped elsewhere: Prometheus and the exporters change too
    before = {c.name: c for c in components(now)}
    after = {c.name: c for c in components(wanted)}
    if before.keys() != after.keys() or now.state_dir != wanted.state_dir:
        return None
    # `up` makes the cgroups with their limits: new limits need it.
    limits = {knob for p in services.native_processes(wanted) if p.row.limits
              for knob in (p.row.limits.cpus, p.row.limits.memory)}  # fmt: skip
    if any(now.values.get(knob) != wanted.values.get(knob) for knob in limits):
        return None
    differ = [n for n in after if (before[n].command, before[n].port, before[n].cgroup)
              != (after[n].command, after[n].port, after[n].cgroup)]  # fmt: skip
    replicas = {p.name for p in services.native_processes(wanted) if p.replica}
    return differ if set(differ) <= replicas else None


def _restart_replica(s: StackSettings, process: services.NativeProcess, timeout: float) -> None:
    """Its keeper starts the replica again with `s`'s command line; back once it is ready."""
    folder = services.keeper_folder(s)
    state = keeper.state_file(folder, process.name)
    before = json.loads(state.read_text())
    partial = keeper.restart_file(folder, process.name).with_suffix(".tmp")
    partial.write_text(json.dumps(services.kept_command(process, s)))
    partial.replace(keeper.restart_file(folder, process.name))
    os.kill(before["keeper"], signal.SIGHUP)

    def restarted() -> bool:
        try:
            return json.loads(state.read_text())["starts"] > before["starts"]
        except (FileNotFoundError, ValueError, KeyError):
            return False

    # The keeper lets the old server drain first (keeper.STOP_TIMEOUT at most).
    processes.wait_until(restarted, keeper.STOP_TIMEOUT + 5, f"{process.name} restarted")
    url = f"http://127.0.0.1:{process.port(s)}"
    log = s.state_dir / "logs" / f"{process.name}.log"
    if s.target.start != "shop":  # the Spring shop: one JVM, ready when its `ready` path is
        processes.wait_until(lambda: processes.readiness(url, path=s.target.ready) is not None,
                             timeout, f"{process.name} ready", log=log)  # fmt: skip
        return
    workers, threads = int(s.values["LOCAL_SHOP_WORKERS"]), int(s.values["LOCAL_SHOP_THREADS"])
    # Every worker, not the first to answer /readyz: a switch right after this one must not
    # stop a server with a worker still booting (it would wait out its graceful timeout).
    processes.wait_until(lambda: processes.shop_booted(url, workers, threads), timeout,
                         f"{process.name}'s {workers} workers ready", log=log)  # fmt: skip


def switch(s: StackSettings, timeout: float = 90, environ: Mapping[str, str] | None = None) -> int:
    """The stack of `s`'s state dir, running with the settings `s` (`make load STRATEGY=`, the
    e2e tests' shared stack). When only the shop's own knobs change (its order strategy, its
    debug delay), each replica's keeper starts it again with its new command line, one replica
    after the other, and the rest runs on: MariaDB, Redis and Prometheus keep their data and
    their history. Anything else (replicas, limits, sales mode): `down`, then `up` (the data
    kept). 0 once everything is ready; `environ` as for `up`."""
    if supervisor_pid(s) is None:
        return up(s, timeout, environ)
    now = running_settings(s)  # None: started by an older shoplab, which did not record them
    replicas = _replicas_to_restart(now, s) if now else None
    if replicas is None:
        say("these settings change more than the shop: restarting the whole stack (data kept)")
        if down(now or s) != 0:
            return 1
        return up(s, timeout, environ)
    for process in services.native_processes(s):
        if process.name in replicas:
            say(f"{process.name}: starting it again with its new settings")
            try:
                _restart_replica(s, process, timeout)
            except (processes.NotReady, OSError, ValueError, KeyError) as exc:
                # Its keeper runs it with the new command line from now on, ready or not: the
                # record says so, or the next switch to these settings would see nothing to do.
                _record_started(s)
                say(f"{process.name} could not be restarted: {exc}; stop with `make local-down`")
                return 1
    _record_started(s)
    return 1 if _wait_ready(s, ["nginx"], timeout, lambda: True) else 0


@contextmanager
def native_stack(env: Mapping[str, str], timeout: float = 90) -> Iterator[StackSettings]:
    """`running` for the stack an environment describes (its LOCAL_* settings, its ALERTMANAGER_*
    notifications): `make local-up` in-process, always followed by `make local-down`."""
    with running(read_stack_settings(env), timeout, environ=env) as settings:
        yield settings


def reset(s: StackSettings) -> int:
    rc = down(s)
    shutil.rmtree(s.state_dir, ignore_errors=True)
    say(f"removed {s.state_dir}: the next `make local-up` starts from fresh data")
    return rc


def describe(s: StackSettings) -> str:
    return json.dumps({c.name: c.url() for c in components(s)}, indent=2)

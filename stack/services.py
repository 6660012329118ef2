"""The stack's one service table: command lines, ports, limits, environment and health checks,
for compose.yml (`stack.compose_file`) and the native stack's processes (`native_command`)."""

from __future__ import annotations

import math
import shutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from stack import balancer
from stack.accounts import INNODB_EXPORTER, MYSQLD_EXPORTER
from stack.settings import REPO, StackSettings

VENV_BIN = Path(sys.executable).parent
# Measured on the default seed (10k users, 1k products, 20k orders): the shop's tables hold
# 11.7 MB, about 0.5 KB per order with its items and payment. A one-hour soak at 80 % of
# 200 TPS adds at most 576k orders (~290 MB), so 512M keeps the whole data set in memory
# through the longest scenario, while 1G would take a quarter of the 2-CPU / 4 GB box from the
# shop, Redis and Prometheus for pages never read. The test harness's MariaDB runs this same line.
INNODB_BUFFER_POOL = "512M"
# The Spring shop's jar, as `make setup` builds it (scripts/setup.sh), and where its image keeps it.
SPRING_SHOP_JAR = REPO / "spring-shop" / "target" / "spring-shop.jar"
SPRING_SHOP_IMAGE_JAR = "/app/spring-shop.jar"
# In a container the JVM reads its CPU and memory limits itself: only the heap's share is said.
SPRING_SHOP_IMAGE_JVM = ("-XX:MaxRAMPercentage=50", "-XX:+ExitOnOutOfMemoryError")
# Under the state dir: what Alertmanager sent the webhook, one JSON line per alert.
ALERTS_FILE = "alerts.jsonl"


def tool(name: str) -> str:
    """The path of an executable of the native stack: the venv's first, then the system's."""
    for candidate in (VENV_BIN / name, shutil.which(name), shutil.which(name, path="/usr/sbin")):
        if candidate and Path(candidate).exists():
            return str(candidate)
    raise SystemExit(f"local: {name} not found: run `make setup`")


@dataclass(frozen=True)
class Port:
    """Where a service listens: `container` inside compose's network (published on 127.0.0.1
    as ${publish:-published}, `published` defaulting to `container`), the LOCAL_* key of
    stack/local.env natively."""

    local: str
    container: int | None = None  # None: a native-only service
    publish: str = ""
    published: int | None = None


@dataclass(frozen=True)
class Limits:
    """CPUs and memory, as the LOCAL_* keys holding them: compose writes their defaults, the
    native stack applies their current values with a cgroup."""

    cpus: str
    memory: str


@dataclass(frozen=True)
class Health:
    """Ready when `path` answers 200 over HTTP (TCP accepts a connection when no path).

    compose runs `test` if given, else fetches `path` with `probe`: wget (upstream images) or
    python (ours); an image with neither (probe "") gets no healthcheck."""

    path: str = ""
    probe: str = "wget"
    test: tuple[str, ...] = ()
    interval: str = "10s"
    retries: int = 5
    start_period: str = ""


class Where:
    """Where a command line is rendered for: compose (`Compose`) or this machine (`Native`)."""

    native: bool

    def addr(self, name: str) -> str:
        raise NotImplementedError

    def listen(self, name: str) -> str:
        raise NotImplementedError

    def knob(self, compose_var: str, local_key: str) -> str:
        raise NotImplementedError

    @property
    def database_url(self) -> str:
        raise NotImplementedError

    @property
    def redis_url(self) -> str:
        raise NotImplementedError

    @property
    def mysql_error_log(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class Compose(Where):
    """Inside compose's network: services by name on their own ports; knobs from .env, with
    stack/local.env's values as defaults."""

    defaults: Mapping[str, str]
    native = False

    def addr(self, name: str) -> str:
        return f"{name}:{SERVICES[name].port.container}"

    def listen(self, name: str) -> str:
        return f"0.0.0.0:{SERVICES[name].port.container}"

    def knob(self, compose_var: str, local_key: str) -> str:
        return f"${{{compose_var}:-{self.defaults[local_key]}}}"

    @property
    def database_url(self) -> str:
        return f"mysql+pymysql://shop:shop@{self.addr('mysql')}/shop"

    @property
    def redis_url(self) -> str:
        return f"redis://{self.addr('redis')}/0"

    @property
    def mysql_error_log(self) -> str:
        return "/var/log/mysql/error.log"


@dataclass(frozen=True)
class Native(Where):
    """This machine: every service on 127.0.0.1 at its LOCAL_* port, state under the state dir;
    `replica` (1, 2, ...) is the copy of a replicated service being rendered, at its own port."""

    settings: StackSettings
    replica: int = 0
    native = True

    @property
    def state(self) -> Path:
        return self.settings.state_dir

    def addr(self, name: str) -> str:
        if self.replica and SERVICES[name].replicas:
            return f"127.0.0.1:{self.settings.replica_port(self.replica)}"
        return f"127.0.0.1:{self.settings.port(SERVICES[name].port.local)}"

    listen = addr

    def knob(self, compose_var: str, local_key: str) -> str:
        return self.settings.values[local_key]

    @property
    def database_url(self) -> str:
        return self.settings.database_url

    @property
    def redis_url(self) -> str:
        return self.settings.redis_url

    @property
    def mysql_error_log(self) -> str:
        return str(self.state / "logs" / "mariadb-error.log")


def _none(_t: Where) -> list[str]:
    return []


def _no_env(_t: Where) -> dict[str, str]:
    return {}


@dataclass(frozen=True)
class Service:
    """One row of the table. `args` and `env` are written once for both targets; where the two
    legitimately differ (paths, addresses, an engine's own flag) they branch on `t.native`."""

    name: str
    args: Callable[[Where], list[str]] = _none
    env: Callable[[Where], dict[str, str]] = _no_env
    port: Port | None = None
    health: Health | None = None
    limits: Limits | None = None
    # Natively: the executable (a tool name; "python" is this interpreter), or what renders it
    # for a target (a row whose program the target chooses: the Flask or the Spring shop).
    program: tuple[str, ...] | Callable[[Where], tuple[str, ...]] = ()
    # In compose: what `command:` starts with before `args` (empty: the image's entrypoint
    # is the program).
    entry: tuple[str, ...] = ()
    # compose-only keys (image, volumes, depends_on, ...); None: the service is native only.
    compose: dict | None = field(default_factory=dict)
    in_native: bool = True
    # The LOCAL_* knob of how many copies run (natively: a process, a port and a cgroup each;
    # compose: `deploy.replicas`); empty: one, under the service's own name.
    replicas: str = ""
    # Natively: may be stopped and started again by a fault (`make chaos`) while honcho keeps the
    # rest running: a death honcho sees only when no fault holds the service down (runner).
    restartable: bool = False
    open_path: str = ""  # what a person opens natively
    note: str = ""  # the comment above the service in compose.yml
    # (LOCAL_* key, value): natively the row runs only while the knob has that value (compose
    # gates the same service with a profile; Prometheus then finds no target, not a down one).
    when: tuple[str, str] = ()

    # Where Prometheus scrapes it (None: /metrics).
    metrics_path: Callable[[Where], str] | None = None
    # Part of the app the stack serves (its database, cache, servers, balancer and their
    # exporters): natively absent when the target is a service the user runs.
    serves_app: bool = False

    def program_for(self, t: Where) -> tuple[str, ...]:
        return self.program(t) if callable(self.program) else self.program

    def runs_in(self, s: StackSettings) -> bool:
        """Whether the native stack of `s` runs this row: not the app's own services when the
        target is a service the user runs (the stack then only watches it)."""
        if self.serves_app and s.target.external:
            return False
        return self.in_native and (not self.when or s.values[self.when[0]] == self.when[1])


# --- the command lines -------------------------------------------------------------------------


def seed_args(users: str, products: str, orders: str) -> list[str]:
    return ["seed", "--users", users, "--products", products, "--orders", orders]


def _mysql(t: Where) -> list[str]:
    if t.native:
        place = [
            "--no-defaults",
            f"--datadir={t.state / 'mariadb'}",
            f"--socket={t.state / 'mariadb.sock'}",
            f"--pid-file={t.state / 'mariadb.pid'}",
            f"--port={t.settings.port('LOCAL_MARIADB_PORT')}",
            "--bind-address=127.0.0.1",
            "--user=root",  # mariadbd refuses to run as root without it
        ]
    else:
        # MySQL 8 writes the deadlock dumps as Notes: without verbosity 3 they never reach the
        # log. MariaDB has no such option (it logs them at its default level).
        place = ["--log-error-verbosity=3"]
    return [
        *place,
        f"--log-error={t.mysql_error_log}",
        "--innodb-print-all-deadlocks=ON",
        f"--innodb-buffer-pool-size={INNODB_BUFFER_POOL}",
        # A lab, not a bank: the redo log is flushed once a second, as in most load-test setups.
        "--innodb-flush-log-at-trx-commit=2",
        "--max-connections=500",
        "--character-set-server=utf8mb4",
        "--skip-name-resolve",
        "--skip-log-bin",
    ]


def _mysql_env(t: Where) -> dict[str, str]:
    # The image's first start creates these; natively `make local-up` does (stack.runner).
    if t.native:
        return {}
    return {"MYSQL_ROOT_PASSWORD": "${MYSQL_ROOT_PASSWORD:-shoplab}", "MYSQL_DATABASE": "shop"}


def _redis(t: Where) -> list[str]:
    place = []
    if t.native:
        place = [
            "--port",
            str(t.settings.port("LOCAL_REDIS_PORT")),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(t.state / "redis"),
        ]
    # A cache: nothing to keep across restarts.
    return [*place, "--save", "", "--appendonly", "no"]


def _shop_init(t: Where) -> list[str]:
    seed = seed_args(
        t.knob("SEED_USERS", "LOCAL_SEED_USERS"),
        t.knob("SEED_PRODUCTS", "LOCAL_SEED_PRODUCTS"),
        t.knob("SEED_ORDERS", "LOCAL_SEED_ORDERS"),
    )
    return ["-c", f"flask --app shop init-db && flask --app shop {' '.join(seed)}"]


def spring_shop_jvm(cpus: str, memory: str) -> list[str]:
    """The JVM sized for the shop's limits (natively its cgroup's, which a JVM outside a
    container does not look up): its CPUs as processors (GC and pool threads), and half of its
    memory for the heap, leaving the rest to metaspace, code, thread stacks and buffers, so the
    JVM fails with its own OutOfMemoryError (and exits) before the cgroup's OOM killer comes."""
    return [
        f"-XX:ActiveProcessorCount={max(1, math.ceil(float(cpus)))}",
        f"-XX:MaxRAM={memory}",
        "-XX:MaxRAMPercentage=50",
        "-XX:+ExitOnOutOfMemoryError",
    ]


def is_spring(t: Where) -> bool:
    """Whether the native stack's shop is the Spring one (TARGET=spring-shop)."""
    return t.native and t.settings.shop_impl == "spring"


def _shop_program(t: Where) -> tuple[str, ...]:
    return ("java",) if is_spring(t) else ("python", "-m", "shop.serve")  # granian: performance.md


def _shop(t: Where) -> list[str]:
    if is_spring(t):
        cpus, memory = t.settings.values["LOCAL_SHOP_CPUS"], t.settings.values["LOCAL_SHOP_MEMORY"]
        return [*spring_shop_jvm(cpus, memory), "-jar", str(SPRING_SHOP_JAR)]
    return ["--bind", t.listen("shop")]


def _shop_metrics_path(t: Where) -> str:
    return "/actuator/prometheus" if is_spring(t) else "/metrics"


def _spring_shop_env(t: Where, name: str) -> dict[str, str]:
    """The Spring shop's SHOP_* (docs/spring-shop.md): the Flask shop's names where they apply.
    Its request threads are the Flask shop's workers x threads, the same concurrency."""
    if t.native:
        knobs = t.settings.values
        threads = str(int(knobs["LOCAL_SHOP_WORKERS"]) * int(knobs["LOCAL_SHOP_THREADS"]))
    else:
        threads = "${SPRING_SHOP_THREADS:-16}"
    return {
        "SHOP_DATABASE_URL": t.database_url,
        "SHOP_REDIS_URL": t.redis_url,
        "SHOP_ORDER_STRATEGY": t.knob("SHOP_ORDER_STRATEGY", "LOCAL_ORDER_STRATEGY"),
        "SHOP_BIND": t.listen(name),
        "SHOP_THREADS": threads,
    }


def _shop_env(t: Where) -> dict[str, str]:
    if is_spring(t):
        env = _spring_shop_env(t, "shop")
        delay = t.settings.values.get("LOCAL_SHOP_DEBUG_DELAY_MS", "")
        return {**env, "SHOP_DEBUG_DELAY_MS": delay} if delay else env
    env = {
        "SHOP_DATABASE_URL": t.database_url,
        "SHOP_REDIS_URL": t.redis_url,
        "SHOP_ORDER_STRATEGY": t.knob("SHOP_ORDER_STRATEGY", "LOCAL_ORDER_STRATEGY"),
        "SHOP_SALES_MODE": t.knob("SHOP_SALES_MODE", "LOCAL_SALES_MODE"),
        "SHOP_WORKERS": t.knob("SHOP_WORKERS", "LOCAL_SHOP_WORKERS"),
        "SHOP_THREADS": t.knob("SHOP_THREADS", "LOCAL_SHOP_THREADS"),
    }
    if t.native and t.replica:
        # The image sets PROMETHEUS_MULTIPROC_DIR itself; natively each replica has its own
        # (one folder would sum every replica into each one's /metrics).
        env["PROMETHEUS_MULTIPROC_DIR"] = str(t.state / "shop-metrics" / f"shop-{t.replica}")
    if t.native:
        # A debug knob, off unless set: every API request sleeps this long (make gate's proof).
        delay = t.settings.values.get("LOCAL_SHOP_DEBUG_DELAY_MS", "")
        if delay:
            env["SHOP_DEBUG_DELAY_MS"] = delay
    return env


def _sales_consumer(t: Where) -> list[str]:
    return ["--listen", t.listen("sales-consumer")]


def _sales_consumer_env(t: Where) -> dict[str, str]:
    # It drains whatever is queued, whatever the mode: only the database is needed.
    return {"SHOP_DATABASE_URL": t.database_url}


# nginx's stub_status inside compose's network (not published: only its exporter reads it).
NGINX_STATUS_PORT = 8080


def _nginx_status(t: Where) -> str:
    if t.native:
        return f"127.0.0.1:{t.settings.port('LOCAL_NGINX_STATUS_PORT')}"
    return f"nginx:{NGINX_STATUS_PORT}"


def nginx_balancer(t: Where) -> balancer.Balancer:
    """What nginx balances: natively every replica's port, in compose the `shop` service (nginx
    resolves its name once, to every replica's address)."""
    if t.native:
        upstreams = [Native(t.settings, i).addr("shop") for i in range(1, t.settings.replicas + 1)]
        return balancer.Balancer(t.listen("nginx"), _nginx_status(t), upstreams, t.state)
    status = f"0.0.0.0:{NGINX_STATUS_PORT}"
    return balancer.Balancer(t.listen("nginx"), status, [t.addr("shop")])


def _nginx(t: Where) -> list[str]:
    if t.native:
        # -e: where nginx logs before it has read the config (Debian's default is a path under
        # /var/log that only root may write); -p: its prefix, this stack's own folder.
        return ["-e", "stderr", "-p", str(t.state / "nginx"), "-c", str(t.state / "nginx.conf")]
    return ["-c", "/etc/nginx/nginx.conf"]


def _nginx_exporter(t: Where) -> list[str]:
    # Two dashes: Debian's 0.11 (Go flags) and the image's 1.x (kingpin) both take them.
    return [
        f"--nginx.scrape-uri=http://{_nginx_status(t)}{balancer.STATUS_PATH}",
        f"--web.listen-address={t.listen('nginx-exporter')}",
    ]


def _nginx_exporter_env(t: Where) -> dict[str, str]:
    # Natively honcho starts it beside nginx: Debian's 0.11 exits when its first look at
    # stub_status finds nothing, and takes the whole stack down (a strategy switch's restart
    # on a busy machine). Compose starts it after nginx is healthy.
    return {"NGINX_RETRIES": "60", "NGINX_RETRY_INTERVAL": "1s"} if t.native else {}


def _innodb_env(t: Where) -> dict[str, str]:
    if t.native and t.settings.target.dsn is not None:
        # A service the user runs: its database, with the account its target file names
        # (docs/targets.md gives the grants); its error log is not ours to follow.
        dsn = t.settings.target.dsn
        return {
            "INNODB_EXPORTER_DSN": f"mysql://{quote(dsn.user)}:{quote(dsn.password)}"
            f"@{dsn.host}:{dsn.port}/",
            "INNODB_EXPORTER_LISTEN": t.listen("innodb-exporter"),
        }
    # Its own least-privilege account (stack/accounts.py), with the password the init SQL sets.
    account = f"{INNODB_EXPORTER.user}:{INNODB_EXPORTER.password}"
    return {
        "INNODB_EXPORTER_DSN": f"mysql://{account}@{t.addr('mysql')}/",
        "INNODB_EXPORTER_LISTEN": t.listen("innodb-exporter"),
        "INNODB_EXPORTER_ERROR_LOG": t.mysql_error_log,
    }


def _mysqld_exporter(t: Where) -> list[str]:
    if t.native:
        # Debian's mysqld_exporter (0.14) takes its account from a my.cnf only.
        account = [f"--config.my-cnf={t.state / 'mysqld-exporter.cnf'}"]
    else:
        account = [f"--mysqld.address={t.addr('mysql')}",
                   f"--mysqld.username={MYSQLD_EXPORTER.user}"]  # fmt: skip
    return [
        *account,
        f"--web.listen-address={t.listen('mysqld-exporter')}",
        # Every collector here reads with PROCESS alone (stack/accounts.py: MYSQLD_EXPORTER).
        "--collect.info_schema.innodb_metrics",
        "--collect.engine_innodb_status",
        "--collect.info_schema.processlist",
        "--collect.global_status",
        "--collect.global_variables",
        # On by default, and the one that would need more: REPLICATION CLIENT on MySQL, SLAVE
        # MONITOR on MariaDB (no one grant serves both). The lab has no replica to report on.
        "--no-collect.slave_status",
    ]


def _mysqld_exporter_env(t: Where) -> dict[str, str]:
    if t.native:
        return {}
    return {"MYSQLD_EXPORTER_PASSWORD": f"${{MYSQL_EXPORTER_PASSWORD:-{MYSQLD_EXPORTER.password}}}"}


def _redis_exporter(t: Where) -> list[str]:
    return [
        "-redis.addr",
        f"redis://{t.addr('redis')}",
        "-web.listen-address",
        t.listen("redis-exporter"),
    ]


def _node_exporter(t: Where) -> list[str]:
    place = [] if t.native else ["--path.rootfs=/host"]
    return [
        *place,
        f"--web.listen-address={t.listen('node-exporter')}",
        # What the dashboards and rules read, and no more: a scrape stays cheap under load.
        "--collector.disable-defaults",
        "--collector.cpu",
        "--collector.meminfo",
        "--collector.loadavg",
        "--collector.netdev",
        "--collector.diskstats",
        "--collector.filesystem",
        "--collector.pressure",
        "--collector.stat",
    ]


def _cgroup_exporter(t: Where) -> list[str]:
    groups = [f"{key}={group}" for key, group in cgroup_names(t.settings).items()]
    return ["--listen", t.listen("cgroup-exporter"), *groups]


def _prometheus(t: Where) -> list[str]:
    if t.native:
        place = [
            f"--config.file={t.state / 'prometheus.yml'}",
            f"--storage.tsdb.path={t.state / 'prometheus'}",
        ]
    else:
        place = ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
    return [
        *place,
        f"--web.listen-address={t.listen('prometheus')}",
        "--web.enable-remote-write-receiver",  # k6's output
        "--enable-feature=native-histograms",
        "--web.enable-lifecycle",
        "--log.level=warn",
    ]


def _webhook(t: Where) -> list[str]:
    return [
        "--listen",
        t.listen("alert-webhook"),
        "--out",
        str(t.state / ALERTS_FILE),
    ]


def _alertmanager(t: Where) -> list[str]:
    if t.native:
        place = [
            f"--config.file={t.state / 'alertmanager.yml'}",
            f"--storage.path={t.state / 'alertmanager'}",
        ]
    else:
        place = [
            "--config.file=/etc/alertmanager/${ALERTMANAGER_CONFIG_FILE:-alertmanager.yml}",
            "--storage.path=/alertmanager",
        ]
    return [
        *place,
        f"--web.listen-address={t.listen('alertmanager')}",
        "--cluster.listen-address=",  # one instance: no gossip port
        "--log.level=warn",
    ]


_LOAD_ON = {
    "nginx": {"condition": "service_healthy"},
    "prometheus": {"condition": "service_healthy"},
}
_PLAN_ON = {**_LOAD_ON, "load-plan": {"condition": "service_completed_successfully"}}
# What the load tools' containers import of this repo (lab.load and what it imports).
_LOAD_PACKAGES = ("lab", "signals", "stack", "knobs", "targets", "exporters")
_LOAD_CODE = [f"./{package}:/shoplab/{package}:ro" for package in _LOAD_PACKAGES]

# --- the table ---------------------------------------------------------------------------------


def _exporter(
    name: str,
    args: Callable[[Where], list[str]],
    port: int,
    image: str,
    *,
    env: Callable[[Where], dict[str, str]] = _no_env,
    health: Health = Health("/metrics"),
    after: str = "",
    serves_app: bool = False,
    **compose,
) -> Service:
    """A Debian-packaged Prometheus exporter (`prometheus-<name>` natively, `image` in compose):
    its port knobs are named after it, its page is /metrics, `after` the service it scrapes."""
    knob = name.upper().replace("-", "_") + "_PORT"
    if after:
        compose["depends_on"] = {after: {"condition": "service_healthy"}}
    return Service(
        name, args, env=env, port=Port("LOCAL_" + knob, port, knob), health=health,
        program=(f"prometheus-{name}",), compose={"image": image, **compose},
        open_path="/metrics", serves_app=serves_app,
    )  # fmt: skip


_EXPORTERS = (
    _exporter("mysqld-exporter", _mysqld_exporter, 9104, "prom/mysqld-exporter:v0.15.1",
              env=_mysqld_exporter_env, after="mysql"),
    # Built FROM scratch: nothing inside the image can make a request.
    _exporter("redis-exporter", _redis_exporter, 9121, "oliver006/redis_exporter:v1.66.0",
              health=Health("/metrics", probe=""), after="redis", serves_app=True),
    _exporter("node-exporter", _node_exporter, 9100, "prom/node-exporter:v1.8.2",
              pid="host", volumes=["/:/host:ro,rslave"]),
    # Built FROM scratch, as redis_exporter. Natively it may start before nginx listens:
    # Debian's 0.11 then exits at once (and honcho stops the whole stack) unless told to retry.
    _exporter("nginx-exporter", _nginx_exporter, 9113, "nginx/nginx-prometheus-exporter:1.4.0",
              env=_nginx_exporter_env, health=Health("/metrics", probe=""), after="nginx",
              serves_app=True),
)  # fmt: skip

_ROWS = [
    Service(
        "mysql",
        _mysql,
        env=_mysql_env,
        port=Port("LOCAL_MARIADB_PORT", 3306, "MYSQL_PORT"),
        health=Health(
            test=(
                "mysqladmin",
                "ping",
                "-h",
                "127.0.0.1",
                "-uroot",
                "-p${MYSQL_ROOT_PASSWORD:-shoplab}",
            ),
            interval="5s",
            retries=30,
            start_period="20s",
        ),
        limits=Limits("LOCAL_MYSQL_CPUS", "LOCAL_MYSQL_MEMORY"),
        program=("mariadbd",),
        restartable=True,
        compose={
            "image": "mysql:8.4.3",
            "volumes": [
                "mysql-data:/var/lib/mysql",
                "mysql-log:/var/log/mysql",
                "./provisioning/mysql/init:/docker-entrypoint-initdb.d:ro",
            ],
        },
        note="MySQL 8.4 in compose, MariaDB natively: the same InnoDB flags and limits.",
        serves_app=True,
    ),
    Service(
        "redis",
        _redis,
        port=Port("LOCAL_REDIS_PORT", 6379, "REDIS_PORT"),
        health=Health(test=("redis-cli", "ping"), interval="5s", retries=30),
        program=("redis-server",),
        entry=("redis-server",),
        restartable=True,
        compose={"image": "redis:7.4.1"},
        serves_app=True,
    ),
    Service(
        "shop-init",
        _shop_init,
        env=_shop_env,
        entry=("sh",),
        in_native=False,  # natively `make local-up` seeds in-process (stack.runner)
        compose={
            "build": {"context": ".", "dockerfile": "shop/Dockerfile"},
            "image": "shoplab/shop:local",
            "depends_on": {
                "mysql": {"condition": "service_healthy"},
                "redis": {"condition": "service_healthy"},
            },
        },
        note="One-shot: schema and seed data, then exits; the shop starts after it succeeded.",
        serves_app=True,
    ),
    Service(
        "shop",
        _shop,
        env=_shop_env,
        port=Port("LOCAL_SHOP_REPLICA_PORT", 8000),
        health=Health("/readyz", probe="python", interval="5s", retries=10),
        limits=Limits("LOCAL_SHOP_CPUS", "LOCAL_SHOP_MEMORY"),
        program=_shop_program,
        entry=("python", "-m", "shop.serve"),
        metrics_path=_shop_metrics_path,
        compose={
            "build": {"context": ".", "dockerfile": "shop/Dockerfile"},
            "image": "shoplab/shop:local",
            "stop_grace_period": "25s",
            "depends_on": {"shop-init": {"condition": "service_completed_successfully"}},
        },
        replicas="LOCAL_SHOP_REPLICAS",
        open_path="/api/products/popular",
        note="The mission's container: 2 CPUs, 4 GB each (stack/local.env's LOCAL_SHOP_*), "
        "SHOP_REPLICAS of them behind nginx. Natively TARGET=spring-shop runs the Spring shop "
        "in its place.",
        serves_app=True,
    ),
    Service(
        "spring-shop",
        lambda t: [*SPRING_SHOP_IMAGE_JVM, "-jar", SPRING_SHOP_IMAGE_JAR],
        env=lambda t: _spring_shop_env(t, "spring-shop"),
        # 8000 inside, as the shop's; published beside it (nginx publishes SHOP_PORT's 8000).
        port=Port("LOCAL_SHOP_REPLICA_PORT", 8000, "SPRING_SHOP_PORT", published=8001),
        health=Health("/readyz", interval="5s", retries=20, start_period="60s"),
        limits=Limits("LOCAL_SHOP_CPUS", "LOCAL_SHOP_MEMORY"),
        entry=("java",),
        in_native=False,  # natively the `shop` row runs it (TARGET=spring-shop)
        compose={
            "build": {"context": ".", "dockerfile": "spring-shop/Dockerfile"},
            "image": "shoplab/spring-shop:local",
            "profiles": ["spring"],
            "stop_grace_period": "25s",
            "depends_on": {"shop-init": {"condition": "service_completed_successfully"}},
        },
        open_path="/api/products/popular",
        note="COMPOSE_PROFILES=spring: the Spring Boot shop (spring-shop/) beside the Flask one, "
        "on the same database and contract, published on SPRING_SHOP_PORT; in the container the "
        "JVM sizes itself from the limits (docs/spring-shop.md).",
    ),
    Service(
        "sales-consumer",
        _sales_consumer,
        env=_sales_consumer_env,
        port=Port("LOCAL_SALES_CONSUMER_PORT", 9110),
        health=Health("/metrics", probe="python"),
        program=("python", "-m", "shop.sales"),
        entry=("python", "-m", "shop.sales"),
        compose={
            "build": {"context": ".", "dockerfile": "shop/Dockerfile"},
            "image": "shoplab/shop:local",
            "profiles": ["sales"],
            "depends_on": {"shop-init": {"condition": "service_completed_successfully"}},
        },
        when=("LOCAL_SALES_MODE", "async"),
        open_path="/metrics",
        note="SHOP_SALES_MODE=async only (with COMPOSE_PROFILES=sales): moves the daily sales "
        "the shop queued into product_sales_daily; its /metrics has the queue's depth and lag.",
        serves_app=True,
    ),
    Service(
        "nginx",
        _nginx,
        port=Port("LOCAL_SHOP_PORT", 8000, "SHOP_PORT"),
        health=Health("/readyz", interval="5s", retries=10),
        program=("nginx",),
        entry=("nginx",),
        compose={
            "image": "nginx:1.27.3-alpine",
            "volumes": ["./provisioning/nginx/nginx.conf:/etc/nginx/nginx.conf:ro"],
            "depends_on": {"shop": {"condition": "service_healthy"}},
        },
        open_path="/api/products/popular",
        note="The shop's one entry point: balances over every shop replica, retrying another "
        "only when a connection fails (stack/balancer.py writes provisioning/nginx/nginx.conf).",
        serves_app=True,
    ),
    Service(
        "innodb-exporter",
        env=_innodb_env,
        args=lambda t: ["serve"],
        port=Port("LOCAL_INNODB_EXPORTER_PORT", 9105, "INNODB_EXPORTER_PORT"),
        health=Health("/healthz", probe="python"),
        program=("python", "-m", "exporters.innodb"),  # the image's entrypoint
        compose={
            "build": {"context": ".", "dockerfile": "exporters/innodb/Dockerfile"},
            "image": "shoplab/innodb-exporter:local",
            "group_add": ["999"],
            "volumes": ["mysql-log:/var/log/mysql:ro"],
            "depends_on": {"mysql": {"condition": "service_healthy"}},
        },
        open_path="/deadlocks",
        note="Follows MySQL's error log: the image's log is group-readable by mysql (gid 999).",
    ),
    *_EXPORTERS,
    Service(
        "cadvisor",
        port=Port("LOCAL_CGROUP_EXPORTER_PORT", 8080, "CADVISOR_PORT"),
        health=Health("/healthz"),
        in_native=False,  # natively: cgroup-exporter, the same names for the same services
        compose={
            "image": "gcr.io/cadvisor/cadvisor:v0.49.1",
            "privileged": True,
            "devices": ["/dev/kmsg:/dev/kmsg"],  # container_oom_events_total reads the kernel log
            "volumes": [
                "/:/rootfs:ro",
                "/var/run:/var/run:ro",
                "/sys:/sys:ro",
                "/var/lib/docker/:/var/lib/docker:ro",
                "/dev/disk/:/dev/disk:ro",
            ],
        },
    ),
    Service(
        "cgroup-exporter",
        _cgroup_exporter,
        port=Port("LOCAL_CGROUP_EXPORTER_PORT"),
        health=Health("/metrics"),
        program=("python", "-m", "stack", "cgroup-exporter"),
        compose=None,
        open_path="/metrics",
        serves_app=True,  # the cgroups of the shop and MariaDB: a service you run has none here
    ),
    Service(
        "prometheus",
        _prometheus,
        port=Port("LOCAL_PROMETHEUS_PORT", 9090, "PROMETHEUS_PORT"),
        health=Health("/-/ready", interval="5s", retries=20),
        program=("prometheus",),
        restartable=True,
        compose={
            "image": "prom/prometheus:v2.54.1",
            "volumes": [
                "./provisioning/prometheus:/etc/prometheus:ro",
                "prometheus-data:/prometheus",
            ],
        },
        open_path="/targets",
    ),
    Service(
        "alert-webhook",
        _webhook,
        port=Port("LOCAL_ALERT_WEBHOOK_PORT"),
        health=Health("/healthz"),
        program=("python", "-m", "stack.webhook"),
        compose=None,  # compose's Alertmanager sends to Slack/email (make alertmanager-config)
        open_path="/healthz",
    ),
    Service(
        "alertmanager",
        _alertmanager,
        port=Port("LOCAL_ALERTMANAGER_PORT", 9093, "ALERTMANAGER_PORT"),
        health=Health("/-/ready", interval="5s", retries=20),
        program=("prometheus-alertmanager",),
        compose={
            "image": "prom/alertmanager:v0.27.0",
            "volumes": ["./provisioning/alertmanager:/etc/alertmanager:ro"],
        },
        open_path="/",
        note="Routes by severity; sends nothing until Slack/email are set up: `make "
        "alertmanager-config` renders alertmanager.local.yml from .env, "
        "ALERTMANAGER_CONFIG_FILE selects it.",
    ),
    Service(
        "grafana",
        env=lambda t: {
            "GF_SECURITY_ADMIN_USER": "${GRAFANA_ADMIN_USER:-admin}",
            "GF_SECURITY_ADMIN_PASSWORD": "${GRAFANA_ADMIN_PASSWORD:?set GRAFANA_ADMIN_PASSWORD "
            "in .env}",
            "GF_AUTH_ANONYMOUS_ENABLED": "false",
            "GF_USERS_ALLOW_SIGN_UP": "false",
        },
        port=Port("", 3000, "GRAFANA_PORT"),
        health=Health("/api/health", interval="5s", retries=20),
        in_native=False,
        compose={
            "image": "grafana/grafana:11.3.0",
            "volumes": [
                "./provisioning/grafana:/etc/grafana/provisioning:ro",
                "grafana-data:/var/lib/grafana",
            ],
            "depends_on": {
                "prometheus": {"condition": "service_healthy"},
                "alertmanager": {"condition": "service_healthy"},
            },
        },
    ),
    Service(
        "load-plan",
        args=lambda t: ["-c", "python -m lab.load plan > /shoplab/results/plan.json"],
        env=lambda t: {
            "SHOP_URL": f"http://{t.addr('nginx')}",
            "SCENARIO": "${SCENARIO:-smoke}",
            "TARGET_TPS": "${TARGET_TPS:-200}",
            "SCALE": "${SCALE:-1}",
            "HOT_USERS": "${HOT_USERS:-0}",
            "TESTID": "${TESTID:-compose}",
            "RESULTS_DIR": "/shoplab/results",
        },
        in_native=False,  # natively the runner resolves the plan itself
        compose={
            "image": "shoplab/locust:2.47.0",
            "build": {"context": "./locust"},
            "profiles": ["k6", "locust"],
            "entrypoint": ["sh"],
            "working_dir": "/shoplab",
            "volumes": [*_LOAD_CODE, "./results:/shoplab/results"],
        },
        note="Resolves SCENARIO, TARGET_TPS, SCALE, HOT_USERS and TESTID (from .env or the "
        "command line) into results/plan.json once: k6 and Locust read that plan, as natively.",
    ),
    Service(
        "k6",
        args=lambda t: [
            "run",
            "--tag",
            "testid=${TESTID:-compose}",
            "-o",
            "experimental-prometheus-rw",
            "/shoplab/k6/mixed.js",
        ],
        env=lambda t: {
            "LOAD_PLAN": "/shoplab/results/plan.json",
            "K6_NO_USAGE_REPORT": "true",  # no traffic beyond the stack
            "K6_PROMETHEUS_RW_SERVER_URL": f"http://{t.addr('prometheus')}/api/v1/write",
            "K6_PROMETHEUS_RW_TREND_AS_NATIVE_HISTOGRAM": "true",
            "K6_WEB_DASHBOARD": "true",
            "K6_WEB_DASHBOARD_PORT": "-1",
            "K6_WEB_DASHBOARD_EXPORT": "/shoplab/results/k6-report.html",
        },
        in_native=False,  # natively `make load` runs k6 (lab/load/)
        compose={
            "image": "grafana/k6:1.1.0",
            "profiles": ["k6"],
            "volumes": [
                "./k6:/shoplab/k6:ro",
                "./results:/shoplab/results",
            ],
            "depends_on": _PLAN_ON,
        },
        note="The same scripts and scenarios as `make load`: SCENARIO, TARGET_TPS, SCALE, "
        "HOT_USERS and TESTID from .env or the command line; results in ./results.",
    ),
    Service(
        "locust",
        args=lambda t: [
            "-f",
            "/shoplab/locust/locustfile.py",
            "--headless",
            "--host",
            f"http://{t.addr('nginx')}",
            "--csv",
            "/shoplab/results/locust",
            "--html",
            "/shoplab/results/locust.html",
            "--only-summary",
        ],
        env=lambda t: {
            "LOAD_PLAN": "/shoplab/results/plan.json",
            "LOCUST_METRICS_PORT": "9646",
            "LOCUST_METRICS_ADDR": "0.0.0.0",
            "LOCUST_SCRAPE_WAIT": "15",
        },
        in_native=False,
        compose={
            "build": {"context": "./locust"},
            "image": "shoplab/locust:2.47.0",
            "profiles": ["locust"],
            "volumes": [
                "./locust:/shoplab/locust:ro",
                *_LOAD_CODE,
                "./results:/shoplab/results",
            ],
            "depends_on": _PLAN_ON,
        },
        note="Headless Locust with the scenario's shape; the master exports metrics on 9646 for "
        "the `locust` job. The image adds prometheus-client to the official one "
        "(locust/Dockerfile).",
    ),
]
SERVICES: dict[str, Service] = {row.name: row for row in _ROWS}
VOLUMES = ("mysql-data", "mysql-log", "prometheus-data", "grafana-data")


def limited() -> list[str]:
    """The services that run with CPU and memory limits (a cgroup each, natively)."""
    return [row.name for row in _ROWS if row.limits and row.in_native]


# --- native ------------------------------------------------------------------------------------


def native_services(s: StackSettings | None = None) -> list[Service]:
    """The rows that run natively: with `s`, those its knobs switch on (Service.when)."""
    return [row for row in _ROWS if row.in_native and (s is None or row.runs_in(s))]


@dataclass(frozen=True)
class NativeProcess:
    """One process of the native stack: a row, or one replica of a replicated row (`shop-1`,
    `shop-2`, ...: its honcho name, log, cgroup, port, metrics folder and control socket)."""

    row: Service
    replica: int = 0  # 0: the row is not replicated

    @property
    def name(self) -> str:
        return f"{self.row.name}-{self.replica}" if self.replica else self.row.name

    def port(self, s: StackSettings) -> int:
        return s.replica_port(self.replica) if self.replica else s.port(self.row.port.local)


def native_processes(s: StackSettings) -> list[NativeProcess]:
    """Every process `make local-up` starts, in start order."""
    out = []
    for row in native_services(s):
        count = int(s.values[row.replicas]) if row.replicas else 0
        out += [NativeProcess(row, i) for i in range(1, count + 1)] or [NativeProcess(row)]
    return out


def cgroup_names(s: StackSettings) -> dict[str, str]:
    """The limited processes' cgroups (under shoplab/), keyed as the cgroup exporter labels
    them: the service, or `service:replica` for a replica."""
    return {
        (f"{p.row.name}:{p.replica}" if p.replica else p.name): s.cgroup(p.name)
        for p in native_processes(s)
        if p.row.limits
    }


def native_command(process: NativeProcess, s: StackSettings) -> list[str]:
    """The process on this machine: for a replica its keeper first (`python -m stack keep`,
    so that one replica can die without honcho stopping the stack), then `env K=V ...`, the
    cgroup, and the program."""
    if not process.replica:
        return kept_command(process, s)
    keep = str(keeper_folder(s))  # its state, and what a switch restarts it with
    return [sys.executable, "-m", "stack", "keep", process.name, "--dir", keep, "--",
            *kept_command(process, s)]  # fmt: skip


def keeper_folder(s: StackSettings) -> Path:
    """Where the replicas' keepers keep their state files and restart commands."""
    return s.state_dir / "keep"


def kept_command(process: NativeProcess, s: StackSettings) -> list[str]:
    """The process without its keeper: `env K=V ...`, the cgroup, and the program (what a
    replica's keeper runs, and starts again on SIGHUP)."""
    row = process.row
    t = Native(s, process.replica)
    env = row.env(t)
    prefix = []
    if env:
        prefix += ["env", *(f"{k}={v}" for k, v in env.items())]
    if row.limits:
        prefix += [
            sys.executable,
            "-m",
            "stack",
            "cgroup-exec",
            "--cpus",
            s.values[row.limits.cpus],
            "--memory",
            s.values[row.limits.memory],
            s.cgroup(process.name),
            "--",
        ]
    return [*prefix, *program_command(row, t)]


def program_command(row: Service, t: Native) -> list[str]:
    """The row's own program and arguments on this machine, nothing around them (no keeper,
    environment or cgroup): what a single server of the table runs (`stack.ephemeral`)."""
    first, *rest = row.program_for(t)
    program = [sys.executable if first == "python" else tool(first), *rest]
    return [*program, *row.args(t)]


def mariadb_install_command(datadir: Path) -> list[str]:
    """The one-off command that creates a MariaDB data directory (root, no password, loopback:
    a lab's server, never a bank's) before the server's first start."""
    return [
        tool("mariadb-install-db"),
        "--no-defaults",
        f"--datadir={datadir}",
        "--user=root",
        "--auth-root-authentication-method=normal",
        "--skip-test-db",
    ]

"""The native stack's settings: the defaults of stack/local.env, overridden by the environment.

`StackSettings.from_env(environ, defaults, target)` is pure (the caller reads the files:
`read_stack_settings(environ)` does it); every knob is checked once, there, with `knobs`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import knobs
from knobs import KnobError
from targets import Target, TargetError, find_target

REPO = Path(__file__).resolve().parents[1]
DEFAULTS_FILE = REPO / "stack" / "local.env"
# Which shop the native stack serves for a target (targets/*.yaml `app.start`): the Flask one
# (shop/), the Spring one (spring-shop/), or none for a service the user runs.
SHOP_IMPLS = {"shop": "flask", "spring-shop": "spring", None: "none"}
# Replicas of the native shop: each is a server of 2 processes at least; more than this on one
# machine measures the machine, not the balancer.
MAX_REPLICAS = 16
STRATEGIES = ("safe", "naive")
SALES_MODES = ("sync", "async")

# A bad stack knob is a bad knob: one error type for every settings class (knobs.KnobError).
StackSettingsError = KnobError


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=value lines of an env file (comments and blank lines skipped)."""
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def parse_bytes(name: str, raw: str) -> int:
    """Bytes of a size like 512m or 4g given as `name` (a flag or a variable)."""
    return knobs.size({name: raw}, name, raw)


def parse_duration(name: str, raw: str) -> int:
    """Seconds in a Prometheus duration of hours, minutes and seconds (`for:` values)."""
    return knobs.duration({name: raw}, name, raw)


@dataclass(frozen=True)
class StackSettings:
    values: dict[str, str]
    target: Target
    # The defaults' state folder: the default stack, whose cgroups carry no suffix.
    default_state_dir: str = ""

    @classmethod
    def from_env(
        cls, env: Mapping[str, str], defaults: Mapping[str, str], target: Target
    ) -> StackSettings:
        """`defaults` (stack/local.env's values) with the environment's LOCAL_* laid over them,
        every knob checked (a bad one raises KnobError naming it), for `target`: the service
        the stack serves (a built-in shop) or watches (one the user runs)."""
        values = dict(defaults)
        values.update({k: v for k, v in env.items() if k.startswith("LOCAL_") and v != ""})
        for key in values:
            if key.endswith("_PORT"):
                knobs.whole(values, key, 0, lo=1024, hi=65535)
        knobs.choice(values, "LOCAL_ORDER_STRATEGY", "safe", STRATEGIES)
        knobs.choice(values, "LOCAL_SALES_MODE", "sync", SALES_MODES)
        if target.start != "shop" and values["LOCAL_SALES_MODE"] != "sync":
            raise StackSettingsError(
                "LOCAL_SALES_MODE=async needs the Flask shop (TARGET=shop): the Spring shop keeps "
                "the daily sales in the order transaction only"
            )
        for key in ("LOCAL_SHOP_MEMORY", "LOCAL_MYSQL_MEMORY"):
            knobs.size(values, key, "")
        for key in ("LOCAL_SHOP_CPUS", "LOCAL_MYSQL_CPUS"):
            knobs.number(values, key, 0, positive=True, hi=1024)
        if values.get("LOCAL_ALERT_FOR_MAX"):
            knobs.duration(values, "LOCAL_ALERT_FOR_MAX", "")
        settings = cls(values, target, defaults.get("LOCAL_STATE_DIR", ""))
        last = settings.replica_port(settings.replicas)
        if last > 65535:
            raise StackSettingsError(
                f"LOCAL_SHOP_REPLICA_PORT={settings.port('LOCAL_SHOP_REPLICA_PORT')} leaves no "
                f"port for replica {settings.replicas} (LOCAL_SHOP_REPLICAS)"
            )
        return settings

    def with_values(self, **values: str) -> StackSettings:
        """The same stack with some LOCAL_* knobs changed (checked like the rest)."""
        changed = StackSettings.from_env(values, self.values, self.target)
        return replace(changed, default_state_dir=self.default_state_dir)

    def with_target(self, target: Target) -> StackSettings:
        """The same stack serving (or watching) another target."""
        return replace(StackSettings.from_env({}, self.values, target),
                       default_state_dir=self.default_state_dir)  # fmt: skip

    def port(self, key: str) -> int:
        return knobs.whole(self.values, key, 0, lo=1, hi=65535)

    def number(self, key: str) -> float:
        return knobs.number(self.values, key, 0)

    def memory_bytes(self, key: str) -> int:
        """A LOCAL_*_MEMORY limit in bytes."""
        return knobs.size(self.values, key, "")

    @property
    def replicas(self) -> int:
        """How many shop replicas run behind nginx (LOCAL_SHOP_REPLICAS, 1 to 16)."""
        return knobs.whole(self.values, "LOCAL_SHOP_REPLICAS", 1, lo=1, hi=MAX_REPLICAS)

    @property
    def shop_impl(self) -> str:
        """Which shop runs behind nginx: `flask`, `spring`, or `none` (the target is a service
        the user runs: the stack brings Prometheus and the exporters to it)."""
        return SHOP_IMPLS[self.target.start]

    def replica_port(self, replica: int) -> int:
        """Where shop replica `replica` (1, 2, ...) listens: LOCAL_SHOP_REPLICA_PORT + i - 1."""
        return self.port("LOCAL_SHOP_REPLICA_PORT") + replica - 1

    @property
    def alert_for_max(self) -> int | None:
        """Seconds that caps every alert's `for:` natively (tests), None: the rules as shipped."""
        if not self.values.get("LOCAL_ALERT_FOR_MAX"):
            return None
        return knobs.duration(self.values, "LOCAL_ALERT_FOR_MAX", "")

    def cgroup(self, service: str) -> str:
        """The cgroup (under shoplab/) of a compose service in this stack: the service's name for
        the default stack, suffixed with its state dir's hash for any other, so two stacks at
        once (a test or `make verify-dashboards` beside `make local-up`) neither share limits nor
        mix their container metrics. The exported `name` label is the service either way."""
        default = REPO / self.default_state_dir if self.default_state_dir else None
        if default is not None and self.state_dir.resolve() == default.resolve():
            return service
        return f"{service}-{hashlib.sha1(str(self.state_dir.resolve()).encode()).hexdigest()[:8]}"

    @property
    def state_dir(self) -> Path:
        path = Path(self.values["LOCAL_STATE_DIR"])
        return path if path.is_absolute() else REPO / path

    def url(self, key: str, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port(key)}{path}"

    @property
    def database_url(self) -> str:
        """The app's database: the stack's MariaDB, or the one a user's target names."""
        if self.target.dsn is not None:
            return self.target.database_url
        return f"mysql+pymysql://root@127.0.0.1:{self.port('LOCAL_MARIADB_PORT')}/shop"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.port('LOCAL_REDIS_PORT')}/0"


def read_stack_settings(environ: Mapping[str, str]) -> StackSettings:
    """The caller's side of from_env: stack/local.env and TARGET's file read, the environment
    laid over them. A bad target file is a KnobError, like any bad knob."""
    try:
        target = find_target(environ)
    except TargetError as exc:
        raise StackSettingsError(str(exc)) from None
    return StackSettings.from_env(environ, read_env_file(DEFAULTS_FILE), target)


# A small shop for a stack that lives for one check or test: a few seconds to seed, enough rows
# for hot-user contention.
SMALL_STACK = {
    "LOCAL_SHOP_WORKERS": "2",
    "LOCAL_SHOP_THREADS": "8",
    "LOCAL_SEED_USERS": "100",
    "LOCAL_SEED_PRODUCTS": "20",
    "LOCAL_SEED_ORDERS": "100",
}


def ephemeral_env(
    state_dir: Path, free_port: Callable[[], int], base: Mapping[str, str], **overrides: str
) -> dict[str, str]:
    """The environment of a native stack of its own: every port free (`free_port()`, usually
    `stack.processes.free_port`), its state in `state_dir`, the small shop, `overrides`
    (LOCAL_*) on top, and no ALERTMANAGER_* from `base` (a check or a test must never notify a
    real Slack or inbox)."""
    ports: dict[str, str] = {}
    for key in (k for k in read_env_file(DEFAULTS_FILE) if k.endswith("_PORT")):
        while (port := str(free_port())) in ports.values():  # free, and not taken twice here
            pass
        ports[key] = port
    # Replicas listen on consecutive ports from LOCAL_SHOP_REPLICA_PORT: none of the others there.
    others = {int(port) for key, port in ports.items() if key != "LOCAL_SHOP_REPLICA_PORT"}
    first = int(ports["LOCAL_SHOP_REPLICA_PORT"])
    while first + MAX_REPLICAS > 65535 or others & set(range(first, first + MAX_REPLICAS)):
        first = free_port()
    ports["LOCAL_SHOP_REPLICA_PORT"] = str(first)
    return {
        **{k: v for k, v in base.items() if not k.startswith("ALERTMANAGER_")},
        **ports,
        "LOCAL_STATE_DIR": str(state_dir),
        **SMALL_STACK,
        **overrides,
    }

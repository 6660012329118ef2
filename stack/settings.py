"""The native stack's settings: stack/local.env, overridden by the environment."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULTS_FILE = REPO / "stack" / "local.env"
_SIZE = re.compile(r"^(\d+)([kmg]?)$", re.I)
# A Prometheus duration: 90s, 5m, 1h30m.
_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
# Replicas of the native shop: each is a server of 2 processes at least; more than this on one
# machine measures the machine, not the balancer.
MAX_REPLICAS = 16


class StackSettingsError(ValueError):
    """A bad value; the message names the variable."""


def read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def parse_bytes(name: str, raw: str) -> int:
    match = _SIZE.match(raw)
    if not match:
        raise StackSettingsError(f"{name}={raw!r} is not a size like 512m or 4g")
    return int(match[1]) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[match[2].lower()]


def parse_duration(name: str, raw: str) -> int:
    """Seconds in a Prometheus duration of hours, minutes and seconds (`for:` values)."""
    match = _DURATION.match(raw)
    if not raw or not match:
        raise StackSettingsError(f"{name}={raw!r} is not a duration like 10s, 5m or 1h30m")
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return hours * 3600 + minutes * 60 + seconds


@dataclass(frozen=True)
class StackSettings:
    values: dict[str, str]

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> StackSettings:
        values = read_env_file(DEFAULTS_FILE)
        values.update({k: v for k, v in env.items() if k.startswith("LOCAL_") and v != ""})
        settings = cls(values)
        for key in values:
            if key.endswith("_PORT"):
                port = settings.port(key)
                if not 1024 <= port <= 65535:
                    raise StackSettingsError(f"{key}={port} is not a port in 1024-65535")
        if values["LOCAL_ORDER_STRATEGY"] not in ("safe", "naive"):
            raise StackSettingsError(
                f"LOCAL_ORDER_STRATEGY={values['LOCAL_ORDER_STRATEGY']!r} is not safe or naive"
            )
        if values["LOCAL_SALES_MODE"] not in ("sync", "async"):
            raise StackSettingsError(
                f"LOCAL_SALES_MODE={values['LOCAL_SALES_MODE']!r} is not sync or async"
            )
        for key in ("LOCAL_SHOP_MEMORY", "LOCAL_MYSQL_MEMORY"):
            parse_bytes(key, values[key])
        if values.get("LOCAL_ALERT_FOR_MAX"):
            parse_duration("LOCAL_ALERT_FOR_MAX", values["LOCAL_ALERT_FOR_MAX"])
        last = settings.replica_port(settings.replicas)
        if last > 65535:
            raise StackSettingsError(
                f"LOCAL_SHOP_REPLICA_PORT={settings.port('LOCAL_SHOP_REPLICA_PORT')} leaves no "
                f"port for replica {settings.replicas} (LOCAL_SHOP_REPLICAS)"
            )
        return settings

    def port(self, key: str) -> int:
        raw = self.values.get(key, "")
        try:
            return int(raw)
        except ValueError:
            raise StackSettingsError(f"{key}={raw!r} is not a port number") from None

    def number(self, key: str) -> float:
        try:
            return float(self.values[key])
        except ValueError:
            raise StackSettingsError(f"{key}={self.values[key]!r} is not a number") from None

    @property
    def replicas(self) -> int:
        """How many shop replicas run behind nginx (LOCAL_SHOP_REPLICAS, 1 to 16)."""
        raw = self.values.get("LOCAL_SHOP_REPLICAS", "1")
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_REPLICAS:
            raise StackSettingsError(
                f"LOCAL_SHOP_REPLICAS={raw!r} is not a whole number from 1 to {MAX_REPLICAS}"
            )
        return int(raw)

    def replica_port(self, replica: int) -> int:
        """Where shop replica `replica` (1, 2, ...) listens: LOCAL_SHOP_REPLICA_PORT + i - 1."""
        return self.port("LOCAL_SHOP_REPLICA_PORT") + replica - 1

    @property
    def alert_for_max(self) -> int | None:
        """Seconds that caps every alert's `for:` natively (tests), None: the rules as shipped."""
        raw = self.values.get("LOCAL_ALERT_FOR_MAX", "")
        return parse_duration("LOCAL_ALERT_FOR_MAX", raw) if raw else None

    def cgroup(self, service: str) -> str:
        """The cgroup (under shoplab/) of a compose service in this stack: the service's name for
        the default stack, suffixed with its state dir's hash for any other, so two stacks at
        once (a test or `make verify-dashboards` beside `make local-up`) neither share limits nor
        mix their container metrics. The exported `name` label is the service either way."""
        default = (REPO / read_env_file(DEFAULTS_FILE)["LOCAL_STATE_DIR"]).resolve()
        if self.state_dir.resolve() == default:
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
        return f"mysql+pymysql://root@127.0.0.1:{self.port('LOCAL_MARIADB_PORT')}/shop"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.port('LOCAL_REDIS_PORT')}/0"


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

"""The exporter's settings: a frozen dataclass made from a mapping (the environment)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import knobs
from knobs import KnobError

DEFAULT_LISTEN = "127.0.0.1:9105"
DSN_SCHEMES = ("mysql", "mariadb", "mysql+pymysql", "mariadb+pymysql")


# A bad setting is a bad knob: one line naming the variable (knobs.KnobError).
ConfigError = KnobError


@dataclass(frozen=True)
class Dsn:
    """Where the server is and who we are on it; `repr` never shows the password."""

    host: str = "127.0.0.1"
    port: int = 3306
    user: str = "root"
    password: str = field(default="", repr=False)
    database: str = ""
    unix_socket: str | None = None

    @classmethod
    def parse(cls, text: str, variable: str = "INNODB_EXPORTER_DSN") -> Dsn:
        """`mysql://user:pass@host:port/db?unix_socket=/run/mysqld.sock` -> Dsn."""
        try:
            parts = urlsplit(text.strip())
            port = parts.port
        except ValueError as exc:
            raise ConfigError(f"{variable}: not a DSN ({exc})") from None
        if parts.scheme not in DSN_SCHEMES:
            raise ConfigError(
                f"{variable}: must start with mysql:// (like mysql://user:pass@host:3306/),"
                f" got {parts.scheme or 'no scheme'}"
            )
        query = parse_qs(parts.query)
        socket = query.get("unix_socket", [None])[0]
        if not parts.hostname and not socket:
            raise ConfigError(f"{variable}: needs a host (mysql://user:pass@host:3306/)")
        return cls(
            host=parts.hostname or "localhost",
            port=port or 3306,
            user=unquote(parts.username or "root"),
            password=unquote(parts.password or ""),
            database=unquote(parts.path.lstrip("/")),
            unix_socket=socket,
        )

    def describe(self) -> str:
        """For log lines: user and address, no password."""
        where = self.unix_socket or f"{self.host}:{self.port}"
        return f"{self.user}@{where}"


@dataclass(frozen=True)
class Settings:
    """Everything the exporter reads from its environment (`INNODB_EXPORTER_*`)."""

    dsn: Dsn | None = None
    listen_host: str = "127.0.0.1"
    listen_port: int = 9105
    error_log: Path | None = None
    max_tables: int = 50  # distinct schema.table label values per metric; the rest is __other__
    max_statements: int = 50  # distinct statement-set label values
    tables: frozenset[str] = frozenset()  # allow-list "schema.table"; empty = first max_tables
    deadlocks_kept: int = 100  # how many /deadlocks remembers
    raw_queries: bool = False  # /deadlocks shows query text unredacted
    lock_wait_top: int = 10  # how many of the oldest lock waits get per-thread series
    connect_timeout: float = 2.0
    query_timeout: float = 5.0
    backoff_max: float = 10.0  # seconds between reconnect attempts at most
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Settings from a mapping such as os.environ; ConfigError names the bad variable."""
        env = {k: v for k, v in environ.items() if k.startswith("INNODB_EXPORTER_")}
        dsn_text = env.get("INNODB_EXPORTER_DSN", "").strip()
        listen_host, listen_port = _listen(env.get("INNODB_EXPORTER_LISTEN", DEFAULT_LISTEN))
        error_log = env.get("INNODB_EXPORTER_ERROR_LOG", "").strip()
        tables = env.get("INNODB_EXPORTER_TABLES", "")
        allow = frozenset(t.strip().strip("`") for t in tables.split(",") if t.strip())
        for name in allow:
            if name.count(".") != 1:
                raise ConfigError(
                    f"INNODB_EXPORTER_TABLES: {name!r} is not schema.table (comma-separated)"
                )
        levels = ("DEBUG", "INFO", "WARNING", "ERROR")
        upper = {k: v.upper() for k, v in env.items() if k == "INNODB_EXPORTER_LOG_LEVEL"}
        log_level = knobs.choice(upper, "INNODB_EXPORTER_LOG_LEVEL", "INFO", levels)
        return cls(
            dsn=Dsn.parse(dsn_text) if dsn_text else None,
            listen_host=listen_host,
            listen_port=listen_port,
            error_log=Path(error_log) if error_log else None,
            max_tables=knobs.whole(env, "INNODB_EXPORTER_MAX_TABLES", cls.max_tables, lo=1),
            max_statements=knobs.whole(
                env, "INNODB_EXPORTER_MAX_STATEMENTS", cls.max_statements, lo=1
            ),
            tables=allow,
            deadlocks_kept=knobs.whole(
                env, "INNODB_EXPORTER_DEADLOCKS_KEPT", cls.deadlocks_kept, lo=1
            ),
            raw_queries=knobs.flag(env, "INNODB_EXPORTER_RAW_QUERIES", cls.raw_queries),
            lock_wait_top=knobs.whole(env, "INNODB_EXPORTER_LOCK_WAIT_TOP", cls.lock_wait_top),
            connect_timeout=_seconds(env, "INNODB_EXPORTER_CONNECT_TIMEOUT", cls.connect_timeout),
            query_timeout=_seconds(env, "INNODB_EXPORTER_QUERY_TIMEOUT", cls.query_timeout),
            backoff_max=_seconds(env, "INNODB_EXPORTER_BACKOFF_MAX", cls.backoff_max),
            log_level=log_level,
        )

    def require_dsn(self) -> Dsn:
        if self.dsn is None:
            raise ConfigError(
                "INNODB_EXPORTER_DSN: not set (give --dsn mysql://user:pass@host:3306/)"
            )
        return self.dsn


def _listen(text: str) -> tuple[str, int]:
    host, sep, port = text.strip().rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(
            f"INNODB_EXPORTER_LISTEN: {text!r} is not host:port (like {DEFAULT_LISTEN})"
        )
    return host.strip("[]") or "0.0.0.0", int(port)


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    return knobs.number(env, name, default, positive=True, hi=3600)

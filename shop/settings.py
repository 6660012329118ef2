"""The shop's configuration: a frozen Settings built from an environment mapping."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

STRATEGIES = ("safe", "naive")
# Where an order's daily sales go: `sync` upserts product_sales_daily in the order transaction
# (a hot row per product per day), `async` appends to sales_queue for the consumer (shop.sales).
SALES_MODES = ("sync", "async")


class SettingsError(ValueError):
    """A bad environment value; the message names the variable."""


def number(env: Mapping[str, str], name: str, default, lo, hi, cast=int):
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = cast(raw)
    except ValueError:
        kind = "an integer" if cast is int else "a number"
        raise SettingsError(f"{name}={raw!r} is not {kind}") from None
    if not lo <= value <= hi:
        raise SettingsError(f"{name}={value} is out of range [{lo}, {hi}]")
    return value


@dataclass(frozen=True)
class Settings:
    database_url: str
    redis_url: str = "redis://127.0.0.1:6379/0"
    order_strategy: str = "safe"
    db_pool_size: int = 8
    db_max_overflow: int = 4
    # A thread has its own pooled connection (shop/serve.py): a wait means overflow.
    db_pool_timeout: float = 2.0
    # innodb_lock_wait_timeout for the shop's sessions: fail in seconds, not the server's 50 s.
    lock_wait_timeout: int = 5
    # Seconds for the TCP connect to the database (pymysql then waits for the server's greeting
    # as for any answer, up to db_read_timeout).
    db_connect_timeout: float = 2.0
    order_max_retries: int = 5
    popular_cache_ttl: float = 5.0
    # Each worker keeps the popular response bytes this long in front of Redis (0: off).
    popular_local_ttl: float = 1.0
    max_charge: int = 1_000_000
    max_body_bytes: int = 64 * 1024
    # Off (0) unless asked for: every API request sleeps this long first, so that a test or the
    # CI gate can prove it catches a slow shop (SHOP_DEBUG_DELAY_MS).
    debug_delay_ms: int = 0
    sales_mode: str = "sync"
    # The sales consumer (python -m shop.sales): rows per drained batch, and how long it sleeps
    # when it found the queue empty.
    sales_batch_size: int = 500
    sales_poll_seconds: float = 0.5

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        url = env.get("SHOP_DATABASE_URL", "")
        if not url:
            raise SettingsError(
                "SHOP_DATABASE_URL is not set (e.g. mysql+pymysql://shop:shop@127.0.0.1:3306/shop)"
            )
        if not url.startswith("mysql+pymysql://"):
            raise SettingsError(f"SHOP_DATABASE_URL must start with mysql+pymysql://, got {url!r}")
        redis_url = env.get("SHOP_REDIS_URL") or cls.redis_url
        if not redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise SettingsError(f"SHOP_REDIS_URL must be a redis:// URL, got {redis_url!r}")
        strategy = env.get("SHOP_ORDER_STRATEGY") or "safe"
        if strategy not in STRATEGIES:
            raise SettingsError(
                f"SHOP_ORDER_STRATEGY={strategy!r} is not one of {', '.join(STRATEGIES)}"
            )
        sales_mode = env.get("SHOP_SALES_MODE") or "sync"
        if sales_mode not in SALES_MODES:
            raise SettingsError(
                f"SHOP_SALES_MODE={sales_mode!r} is not one of {', '.join(SALES_MODES)}"
            )
        return cls(
            database_url=url,
            redis_url=redis_url,
            order_strategy=strategy,
            db_pool_size=number(env, "SHOP_DB_POOL_SIZE", cls.db_pool_size, 1, 200),
            db_max_overflow=number(env, "SHOP_DB_MAX_OVERFLOW", cls.db_max_overflow, 0, 200),
            db_pool_timeout=number(
                env, "SHOP_DB_POOL_TIMEOUT", cls.db_pool_timeout, 0.1, 60, float
            ),
            lock_wait_timeout=number(env, "SHOP_LOCK_WAIT_TIMEOUT", cls.lock_wait_timeout, 1, 3600),
            db_connect_timeout=number(
                env, "SHOP_DB_CONNECT_TIMEOUT", cls.db_connect_timeout, 0.1, 60, float
            ),
            order_max_retries=number(env, "SHOP_ORDER_MAX_RETRIES", cls.order_max_retries, 0, 20),
            popular_cache_ttl=number(
                env, "SHOP_POPULAR_CACHE_TTL_SECONDS", cls.popular_cache_ttl, 0.1, 3600, float
            ),
            popular_local_ttl=number(
                env, "SHOP_POPULAR_LOCAL_TTL_SECONDS", cls.popular_local_ttl, 0, 60, float
            ),
            max_charge=number(env, "SHOP_MAX_CHARGE", cls.max_charge, 1, 10**12),
            debug_delay_ms=number(env, "SHOP_DEBUG_DELAY_MS", cls.debug_delay_ms, 0, 10_000),
            sales_mode=sales_mode,
            sales_batch_size=number(env, "SHOP_SALES_BATCH_SIZE", cls.sales_batch_size, 1, 10_000),
            sales_poll_seconds=number(
                env, "SHOP_SALES_POLL_SECONDS", cls.sales_poll_seconds, 0.01, 60, float
            ),
        )

    @property
    def db_read_timeout(self) -> float:
        """Seconds one statement may go unanswered before the connection is given up: longer
        than a lock wait, so that a lock wait ends with its own error (1205), not a cut."""
        return self.lock_wait_timeout + 2.0

    @property
    def request_timeout(self) -> float:
        """The shop's own timeout: no request waits on the database longer than this before it
        is answered (a 503 when the database did not answer): a wait for a pooled connection,
        a connect, one unanswered statement, and a second for the rest (a deadlock's retries)."""
        return self.db_pool_timeout + self.db_connect_timeout + self.db_read_timeout + 1.0

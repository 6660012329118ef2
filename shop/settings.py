"""The shop's configuration: a frozen Settings built from an environment mapping."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial

import knobs
from knobs import KnobError

STRATEGIES = ("safe", "naive")
# Where an order's daily sales go: `sync` upserts product_sales_daily in the order transaction
# (a hot row per product per day), `async` appends to sales_queue for the consumer (shop.sales).
SALES_MODES = ("sync", "async")
REDIS_SCHEMES = ("redis", "rediss", "unix")


# A bad value is a bad knob: one line naming the variable (knobs.KnobError).
SettingsError = KnobError


# Every knob but SHOP_DATABASE_URL, in the order they are checked: (field, variable, reader); the
# reader takes the field's default.
_KNOBS = (
    ("redis_url", "SHOP_REDIS_URL", partial(knobs.url, schemes=REDIS_SCHEMES)),
    ("order_strategy", "SHOP_ORDER_STRATEGY", partial(knobs.choice, choices=STRATEGIES)),
    ("db_pool_size", "SHOP_DB_POOL_SIZE", partial(knobs.whole, lo=1, hi=200)),
    ("db_max_overflow", "SHOP_DB_MAX_OVERFLOW", partial(knobs.whole, lo=0, hi=200)),
    ("db_pool_timeout", "SHOP_DB_POOL_TIMEOUT", partial(knobs.number, lo=0.1, hi=60)),
    ("lock_wait_timeout", "SHOP_LOCK_WAIT_TIMEOUT", partial(knobs.whole, lo=1, hi=3600)),
    ("db_connect_timeout", "SHOP_DB_CONNECT_TIMEOUT", partial(knobs.number, lo=0.1, hi=60)),
    ("order_max_retries", "SHOP_ORDER_MAX_RETRIES", partial(knobs.whole, lo=0, hi=20)),
    ("popular_cache_ttl", "SHOP_POPULAR_CACHE_TTL_SECONDS", partial(knobs.number, lo=0.1, hi=3600)),
    ("popular_local_ttl", "SHOP_POPULAR_LOCAL_TTL_SECONDS", partial(knobs.number, lo=0, hi=60)),
    ("max_charge", "SHOP_MAX_CHARGE", partial(knobs.whole, lo=1, hi=10**12)),
    ("debug_delay_ms", "SHOP_DEBUG_DELAY_MS", partial(knobs.whole, lo=0, hi=10_000)),
    ("sales_mode", "SHOP_SALES_MODE", partial(knobs.choice, choices=SALES_MODES)),
    ("sales_batch_size", "SHOP_SALES_BATCH_SIZE", partial(knobs.whole, lo=1, hi=10_000)),
    ("sales_poll_seconds", "SHOP_SALES_POLL_SECONDS", partial(knobs.number, lo=0.01, hi=60)),
)


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
        if not knobs.text(env, "SHOP_DATABASE_URL"):
            raise SettingsError(
                "SHOP_DATABASE_URL is not set (e.g. mysql+pymysql://shop:shop@127.0.0.1:3306/shop)"
            )
        return cls(
            database_url=knobs.url(env, "SHOP_DATABASE_URL", "", ("mysql+pymysql",)),
            **{field: read(env, name, getattr(cls, field)) for field, name, read in _KNOBS},
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

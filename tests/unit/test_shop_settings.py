"""Settings.from_env: defaults, and a bad value names its variable."""

from __future__ import annotations

import pytest

from shop.settings import Settings, SettingsError

URL = "mysql+pymysql://shop:shop@127.0.0.1:3306/shop"


def test_defaults_from_a_minimal_environment():
    settings = Settings.from_env({"SHOP_DATABASE_URL": URL})
    assert settings.database_url == URL
    assert settings.order_strategy == "safe"
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.lock_wait_timeout == 5
    assert settings.sales_mode == "sync"


def test_every_knob_is_read():
    settings = Settings.from_env(
        {
            "SHOP_DATABASE_URL": URL,
            "SHOP_REDIS_URL": "redis://127.0.0.1:7000/2",
            "SHOP_ORDER_STRATEGY": "naive",
            "SHOP_DB_POOL_SIZE": "16",
            "SHOP_DB_MAX_OVERFLOW": "0",
            "SHOP_DB_POOL_TIMEOUT": "2.5",
            "SHOP_DB_CONNECT_TIMEOUT": "0.5",
            "SHOP_LOCK_WAIT_TIMEOUT": "3",
            "SHOP_ORDER_MAX_RETRIES": "7",
            "SHOP_POPULAR_CACHE_TTL_SECONDS": "1.5",
            "SHOP_POPULAR_LOCAL_TTL_SECONDS": "0",
            "SHOP_MAX_CHARGE": "500",
            "SHOP_SALES_MODE": "async",
            "SHOP_SALES_BATCH_SIZE": "50",
            "SHOP_SALES_POLL_SECONDS": "0.25",
        }
    )
    assert (settings.order_strategy, settings.db_pool_size, settings.db_max_overflow) == (
        "naive", 16, 0,
    )  # fmt: skip
    assert settings.db_pool_timeout == 2.5
    assert settings.db_connect_timeout == 0.5
    # The shop's own timeout: a pool wait, a connect, a statement (lock wait + 2 s), 1 s more.
    assert (settings.db_read_timeout, settings.request_timeout) == (5, 2.5 + 0.5 + 5 + 1)
    assert settings.order_max_retries == 7
    assert settings.popular_cache_ttl == 1.5
    assert settings.popular_local_ttl == 0  # off
    assert settings.max_charge == 500
    assert (settings.sales_mode, settings.sales_batch_size) == ("async", 50)
    assert settings.sales_poll_seconds == 0.25


def test_debug_delay_is_off_by_default_and_parsed_once():
    assert Settings.from_env({"SHOP_DATABASE_URL": URL}).debug_delay_ms == 0
    slowed = Settings.from_env({"SHOP_DATABASE_URL": URL, "SHOP_DEBUG_DELAY_MS": "150"})
    assert slowed.debug_delay_ms == 150


@pytest.mark.parametrize("raw", ["-1", "10001", "0.5", "slow"])
def test_bad_debug_delay_names_the_variable(raw):
    with pytest.raises(SettingsError, match="SHOP_DEBUG_DELAY_MS"):
        Settings.from_env({"SHOP_DATABASE_URL": URL, "SHOP_DEBUG_DELAY_MS": raw})

"""Every settings reader's answer to a bad knob: one line that names the variable and, where the
reader says it, what was wrong (knobs: one way to read a number, a whole, a flag, a choice)."""

from __future__ import annotations

import re

import pytest

from lab.capacity.settings import CapacitySettingsError, read_capacity_settings
from lab.gate.settings import GateSettings, GateSettingsError
from lab.load.settings import LoadSettingsError, read_load_settings
from shop.serve import ServerSettings
from shop.settings import Settings, SettingsError

URL = "mysql+pymysql://shop:shop@127.0.0.1:3306/shop"

# A reader: what it reads, the error it raises, what it is given besides the bad knob.
READERS = {
    "load": (read_load_settings, LoadSettingsError,
             {"SHOP_URL": "http://127.0.0.1:9/", "LOCUST_METRICS_PORT": "20000"}),
    "capacity": (read_capacity_settings, CapacitySettingsError, {}),
    "gate": (GateSettings.from_env, GateSettingsError, {}),
    "shop.serve": (ServerSettings.from_env, SettingsError, {}),
    "shop": (Settings.from_env, SettingsError, {"SHOP_DATABASE_URL": URL}),
    "shop, no database": (Settings.from_env, SettingsError, {}),
}  # fmt: skip


def whole(message: str) -> str:
    return re.escape(message)


def part(fragment: str) -> str:
    return f".*{re.escape(fragment)}.*"


CASES = [
    ("load", {"TOOL": "jmeter"}, whole("TOOL='jmeter' is not one of k6, locust")),
    ("load", {"SCENARIO": "bogus"},
     whole("SCENARIO='bogus' is not one of smoke, load, soak, stress, probe, spike, chaos")),
    ("load", {"TARGET_TPS": "0"}, whole("TARGET_TPS='0' must be a positive number")),
    ("load", {"TARGET_TPS": "fast"}, whole("TARGET_TPS='fast' is not a number")),
    ("load", {"SCALE": "-1"}, whole("SCALE='-1' must be a positive number")),
    ("load", {"SCALE": "nan"}, whole("SCALE='nan' is not a finite number")),
    ("load", {"HOT_USERS": "2.5"}, whole("HOT_USERS='2.5' is not a whole number")),
    ("load", {"HOT_USERS": "-3"}, whole("HOT_USERS='-3' is out of range: from 0 to 1e+06")),
    ("load", {"HOT_RATIO": "2"}, whole("HOT_RATIO='2' is out of range: from 0 to 1")),
    ("load", {"ORDER_RATIO": "x"}, whole("ORDER_RATIO='x' is not a number")),
    ("load", {"STRATEGY": "fast"}, whole("STRATEGY='fast' is not one of safe, naive")),
    ("load", {"PROCESSES": "two"}, whole("PROCESSES='two' is not a whole number")),
    ("load", {"LOCUST_METRICS_PORT": "-1"},
     whole("LOCUST_METRICS_PORT='-1' is out of range: from 0 to 65535")),
    ("load", {"LOCUST_SCRAPE_WAIT": "soon"}, whole("LOCUST_SCRAPE_WAIT='soon' is not a number")),
    ("capacity", {"RUNS": "0"}, part("RUNS='0'")),
    ("capacity", {"RUNS": "two"}, part("RUNS='two'")),
    ("capacity", {"BUDGET": "-5"}, part("BUDGET='-5'")),
    ("capacity", {"LOCAL_SHOP_REPLICAS": "1,,3"}, part("LOCAL_SHOP_REPLICAS='1,,3'")),
    ("capacity", {"LOCAL_SHOP_REPLICAS": "1,1"}, part("names 1 twice")),
    ("capacity", {"LOCAL_SHOP_REPLICAS": "1,2", "SHOP_URL": "http://x:1"},
     part("needs the native stack")),
    ("gate", {"TARGET_TPS": "fast"}, part("TARGET_TPS")),
    ("gate", {"SCALE": "-1"}, part("SCALE")),
    ("gate", {"TOOL": "jmeter"}, part("TOOL")),
    ("gate", {"GATE_BUDGET": "10"}, part("GATE_BUDGET")),
    ("gate", {"GATE_BUDGET": "soon"}, part("GATE_BUDGET")),
    ("gate", {"GATE_SCREENSHOT": "maybe"}, part("GATE_SCREENSHOT")),
    ("gate", {"LOCAL_SHOP_PORT": "80"}, part("LOCAL_SHOP_PORT")),
    ("gate", {"TREND_PVALUE": "2"}, part("TREND_PVALUE")),
    ("shop.serve", {"SHOP_BIND": "8000"}, part("must be HOST:PORT, got '8000'")),
    ("shop.serve", {"SHOP_BIND": "127.0.0.1:99999"}, part("must be HOST:PORT")),
    ("shop.serve", {"SHOP_WORKERS": "0"}, part("SHOP_WORKERS='0' is out of range")),
    ("shop.serve", {"SHOP_THREADS": "four"}, part("SHOP_THREADS='four' is not a whole number")),
    ("shop.serve", {"SHOP_ACCESS_LOG": "maybe"}, part("SHOP_ACCESS_LOG='maybe' is not a flag")),
    ("shop.serve", {"SHOP_LOG_LEVEL": "loud"}, part("SHOP_LOG_LEVEL='loud'")),
    ("shop, no database", {}, part("SHOP_DATABASE_URL")),
    ("shop", {"SHOP_DATABASE_URL": "sqlite:///x.db"}, part("SHOP_DATABASE_URL")),
    ("shop", {"SHOP_REDIS_URL": "http://x"}, part("SHOP_REDIS_URL")),
    ("shop", {"SHOP_ORDER_STRATEGY": "fast"}, part("SHOP_ORDER_STRATEGY")),
    ("shop", {"SHOP_SALES_MODE": "later"}, part("SHOP_SALES_MODE")),
    ("shop", {"SHOP_SALES_BATCH_SIZE": "0"}, part("SHOP_SALES_BATCH_SIZE")),
    ("shop", {"SHOP_DB_POOL_SIZE": "0"}, part("SHOP_DB_POOL_SIZE")),
    ("shop", {"SHOP_DB_POOL_SIZE": "ten"}, part("SHOP_DB_POOL_SIZE")),
    ("shop", {"SHOP_POPULAR_CACHE_TTL_SECONDS": "-1"}, part("SHOP_POPULAR_CACHE_TTL_SECONDS")),
    ("shop", {"SHOP_POPULAR_LOCAL_TTL_SECONDS": "61"}, part("SHOP_POPULAR_LOCAL_TTL_SECONDS")),
    ("shop", {"SHOP_ORDER_MAX_RETRIES": "99"}, part("SHOP_ORDER_MAX_RETRIES")),
]  # fmt: skip


@pytest.mark.parametrize(("reader", "env", "says"), CASES,
                         ids=[f"{r}-{'-'.join(e) or 'nothing'}" for r, e, _ in CASES])  # fmt: skip
def test_a_bad_knob_is_one_line_naming_it(reader, env, says):
    read, error, given = READERS[reader]
    with pytest.raises(error) as caught:
        read({**given, **env})
    assert re.fullmatch(says, str(caught.value)), str(caught.value)
    assert "\n" not in str(caught.value)

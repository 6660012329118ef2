"""The load runner's knobs: parsed once, from the environment or the flags, one line per error."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.load.settings import LoadSettingsError, read_load_settings

# A shop of its own: no native stack involved, so nothing is read from stack/local.env ports.
GIVEN_SHOP = {"SHOP_URL": "http://127.0.0.1:9/", "LOCUST_METRICS_PORT": "20000"}


def test_defaults_are_a_k6_smoke_against_the_native_stack():
    s = read_load_settings({"LOCAL_SHOP_PORT": "18500", "LOCAL_PROMETHEUS_PORT": "19500",
                               "LOCAL_STATE_DIR": "/tmp/x"})  # fmt: skip
    assert (s.tool, s.scenario, s.target_tps, s.scale) == ("k6", "smoke", 200, 1)
    assert (s.hot_users, s.hot_ratio, s.order_ratio, s.strategy) == (0, 0.8, None, None)
    assert s.base_url == "http://127.0.0.1:18500" and s.native and s.target.name == "shop"
    assert s.prometheus_url == "http://127.0.0.1:19500"
    assert s.file_sd == Path("/tmp/x/locust.json") and s.locust_scrape_wait == 15


def test_a_given_shop_has_no_prometheus_unless_told():
    s = read_load_settings(GIVEN_SHOP)
    assert s.base_url == "http://127.0.0.1:9" and not s.native
    assert s.prometheus_url is None and s.file_sd is None and s.locust_scrape_wait == 0
    told = read_load_settings({**GIVEN_SHOP, "PROMETHEUS_URL": "http://127.0.0.1:8/"})
    assert told.prometheus_url == "http://127.0.0.1:8" and told.file_sd is None


def test_flags_win_over_the_environment_and_parse_the_same():
    s = read_load_settings(
        {**GIVEN_SHOP, "TOOL": "k6", "SCALE": "5", "TARGET_TPS": "300"},
        ["--tool", "locust", "--scale", "0.2", "--hot-users", "3", "--strategy", "naive"],
    )
    assert (s.tool, s.scale, s.hot_users, s.strategy, s.target_tps) == ("locust", 0.2, 3, "naive",
                                                                        300)  # fmt: skip


def test_a_bad_flag_names_its_knob():
    with pytest.raises(LoadSettingsError, match=r"^SCALE='abc' is not a number$"):
        read_load_settings(GIVEN_SHOP, ["--scale", "abc"])


def test_a_bad_native_stack_setting_is_reported_as_is():
    with pytest.raises(LoadSettingsError, match="LOCAL_SHOP_PORT"):
        read_load_settings({"LOCAL_SHOP_PORT": "80"})


def test_an_order_ratio_that_leaves_nothing_to_send_is_refused(tmp_path):
    only_orders = tmp_path / "orders-only.yaml"
    only_orders.write_text(
        "name: orders-only\napp: {url: 'http://127.0.0.1:8080'}\nmetrics: {dialect: none}\n"
        "endpoints:\n  - {name: orders, method: POST, path: /api/orders, p95_ms: 200}\n"
    )
    env = {**GIVEN_SHOP, "TARGET": str(only_orders)}
    with pytest.raises(LoadSettingsError, match=r"^ORDER_RATIO=0 leaves orders-only nothing"):
        read_load_settings({**env, "ORDER_RATIO": "0"})
    assert read_load_settings({**env, "ORDER_RATIO": "1"}).order_ratio == 1

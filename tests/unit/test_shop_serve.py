"""shop.serve's settings and set-up: what the server is told, and one line for a bad knob."""

from __future__ import annotations

import os

from shop.serve import ServerSettings, main, prepare_environment


def test_defaults_and_each_knob():
    assert ServerSettings.from_env({}) == ServerSettings()
    s = ServerSettings.from_env(
        {"SHOP_BIND": "0.0.0.0:9000", "SHOP_WORKERS": "2", "SHOP_THREADS": "8",
         "SHOP_GRACEFUL_SECONDS": "5", "SHOP_LOG_LEVEL": "WARNING", "SHOP_ACCESS_LOG": "1"}
    )  # fmt: skip
    assert s == ServerSettings("0.0.0.0", 9000, 2, 8, 5, "warning", True)
    # --bind wins over SHOP_BIND; "0" and "" leave the access log off.
    assert ServerSettings.from_env({"SHOP_BIND": "0.0.0.0:9000"}, "127.0.0.1:1").port == 1
    assert not ServerSettings.from_env({"SHOP_ACCESS_LOG": "0"}).access_log
    assert ServerSettings.from_env({}, "[::1]:8000").host == "::1"


def test_the_cli_says_a_bad_knob_in_one_line_and_exits_2(monkeypatch, capsys):
    monkeypatch.setenv("SHOP_WORKERS", "-1")
    assert main([]) == 2
    err = capsys.readouterr().err
    assert err == "shop: configuration error: SHOP_WORKERS='-1' is out of range: from 1 to 64\n"


def test_the_metrics_folder_is_made_or_emptied_before_the_workers(tmp_path):
    settings = ServerSettings(threads=6)
    env: dict[str, str] = {}
    own = prepare_environment(env, settings)
    try:
        assert own == env["PROMETHEUS_MULTIPROC_DIR"] and os.path.isdir(own)
        assert env["SHOP_DB_POOL_SIZE"] == "6" and env["SHOP_DB_MAX_OVERFLOW"] == "2"
        assert env["SHOP_SERVER_PID"] == str(os.getpid())
    finally:
        os.rmdir(own)
    given = tmp_path / "metrics"
    given.mkdir()
    (given / "counter_1.db").write_bytes(b"old")
    (given / "keep.txt").write_text("not ours")
    env = {"PROMETHEUS_MULTIPROC_DIR": str(given), "SHOP_DB_POOL_SIZE": "3"}
    assert prepare_environment(env, settings) is None
    assert sorted(p.name for p in given.iterdir()) == ["keep.txt"]
    assert env["SHOP_DB_POOL_SIZE"] == "3"  # a given value stays

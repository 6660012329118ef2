"""The shop's debug delay reaches the native stack's shop only when asked for, never compose's."""

from __future__ import annotations

from stack import services
from stack.compose_file import render_compose
from stack.settings import read_stack_settings


def shop_env(env: dict[str, str]) -> dict[str, str]:
    settings = read_stack_settings(env)
    replica = services.NativeProcess(services.SERVICES["shop"], 1)  # as local-up runs it
    command = services.native_command(replica, settings)
    command = command[command.index("env") :]  # after the replica's keeper
    return dict(part.split("=", 1) for part in command[1:] if "=" in part and "/" not in part)


def test_native_shop_runs_without_delay_by_default(tmp_path):
    assert "SHOP_DEBUG_DELAY_MS" not in shop_env({"LOCAL_STATE_DIR": str(tmp_path)})


def test_native_shop_gets_the_delay_asked_for(tmp_path):
    env = {"LOCAL_STATE_DIR": str(tmp_path), "LOCAL_SHOP_DEBUG_DELAY_MS": "120"}
    assert shop_env(env)["SHOP_DEBUG_DELAY_MS"] == "120"


def test_compose_never_slows_its_shop():
    assert "SHOP_DEBUG_DELAY_MS" not in render_compose()

"""Shared pytest set-up: the server fixtures live in tests/harness/plugin.py."""

pytest_plugins = ["pytester"]

"""Shared pytest set-up: the server fixtures live in tests/harness/plugin.py.

Registered here rather than with `-p` in addopts: this conftest is imported with the repository
on sys.path (tests/ is a package), so `pytest` and `python -m pytest` both find the plugin.
"""

pytest_plugins = ["pytester", "tests.harness.plugin"]

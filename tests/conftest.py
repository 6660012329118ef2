"""Shared pytest set-up: the server fixtures live in tests/harness/plugin.py.

Registered here rather than with `-p` in addopts: this conftest is imported with the repository
on sys.path (tests/ is a package), so `pytest` and `python -m pytest` both find the plugin.
"""

pytest_plugins = ["pytester", "tests.harness.plugin"]


def pytest_configure(config) -> None:
    """Hypothesis profiles: `ci` (default) is short and derandomized, so `make test` is
    deterministic; HYPOTHESIS_PROFILE=fuzz searches long and remembers what it found."""
    import os

    from hypothesis import HealthCheck, settings

    # A deadline far above a healthy example's time on a loaded machine: it catches a hang
    # (a backtracking regex), not a slow core.
    settings.register_profile(
        "ci",
        max_examples=60,
        derandomize=True,
        database=None,
        deadline=3000,
        suppress_health_check=[HealthCheck.too_slow],
    )
    settings.register_profile(
        "fuzz", max_examples=5000, deadline=3000, suppress_health_check=[HealthCheck.too_slow]
    )
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_terminal_summary(terminalreporter) -> None:
    """One line: how many tests skipped for the optional extra corpus (tests/extras.py)."""
    from tests.extras import SKIP_PREFIX

    reasons = [
        str(report.longrepr[2]) if isinstance(report.longrepr, tuple) else str(report.longrepr)
        for report in terminalreporter.stats.get("skipped", [])
    ]
    extras = [r for r in reasons if SKIP_PREFIX in r]
    if extras:
        why = extras[0].split(SKIP_PREFIX, 1)[1]
        terminalreporter.write_line(f"extras: {len(extras)} tests skipped ({why})")


# Each folder's mark, on every test in it: `-m "not e2e"` (make test-quick) and `-m integration`
# select exactly what they say.
FOLDER_MARKS = {"tests/integration/": "integration", "tests/e2e/": "e2e"}


def pytest_collection_modifyitems(items) -> None:
    import pytest

    for item in items:
        for folder, mark in FOLDER_MARKS.items():
            if item.nodeid.startswith(folder) and item.get_closest_marker(mark) is None:
                raise pytest.UsageError(f"{item.nodeid}: a test in {folder} is marked {mark}")

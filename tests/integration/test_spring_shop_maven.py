"""The Spring shop's own Maven tests (`mvn test`), the database ones given a real MariaDB: a
schema made by the Flask shop's CLI on the harness's server."""

from __future__ import annotations

import os
import subprocess
import xml.etree.ElementTree as ET

import pytest

from stack.services import REPO
from tests.integration.conftest import init_with_cli

pytestmark = pytest.mark.integration

PROJECT = REPO / "spring-shop"


@pytest.fixture
def maven_database(mariadb):
    name = "shop_spring_maven"
    engine = init_with_cli(mariadb, name)
    engine.dispose()
    yield name
    with mariadb.connect() as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE {name}")


def surefire_totals() -> dict[str, int]:
    totals = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
    for report in (PROJECT / "target" / "surefire-reports").glob("TEST-*.xml"):
        suite = ET.parse(report).getroot()
        for key in totals:
            totals[key] += int(suite.get(key, 0))
    return totals


def test_maven_tests_pass_with_the_database_ones_run(mariadb, maven_database):
    env = {**os.environ, "SPRING_SHOP_TEST_DATABASE_URL": mariadb.url(maven_database)}
    done = subprocess.run(
        ["mvn", "-B", "-q", "test"], cwd=PROJECT, env=env, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    totals = surefire_totals()
    # Every test ran (the database ones included: none skipped) and passed.
    assert totals["tests"] >= 30 and totals["skipped"] == 0, totals
    assert totals["failures"] == totals["errors"] == 0, totals

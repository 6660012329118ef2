"""SHOP_DEBUG_DELAY_MS slows every API request by its value and leaves the probes alone."""

from __future__ import annotations

import dataclasses
import time

import pytest

from shop import create_app

pytestmark = pytest.mark.integration

DELAY_MS = 1000


@pytest.fixture
def slow_client(app, shop_settings):
    """A second app on the session's seeded database, slowed on purpose."""
    slow = create_app(dataclasses.replace(shop_settings, debug_delay_ms=DELAY_MS))
    yield slow.test_client()
    slow.extensions["shop"].engine.dispose()
    slow.extensions["shop"].redis.close()


def timed(client, path: str) -> tuple[int, float]:
    started = time.monotonic()
    status = client.get(path).status_code
    return status, time.monotonic() - started


def test_debug_delay_slows_api_requests_and_not_the_probes(slow_client):
    status, api_s = timed(slow_client, "/api/products/1")
    assert status == 200
    assert api_s >= DELAY_MS / 1000
    status, probe_s = timed(slow_client, "/healthz")
    assert status == 200
    # An in-process probe takes microseconds: a whole delay means it slept.
    assert probe_s < DELAY_MS / 1000

"""SHOP_DEBUG_DELAY_MS slows every API request by its value and leaves the probes alone."""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest

from shop import create_app

pytestmark = pytest.mark.integration

DELAY_MS = 1000


@pytest.fixture
def slowed(app, shop_settings):
    """A client of a second app on the session's seeded database, slowed on purpose by
    `delay_ms`."""
    apps = []

    def client(delay_ms: int):
        slow = create_app(dataclasses.replace(shop_settings, debug_delay_ms=delay_ms))
        apps.append(slow)
        return slow.test_client()

    yield client
    for slow in apps:
        slow.extensions["shop"].engine.dispose()
        slow.extensions["shop"].redis.close()


def timed(client, path: str) -> tuple[int, float]:
    started = time.monotonic()
    status = client.get(path).status_code
    return status, time.monotonic() - started


def test_debug_delay_slows_api_requests_and_not_the_probes(slowed):
    status, api_s = timed(slowed(DELAY_MS), "/api/products/1")
    assert status == 200
    assert api_s >= DELAY_MS / 1000  # a lower bound: a busy machine only adds to it
    # Under a ten-minute delay, a probe that answers at all did not sleep: no clock needed.
    sleepy, answers = slowed(600_000), []
    probe = threading.Thread(target=lambda: answers.append(sleepy.get("/healthz").status_code),
                             daemon=True)  # fmt: skip
    probe.start()
    probe.join(timeout=60)
    assert answers == [200], "the probe slept the API requests' debug delay"

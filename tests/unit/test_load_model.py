"""The traffic model's mix: the endpoints in their shares over any stretch of requests."""

from __future__ import annotations

import random

import pytest

from lab.load import model


@pytest.mark.parametrize("seed", range(20))
def test_the_mix_is_kept_in_every_stretch_of_requests_not_drawn_by_chance(seed):
    """A 5 s smoke at 2/s is 10 requests: drawn by chance, 1 in 20 had fewer than 3 orders."""
    endpoints = [{"name": "orders"}, {"name": "popular"}, {"name": "rare"}]
    mix = model.Mix({"orders": 0.45, "popular": 0.45, "rare": 0.1}, endpoints, random.Random(seed))
    names = [mix.next()["name"] for _ in range(200)]
    for start in range(0, 190, 10):
        ten = names[start : start + 10]
        assert 3 <= ten.count("orders") <= 6 and 3 <= ten.count("popular") <= 6, ten
    assert names.count("rare") == pytest.approx(20, abs=1)

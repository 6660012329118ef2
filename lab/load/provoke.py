"""The mission's deadlock on demand, for checks and tests that must see one."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import requests


def provoke_deadlock(shop_url: str, bursts: int = 5, width: int = 16) -> int:
    """Bursts of `width` simultaneous orders of user 1 (at most `bursts` of them) until one is
    rolled back as a deadlock victim; returns how many were. On the naive strategy each insert
    share-locks the user row through the foreign key, then every one wants to update it. Hot
    users make deadlocks likely during a short run, this makes one certain."""
    order = {"user_id": 1, "items": [{"product_id": 2, "quantity": 1}]}
    url = f"{shop_url.rstrip('/')}/api/orders"

    def place(barrier: threading.Barrier) -> requests.Response:
        barrier.wait()  # all at once
        return requests.post(url, json=order, timeout=30)

    victims = 0
    for _ in range(bursts):
        with ThreadPoolExecutor(width) as pool:
            answers = list(pool.map(place, [threading.Barrier(width)] * width))
        victims += sum(a.status_code == 503 and a.json()["error"]["code"] == "deadlock"
                       for a in answers)  # fmt: skip
        if victims:
            break
    return victims

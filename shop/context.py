"""What a request needs from the app: settings, engine, Redis, metrics, caches."""

from __future__ import annotations

from dataclasses import dataclass

import redis
from flask import current_app
from sqlalchemy import Engine

from shop.cache import StaleWhileRevalidateCache
from shop.fast_path import PopularFastPath
from shop.local_cache import LocalCache
from shop.metrics import ShopMetrics
from shop.settings import Settings


@dataclass
class ShopContext:
    settings: Settings
    engine: Engine
    redis: redis.Redis
    metrics: ShopMetrics
    popular_cache: StaleWhileRevalidateCache
    popular_local: LocalCache | None = None  # response bytes per worker (None: off)
    popular_fast: PopularFastPath | None = None  # those bytes served before Flask (None: off)


def shop_context() -> ShopContext:
    return current_app.extensions["shop"]

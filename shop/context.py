"""What a request needs from the app: settings, engine, Redis, metrics, caches."""

from __future__ import annotations

from dataclasses import dataclass

import redis
from flask import current_app
from sqlalchemy import Engine

from shop.cache import StaleWhileRevalidateCache
from shop.metrics import ShopMetrics
from shop.settings import Settings


@dataclass
class ShopContext:
    settings: Settings
    engine: Engine
    redis: redis.Redis
    metrics: ShopMetrics
    popular_cache: StaleWhileRevalidateCache


def shop_context() -> ShopContext:
    return current_app.extensions["shop"]

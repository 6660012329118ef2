"""The application factory: settings in, a wired Flask app out."""

from __future__ import annotations

import os
import sys
import time

import redis
from flask import Flask, request

from shop.api import api, probes
from shop.cache import StaleWhileRevalidateCache, redis_answers
from shop.cli import register_cli
from shop.context import ShopContext
from shop.db import create_db_engine
from shop.errors import register_error_handlers
from shop.fast_path import PopularFastPath
from shop.local_cache import LocalCache
from shop.metrics import CacheCollector, attach_metrics
from shop.openapi import answers
from shop.settings import Settings, SettingsError


def create_app(settings: Settings | None = None) -> Flask:
    if settings is None:
        try:
            settings = Settings.from_env(os.environ)
        except SettingsError as exc:
            print(f"shop: configuration error: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
    app = Flask("shop")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False
    # Short timeouts: a dead Redis must cost the popular list milliseconds, not seconds.
    redis_client = redis.Redis.from_url(
        settings.redis_url, socket_timeout=0.25, socket_connect_timeout=0.25
    )
    metrics = attach_metrics(app, [CacheCollector(lambda: redis_answers(redis_client))])
    engine = create_db_engine(settings, metrics)
    app.extensions["shop"] = context = ShopContext(
        settings=settings,
        engine=engine,
        redis=redis_client,
        metrics=metrics,
        popular_cache=StaleWhileRevalidateCache(
            redis_client, metrics, "popular", settings.popular_cache_ttl
        ),
        popular_local=LocalCache("popular_local", settings.popular_local_ttl, metrics=metrics)
        if settings.popular_local_ttl
        else None,
    )
    register_error_handlers(app)
    if settings.debug_delay_ms:
        slow_down(app, settings.debug_delay_ms)
    elif context.popular_local is not None:
        # The popular list's cached bytes served before Flask (not while slowed on purpose).
        app.wsgi_app = context.popular_fast = PopularFastPath(
            app.wsgi_app, context.popular_local, metrics
        )
    app.register_blueprint(api)
    app.register_blueprint(probes)
    # Every answer the contract lists exists at 0 from the start: after a restart Prometheus
    # sees each series reset, none left at the old process's value.
    metrics.http.expect(answers(app))
    register_cli(app)
    return app


def slow_down(app: Flask, delay_ms: int) -> None:
    """Every API request sleeps `delay_ms` first (SHOP_DEBUG_DELAY_MS, a debug knob): the
    metrics hooks, registered before, time it, so the shop's own p95 shows it as clients do.
    Probes and /metrics stay prompt."""
    print(f"shop: SHOP_DEBUG_DELAY_MS={delay_ms}: every API request is slowed on purpose",
          file=sys.stderr)  # fmt: skip

    @app.before_request
    def _delay() -> None:
        if request.blueprint == api.name:
            time.sleep(delay_ms / 1000)

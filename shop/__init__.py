"""The shop: a Flask app on MySQL and Redis (`create_app` is the factory)."""

from __future__ import annotations


def create_app(settings=None):
    """The app (shop.app.create_app), imported on first call: `python -m shop.serve` imports
    this package before it has set PROMETHEUS_MULTIPROC_DIR, which must precede Flask's and
    prometheus_client's import."""
    from shop.app import create_app as _create_app

    return _create_app(settings)


__all__ = ["create_app"]

"""The shop: a Flask app on MySQL and Redis (`create_app` is the factory)."""

from shop.app import create_app

__all__ = ["create_app"]

"""The textbook peer of the shop: Flask + SQLAlchemy ORM, the yardstick of `make bench-shop`."""

from bench.peer.app import create_app

__all__ = ["create_app"]

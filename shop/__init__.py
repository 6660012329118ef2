"""The shop: a Flask app on MySQL and Redis."""

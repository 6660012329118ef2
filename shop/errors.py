"""Domain errors and the one place that maps every error to the JSON error contract."""

from __future__ import annotations

import logging

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

log = logging.getLogger("shop")


class ShopError(Exception):
    """An error the client sees as `{"error": {"code", "message", "field"?}}` with `status`."""

    status = 400
    code = "invalid"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if code:
            self.code = code

    def body(self) -> dict:
        error = {"code": self.code, "message": self.message}
        if self.field is not None:
            error["field"] = self.field
        return {"error": error}


class InvalidInput(ShopError):
    status, code = 400, "invalid"


class NotFound(ShopError):
    status, code = 404, "not_found"


class Conflict(ShopError):
    status, code = 409, "conflict"


class OutOfStock(Conflict):
    code = "out_of_stock"


class InsufficientPoints(Conflict):
    code = "insufficient_points"


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"


class Unavailable(ShopError):
    """A dependency failed (database down, a deadlock the strategy did not absorb)."""

    status, code = 503, "unavailable"


# Werkzeug's HTTP errors, in our vocabulary.
_HTTP_CODES = {
    400: "malformed",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
}


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ShopError)
    def _shop_error(exc: ShopError):
        response = jsonify(exc.body())
        response.status_code = exc.status
        if exc.status == 503:
            response.headers["Retry-After"] = "1"
        return response

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        status = exc.code or 500
        code = _HTTP_CODES.get(status, "http_error")
        message = exc.description or exc.name
        if status == 413:
            message = f"request body is larger than {app.config['MAX_CONTENT_LENGTH']} bytes"
        response = jsonify({"error": {"code": code, "message": message}})
        response.status_code = status
        # The exception's own headers (Allow on a 405, as RFC 9110 requires) go along.
        for name, value in exc.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error")
        response = jsonify({"error": {"code": "internal", "message": "internal server error"}})
        response.status_code = 500
        return response

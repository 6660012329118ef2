"""Request parsing: JSON bodies and query parameters into checked values, or a named 4xx."""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Request

from shop.errors import InvalidInput, ShopError
from shop.orders import OrderLine

MAX_ID = 2**63 - 1
MAX_QUANTITY = 1000
MAX_LINES = 50
_KEY_RE = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")


class UnsupportedMediaType(ShopError):
    status, code = 415, "unsupported_media_type"


def json_object(request: Request) -> dict[str, Any]:
    if not request.is_json:
        raise UnsupportedMediaType("send the body as JSON with Content-Type: application/json")
    raw = request.get_data(cache=False)  # over MAX_CONTENT_LENGTH: werkzeug raises 413
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"body is not valid JSON: {exc}", code="malformed_json") from None
    if not isinstance(body, dict):
        raise InvalidInput("body must be a JSON object")
    return body


def integer(value: Any, field: str, lo: int, hi: int) -> int:
    # bool is an int in Python and 2.0 is a float in JSON: neither is an integer here.
    if type(value) is not int:
        raise InvalidInput(f"{field} must be an integer", field=field)
    if not lo <= value <= hi:
        raise InvalidInput(f"{field} must be between {lo} and {hi}", field=field)
    return value


def required(body: dict, name: str, field: str | None = None) -> Any:
    if name not in body or body[name] is None:
        raise InvalidInput(f"{field or name} is required", field=field or name, code="missing")
    return body[name]


def query_int(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    given = request.args.getlist(name)
    if not given:
        return default
    # `?limit=` and `?limit=1&limit=2` are no integer: the contract's 400, not a guess
    if len(given) > 1:
        raise InvalidInput(f"{name} must be given once", field=name)
    raw = given[0]
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be an integer", field=name) from None
    if not lo <= value <= hi:
        raise InvalidInput(f"{name} must be between {lo} and {hi}", field=name)
    return value


def order_request(body: dict) -> tuple[int, list[OrderLine]]:
    """The user and one line per product: lines naming the same product are one line, their
    quantities added (a cart that lists a product twice means the sum), kept where the product
    first appeared. Each line is bounded by the contract; their sum only by the stock."""
    user_id = integer(required(body, "user_id"), "user_id", 1, MAX_ID)
    items = required(body, "items")
    if not isinstance(items, list):
        raise InvalidInput("items must be a list", field="items")
    if not 1 <= len(items) <= MAX_LINES:
        raise InvalidInput(f"items must have 1 to {MAX_LINES} lines", field="items")
    merged: dict[int, OrderLine] = {}
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise InvalidInput(f"items[{i}] must be an object", field=f"items[{i}]")
        pid_field, qty_field = f"items[{i}].product_id", f"items[{i}].quantity"
        product_id = integer(required(item, "product_id", pid_field), pid_field, 1, MAX_ID)
        quantity = integer(required(item, "quantity", qty_field), qty_field, 1, MAX_QUANTITY)
        first = merged.get(product_id)
        if first is None:
            merged[product_id] = OrderLine(product_id, quantity, line=i)
        else:
            merged[product_id] = OrderLine(product_id, first.quantity + quantity, first.line)
    return user_id, list(merged.values())


def idempotency_key(request: Request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not _KEY_RE.match(key):
        raise InvalidInput(
            "Idempotency-Key must be 1 to 64 characters of letters, digits and _ . : -",
            field="Idempotency-Key",
        )
    return key

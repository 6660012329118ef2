"""The OpenAPI 3 document of the API (a test checks every route is in it)."""

from __future__ import annotations

import re

from flask import Flask

from shop.validation import MAX_ID, MAX_LINES, MAX_QUANTITY


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _body(required: list[str], properties: dict) -> dict:
    """A required JSON object body: `properties` by name, `required` among them."""
    schema = {"type": "object", "required": required, "properties": properties}
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict:
    meaning = {
        400: "malformed or invalid input (the field is named)",
        404: "unknown id",
        409: "business conflict: out of stock, insufficient points, key reused",
        413: "body too large",
        415: "body is not JSON",
        503: "a dependency is down, or a deadlock the strategy did not absorb",
    }
    return {str(s): _json(_ref("Error"), meaning[s]) for s in statuses}


def _int_param(
    name: str, where: str, description: str, minimum: int = 1, maximum=None, default=None
) -> dict:
    schema = {"type": "integer", "minimum": minimum}
    if maximum is None and where == "path":
        maximum = MAX_ID  # ids are BIGINT
    if maximum is not None:
        schema["maximum"] = maximum
    if default is not None:
        schema["default"] = default
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "schema": schema,
        "description": description,
    }


def spec(app: Flask | None = None) -> dict:
    max_charge = app.extensions["shop"].settings.max_charge if app else 1_000_000
    product = {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "price": {"type": "integer"},
            "stock": {"type": "integer"},
        },
        "required": ["id", "name", "price", "stock"],
    }
    # What a client sends per line; the price is the shop's, only in what it answers.
    order_line = {
        "type": "object",
        "properties": {
            "product_id": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
            "quantity": {"type": "integer", "minimum": 1, "maximum": MAX_QUANTITY},
        },
        "required": ["product_id", "quantity"],
    }
    # What an order holds per product: the request's lines naming it, added up.
    order_item = {
        "type": "object",
        "properties": {
            "product_id": order_line["properties"]["product_id"],
            "quantity": {"type": "integer", "minimum": 1, "maximum": MAX_LINES * MAX_QUANTITY},
            "price": {"type": "integer"},
        },
        "required": ["product_id", "quantity", "price"],
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "shoplab shop",
            "version": "1.0.0",
            "description": "Order-payment and popular-products APIs.",
        },
        "paths": {
            "/api/products": {
                "get": {
                    "summary": "List products by id",
                    "parameters": [
                        _int_param("limit", "query", "page size", 1, 100, 20),
                        _int_param("offset", "query", "rows to skip", 0, 10_000_000, 0),
                    ],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "items": {"type": "array", "items": _ref("Product")},
                                    "limit": {"type": "integer"},
                                    "offset": {"type": "integer"},
                                    "total": {"type": "integer"},
                                },
                            },
                            "a page of products",
                        ),
                        **_errors(400, 503),
                    },
                }
            },
            "/api/products/popular": {
                "get": {
                    "summary": "Top sellers by quantity over the last N UTC days (cached)",
                    "parameters": [
                        _int_param("days", "query", "window in days, today included", 1, 30, 3),
                        _int_param("limit", "query", "how many products", 1, 100, 5),
                    ],
                    "responses": {
                        "200": _json(
                            {"type": "array", "items": _ref("PopularProduct")}, "best sellers first"
                        ),
                        **_errors(400, 503),
                    },
                }
            },
            "/api/products/{product_id}": {
                "get": {
                    "summary": "One product with price and stock",
                    "parameters": [_int_param("product_id", "path", "product id")],
                    "responses": {
                        "200": _json(_ref("Product"), "the product"),
                        **_errors(404, 503),
                    },
                }
            },
            "/api/users/{user_id}/points": {
                "get": {
                    "summary": "A user's point balance",
                    "parameters": [_int_param("user_id", "path", "user id")],
                    "responses": {"200": _json(_ref("Points"), "the balance"), **_errors(404, 503)},
                }
            },
            "/api/users/{user_id}/points/charge": {
                "post": {
                    "summary": "Add points to a user's balance",
                    "parameters": [_int_param("user_id", "path", "user id")],
                    "requestBody": _body(
                        ["amount"],
                        {"amount": {"type": "integer", "minimum": 1, "maximum": max_charge}},
                    ),
                    "responses": {
                        "200": _json(_ref("Points"), "the new balance"),
                        **_errors(400, 404, 413, 415, 503),
                    },
                }
            },
            "/api/orders": {
                "post": {
                    "summary": "Place and pay an order in one transaction",
                    "description": "Lines naming the same product are one line of the "
                    "order, their quantities added, in the place of the product's first line "
                    "(an error's `field` names that line). Each line is bounded here; their sum "
                    "only by the stock (409 `out_of_stock`).",
                    "parameters": [
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "schema": {
                                "type": "string",
                                "maxLength": 64,
                                "pattern": "^[A-Za-z0-9_.:-]{1,64}$",
                            },
                            "description": "a retry with the same key returns the first "
                            "order and never charges twice",
                        }
                    ],
                    "requestBody": _body(
                        ["user_id", "items"],
                        {
                            "user_id": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
                            "items": {
                                "type": "array",
                                "minItems": 1,
                                "maxItems": MAX_LINES,
                                "items": order_line,
                            },
                        },
                    ),
                    "responses": {
                        "201": _json(_ref("Order"), "the order, paid (also a replay)"),
                        **_errors(400, 404, 409, 413, 415, 503),
                    },
                }
            },
            "/api/orders/{order_id}": {
                "get": {
                    "summary": "One order with its items",
                    "parameters": [_int_param("order_id", "path", "order id")],
                    "responses": {"200": _json(_ref("Order"), "the order"), **_errors(404, 503)},
                }
            },
            "/healthz": {
                "get": {"summary": "The process is up", "responses": {"200": {"description": "up"}}}
            },
            "/readyz": {
                "get": {
                    "summary": "The database is reachable (and which order strategy runs)",
                    "responses": {
                        "200": {"description": "ready; `degraded` while Redis does not answer"},
                        "503": {"description": "the database does not answer"},
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics (summed over workers)",
                    "responses": {"200": {"description": "text exposition"}},
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {"200": {"description": "OpenAPI 3"}},
                }
            },
        },
        "components": {
            "schemas": {
                "Product": product,
                "PopularProduct": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"},
                        "name": {"type": "string"},
                        "price": {"type": "integer"},
                        "quantity_sold": {"type": "integer"},
                    },
                },
                "Points": {
                    "type": "object",
                    "properties": {"user_id": {"type": "integer"}, "point": {"type": "integer"}},
                },
                "Order": {
                    "type": "object",
                    "properties": {
                        "order_id": {"type": "integer"},
                        "user_id": {"type": "integer"},
                        "total": {"type": "integer"},
                        "status": {"type": "string", "enum": ["paid"]},
                        "items": {"type": "array", "items": order_item},
                    },
                },
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "message"],
                            "properties": {
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                                "field": {"type": "string"},
                            },
                        }
                    },
                },
            }
        },
    }


# A Flask URL rule's variable, `<int:product_id>`, is the contract's `{product_id}`.
_RULE_VARIABLE = re.compile(r"<(?:[^<>:]+:)?([^<>]+)>")


def answers(app: Flask) -> list[tuple[str, str, int]]:
    """(method, Flask URL rule, status) of every response the contract lists for a route of
    `app`: the request series the shop can have (shop.metrics)."""
    paths = spec(app)["paths"]
    found = []
    for rule in app.url_map.iter_rules():
        for method, operation in paths.get(_RULE_VARIABLE.sub(r"{\1}", rule.rule), {}).items():
            if method.upper() in rule.methods:
                found += [(method.upper(), rule.rule, int(s)) for s in operation["responses"]]
    return found

"""Order request parsing and MySQL error classification, without a server."""

from __future__ import annotations

import pymysql
import pytest
from sqlalchemy.exc import OperationalError

from shop.db import classify
from shop.errors import InvalidInput
from shop.orders import OrderLine, request_hash
from shop.validation import order_request


def test_order_request_keeps_lines_in_request_order():
    user_id, lines = order_request(
        {
            "user_id": 5,
            "items": [{"product_id": 9, "quantity": 2}, {"product_id": 3, "quantity": 1}],
        }
    )
    assert user_id == 5
    assert lines == [OrderLine(9, 2), OrderLine(3, 1)]


def test_lines_naming_one_product_are_one_line_with_the_quantities_added():
    # Each line is within the contract's bounds, so the contract accepts the order: the shop
    # takes it as the cart it means, one line per product where the product first appeared.
    items = [{"product_id": 3, "quantity": 1}, {"product_id": 9, "quantity": 2},
             {"product_id": 3, "quantity": 1000}, {"product_id": 4, "quantity": 1}]  # fmt: skip
    _, lines = order_request({"user_id": 5, "items": items})
    assert lines == [OrderLine(3, 1001), OrderLine(9, 2), OrderLine(4, 1)]
    # An error about a line names where the client wrote it.
    assert [line.line for line in lines] == [0, 1, 3]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"user_id": True, "items": [{"product_id": 1, "quantity": 1}]}, "user_id"),
        ({"user_id": 1, "items": [{"product_id": 1.0, "quantity": 1}]}, "items[0].product_id"),
        ({"user_id": 1, "items": [{"product_id": 1, "quantity": 1001}]}, "items[0].quantity"),
        ({"user_id": 1, "items": "1"}, "items"),
    ],
)
def test_order_request_names_the_bad_field(body, field):
    with pytest.raises(InvalidInput) as caught:
        order_request(body)
    assert caught.value.field == field


def test_request_hash_ignores_line_order_but_not_quantities():
    a = request_hash(1, [OrderLine(1, 2), OrderLine(3, 4)])
    assert a == request_hash(1, [OrderLine(3, 4), OrderLine(1, 2)])
    assert a != request_hash(1, [OrderLine(1, 2), OrderLine(3, 5)])
    assert a != request_hash(2, [OrderLine(1, 2), OrderLine(3, 4)])


@pytest.mark.parametrize(
    ("code", "kind"),
    [(1213, "deadlock"), (1205, "lock_wait_timeout"), (2003, "disconnect"), (2013, "disconnect"),
     (1146, "other")],
)  # fmt: skip
def test_mysql_errors_are_classified_by_code(code, kind):
    exc = OperationalError("stmt", {}, pymysql.err.OperationalError(code, "message"))
    assert classify(exc) == kind

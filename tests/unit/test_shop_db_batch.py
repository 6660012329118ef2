"""Batches of the shop's text() statements, as the raw cursor will receive them."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from shop.db import INSERTED_ID, Batch

_STOCK = text("UPDATE products SET stock = stock - :qty WHERE id = :id AND stock >= :qty")
_ITEM = text("INSERT INTO items (order_id, product_id, n) VALUES (:order_id, :product_id, :n)")
_SALES = text(
    "INSERT INTO sales (day, product_id, n) VALUES (UTC_DATE(), :product_id, :n) "
    "ON DUPLICATE KEY UPDATE n = n + VALUES(n)"
)


def test_a_statement_is_sent_in_the_drivers_paramstyle_with_repeated_names_repeated():
    batch = Batch().add(_STOCK, {"qty": 2, "id": 7})
    assert batch._sql == ["UPDATE products SET stock = stock - %s WHERE id = %s AND stock >= %s"]
    assert batch._args == [2, 7, 2]


def test_several_rows_become_one_multi_row_insert_even_around_a_function_call():
    batch = Batch().add(_SALES, {"product_id": 1, "n": 2}, {"product_id": 3, "n": 4})
    assert batch._sql == [
        "INSERT INTO sales (day, product_id, n) VALUES (UTC_DATE(), %s, %s),(UTC_DATE(), %s, %s) "
        "ON DUPLICATE KEY UPDATE n = n + VALUES(n)"
    ]
    assert batch._args == [1, 2, 3, 4]


def test_the_kept_id_is_referred_to_in_sql_not_sent_as_a_value():
    batch = Batch().add(_STOCK, {"qty": 1, "id": 1}, keep_id=True)
    batch.add(_ITEM, {"order_id": INSERTED_ID, "product_id": 5, "n": 1})
    assert batch._sql[1] == "SET @shop_batch_id = LAST_INSERT_ID()"
    assert batch._sql[2].endswith("VALUES (@shop_batch_id, %s, %s)")
    assert batch._args == [1, 1, 1, 5, 1]
    assert len(batch) == 4  # and the SELECT that hands the id back


def test_several_rows_of_an_update_are_refused():
    with pytest.raises(ValueError, match=r"INSERT \.\.\. VALUES"):
        Batch().add(_STOCK, {"qty": 1, "id": 1}, {"qty": 1, "id": 2})


def test_a_missing_parameter_names_itself():
    with pytest.raises(KeyError, match="qty"):
        Batch().add(_STOCK, {"id": 1})

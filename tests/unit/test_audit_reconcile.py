"""Reconciling what the client was told with what the database holds: pure cases."""

from __future__ import annotations

import json

import pytest

from lab.audit.reconcile import Attempt, StoredOrder, read_attempts, reconcile


def stored(*orders: tuple[str, int, int]) -> dict[str, StoredOrder]:
    return {key: StoredOrder(order_id, 1, key, payments) for key, order_id, payments in orders}


def test_every_acknowledged_order_stored_passes():
    attempts = [Attempt("a", 1, 201, 10), Attempt("b", 1, 201, 11), Attempt("c", 1, 409)]
    result = reconcile(attempts, stored(("a", 10, 1), ("b", 11, 1)))
    assert result.passed
    assert (result.attempts, result.acknowledged, result.stored) == (3, 2, 2)


def test_an_acknowledged_order_missing_is_lost():
    result = reconcile([Attempt("a", 1, 201, 10), Attempt("b", 1, 201, 11)], stored(("a", 10, 1)))
    assert not result.passed and result.lost == ["b"]


def test_a_key_answered_with_another_order_id_is_lost_and_two_ids_a_double_charge():
    attempts = [Attempt("a", 1, 201, 10), Attempt("a", 1, 201, 12)]
    result = reconcile(attempts, stored(("a", 12, 1)))
    assert result.double_charged == ["a"] and result.lost == []
    assert reconcile([Attempt("b", 1, 201, 20)], stored(("b", 21, 1))).lost == ["b"]


def test_two_payments_of_one_order_are_a_double_charge():
    result = reconcile([Attempt("a", 1, 201, 10)], stored(("a", 10, 2)))
    assert result.double_charged == ["a"] and not result.passed


def test_a_timeout_whose_order_was_stored_is_counted_not_failed():
    result = reconcile([Attempt("a", 1, 0), Attempt("b", 1, 503)], stored(("a", 10, 1)))
    assert result.passed and result.unacknowledged == ["a"]
    assert "stored but never acknowledged 1" in result.summary()


def test_a_replay_with_the_same_order_id_is_one_order():
    attempts = [Attempt("a", 1, 201, 10), Attempt("a", 1, 201, 10)]
    result = reconcile(attempts, stored(("a", 10, 1)))
    assert result.passed and result.acknowledged == 1


def test_read_attempts_skips_a_torn_last_line_but_not_a_bad_middle_one(tmp_path):
    path = tmp_path / "orders.jsonl"
    good = json.dumps({"key": "a", "user_id": 1, "status": 201, "order_id": 5})
    path.write_text(good + "\n" + '{"key": "b", "user')
    assert list(read_attempts(path)) == [Attempt("a", 1, 201, 5)]
    path.write_text('{"key": "b"}\n' + good + "\n")
    with pytest.raises(ValueError, match=r"orders\.jsonl:1"):
        list(read_attempts(path))


def test_read_attempts_takes_the_orders_of_a_timed_log_and_skips_its_reads(tmp_path):
    path = tmp_path / "orders.jsonl"
    order = {"endpoint": "orders", "key": "a", "user_id": 1, "status": 201, "order_id": 5,
             "t": 1.5, "ms": 12.0}  # fmt: skip
    popular = {"endpoint": "popular", "status": 503, "t": 1.6, "ms": 3.0}
    path.write_text(f"{json.dumps(popular)}\n{json.dumps(order)}\n")
    assert list(read_attempts(path)) == [Attempt("a", 1, 201, 5)]

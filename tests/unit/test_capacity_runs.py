"""Repeated capacity searches judged together, the machine speed index, and the knobs of
`make capacity` (BUDGET, RUNS, LOCAL_SHOP_REPLICAS as a list)."""

from __future__ import annotations

import pytest

from lab.capacity import speed
from lab.capacity.runs import judge_runs
from lab.capacity.settings import read_capacity_settings, replica_counts


def test_three_answers_within_ten_percent_are_what_the_search_supports():
    v = judge_runs([300.0, 310.0, 290.0], [18.0, 18.2, 17.9])
    assert (v.median_tps, v.low_tps, v.high_tps) == (300.0, 290.0, 310.0)
    assert v.within and not v.explained_by_speed
    assert "within the ±10 % a search can resolve" in v.sentence()


def test_a_spread_the_machine_speed_explains_is_said_with_the_index():
    # The third search ran on a machine 40 % slower, and found 40 % less.
    v = judge_runs([300.0, 305.0, 180.0], [18.0, 18.3, 10.8])
    assert not v.within and v.explained_by_speed
    assert v.index_change == pytest.approx((18.3 - 10.8) / 18.0)
    assert "the machine explains it" in v.sentence()


def test_a_spread_the_index_does_not_explain_is_said_as_such():
    v = judge_runs([300.0, 305.0, 180.0], [18.0, 18.1, 17.9])
    assert not v.within and not v.explained_by_speed
    assert "does not explain it" in v.sentence()


def test_searches_that_named_no_rate_are_left_out_of_the_median():
    v = judge_runs([None, 200.0, 220.0], [18.0, None, 18.0])
    assert v.answered == 2 and v.median_tps == 210.0
    assert judge_runs([None], [None]).sentence() == "no search of 1 named a rate"


def test_the_speed_workload_is_the_work_described_and_faster_is_higher():
    assert speed.workload() == speed.CHECKSUM
    ticks = iter(range(100))
    sample = speed.measure("x", repeats=3, clock=lambda: next(ticks) * 0.01)
    # Each repeat took 10 ms on this fake clock: 200,000 turns / 0.01 s = 20 M turns/s.
    assert sample.index == pytest.approx(20.0)
    assert sample.median == pytest.approx(20.0)
    assert speed.change([sample]) == 0.0


def test_the_speed_change_is_the_range_over_the_median():
    samples = [speed.SpeedSample(0, v, v) for v in (10.0, 12.0, 8.0)]
    assert speed.change(samples) == pytest.approx(0.4)


def test_capacity_knobs_default_to_one_search_of_ten_minutes():
    s = read_capacity_settings({})
    assert (s.budget_s, s.runs, s.replicas) == (600.0, 1, ())


def test_capacity_knobs_read_runs_budget_and_a_replica_list():
    s = read_capacity_settings({"RUNS": "3", "BUDGET": "300", "LOCAL_SHOP_REPLICAS": "1,2,3"})
    assert (s.runs, s.budget_s, s.replicas) == (3, 300.0, (1, 2, 3))
    # The load settings see one count (the first), never the list.
    assert s.load.environ["LOCAL_SHOP_REPLICAS"] == "1"
    assert read_capacity_settings({"LOCAL_SHOP_REPLICAS": "2"}).replicas == ()


def test_replica_counts_keep_their_order():
    assert replica_counts({"LOCAL_SHOP_REPLICAS": " 3, 1 ,2"}) == (3, 1, 2)
    assert replica_counts({}) == ()


def test_a_spread_beside_busy_neighbours_says_what_they_took():
    v = judge_runs([450.0, 300.0, 300.0], [9.8, 6.7, 9.3], others=[1.2, 1.4, 0.9])
    assert "other processes took 1.20, 1.40, 0.90 cores (median per search)" in v.sentence()
    quiet = judge_runs([300.0, 305.0], [18.0, 18.1], others=[0.05, 0.1])
    assert "other processes" not in quiet.sentence()

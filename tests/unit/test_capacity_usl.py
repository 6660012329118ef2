"""The Universal Scalability Law fit on synthetic data with known σ and κ, and the scalability
judgement built on it (replicas needed, out-of-sample check, warnings)."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from lab.capacity import scaling, usl
from lab.capacity.search import Probe

LAM, SIGMA, KAPPA = 120.0, 0.04, 0.0008


def curve(ns, lam=LAM, sigma=SIGMA, kappa=KAPPA, noise=0.0, seed=7):
    rng = np.random.default_rng(seed)
    return [(n, usl.throughput(n, lam, sigma, kappa) * (1 + rng.normal(0, noise))) for n in ns]


def test_the_fit_recovers_known_sigma_and_kappa_exactly_without_noise():
    fit = usl.fit(curve([1, 2, 4, 8, 16, 32, 64]))
    assert fit.lam == pytest.approx(LAM, rel=1e-4)
    assert fit.sigma == pytest.approx(SIGMA, rel=1e-3)
    assert fit.kappa == pytest.approx(KAPPA, rel=1e-3)
    assert fit.error < 1e-6
    assert fit.peak_n == pytest.approx(math.sqrt((1 - SIGMA) / KAPPA), rel=1e-3)


def test_the_fit_recovers_sigma_and_kappa_within_noise():
    fit = usl.fit(curve([1, 2, 4, 8, 12, 16, 24, 32, 48, 64], noise=0.02))
    assert fit.sigma == pytest.approx(SIGMA, abs=0.01)
    assert fit.kappa == pytest.approx(KAPPA, rel=0.25)
    assert fit.error < 0.03


def test_peak_and_knee_follow_from_sigma_and_kappa():
    fit = usl.UslFit(100.0, 0.1, 0.01, ((1.0, 100.0),), 0.0)
    assert fit.peak_n == pytest.approx(math.sqrt(0.9 / 0.01))
    assert fit.peak_x == pytest.approx(fit.x(fit.peak_n))
    # At the knee the efficiency X / (λ N) has halved.
    assert fit.x(fit.knee_n) / (100.0 * fit.knee_n) == pytest.approx(0.5)
    assert fit.knee_n < fit.peak_n


def test_a_tiny_kappa_keeps_a_finite_knee():
    fit = usl.UslFit(100.0, 0.5, 1e-12, ((1.0, 100.0),), 0.0)
    assert fit.knee_n == pytest.approx(3.0, rel=1e-6)


def test_without_coherency_the_peak_is_the_contention_ceiling():
    fit = usl.UslFit(100.0, 0.2, 0.0, ((1.0, 100.0),), 0.0)
    assert math.isinf(fit.peak_n)
    assert fit.peak_x == pytest.approx(500.0)
    assert fit.knee_n == pytest.approx(6.0)


def test_two_points_hold_kappa_at_zero_and_say_so():
    fit = usl.fit([(1, 100.0), (2, 180.0)])
    assert fit.kappa_held and fit.kappa == 0.0
    assert fit.lam == pytest.approx(100.0, rel=1e-4)
    assert fit.sigma == pytest.approx(1 / 9, rel=1e-3)


def test_one_n_is_no_fit():
    with pytest.raises(usl.UslError, match="two or more N"):
        usl.fit([(4, 100.0), (4, 110.0)])


def test_replicas_needed_is_the_smallest_count_reaching_the_rate():
    fit = usl.UslFit(100.0, 0.1, 0.0, ((1.0, 100.0),), 0.0)
    assert fit.needed(100.0) == 1
    assert fit.needed(250.0) == next(n for n in range(1, 50) if fit.x(n) >= 250.0)
    assert fit.needed(2000.0) is None  # above λ/σ = 1000: no count reaches it


def test_little_concurrency_is_rate_times_mean_latency():
    assert usl.little_concurrency(200.0, 0.025) == pytest.approx(5.0)
    assert usl.little_concurrency(None, 0.02) is None
    assert usl.little_concurrency(100.0, 0.0) is None


def probe(n: float, x: float, held: bool = True) -> Probe:
    # Little's law inverted: a mean latency that makes n requests in flight at rate x.
    evidence = {"client_tps": x, "client_ok_tps": x, "client_mean_latency_s": n / x}
    return Probe(rate=x, held=held, evidence=evidence)


def test_probes_become_concurrency_points_by_littles_law():
    points = scaling.probe_points([probe(2.0, 200.0), Probe(rate=300.0, held=False)])
    assert points == [(pytest.approx(2.0), 200.0)]


def test_the_model_reports_the_fit_beside_the_measured_break():
    probes = [probe(n, x) for n, x in curve([1, 2, 4, 8, 16, 32])]
    s = scaling.model(probes, capacity_tps=1100.0, break_tps=1200.0, target_tps=200.0)
    assert s.concurrency.sigma == pytest.approx(SIGMA, rel=1e-2)
    assert s.warnings == ()
    text = "\n".join(s.sentences())
    assert "σ 0.0400" in text and "broke at 1200/s" in text
    assert re.search(r"predicted peak \d+/s at \d+\.\d in flight", text), text


def test_a_peak_without_coherency_is_said_to_be_approached_not_placed():
    """κ 0 (measured 2026-12-08: σ 0.41): the ceiling λ/σ is only approached, at no concurrency."""
    probes = [probe(n, x) for n, x in curve([1, 2, 4, 8, 16], kappa=0.0)]
    s = scaling.model(probes, capacity_tps=500.0, break_tps=520.0, target_tps=200.0)
    text = "\n".join(s.sentences())
    assert "approached as requests in flight grow (κ 0: no peak)" in text, text
    assert "unbounded in flight" not in text


def test_a_model_peaking_below_the_held_rate_is_a_warning():
    probes = [probe(n, x) for n, x in curve([1, 2, 4, 8, 16, 32])]
    s = scaling.model(probes, capacity_tps=5000.0, break_tps=6000.0, target_tps=200.0)
    assert any("below the 5000/s the shop held" in w for w in s.warnings)


def test_replicas_from_three_counts_predict_the_third_from_two_and_size_the_rate():
    measured = {k: usl.throughput(k, 150.0, 0.2, 0.0) for k in (1, 2, 3)}
    s = scaling.model([], None, None, target_tps=200.0, replica_capacity=measured)
    assert s.replicas.sigma == pytest.approx(0.2, rel=1e-2)
    assert s.holdout["count"] == 3
    assert s.holdout["error"] == pytest.approx(0.0, abs=1e-3)
    need = s.needed()
    assert need[2] == next(n for n in range(1, 99) if usl.throughput(n, 150, 0.2, 0) >= 400)
    assert need[5] is None  # the model's ceiling λ/σ = 750/s is below 5 x 200/s
    assert not [w for w in s.warnings if "off the measured" in w]


def test_a_third_count_far_from_the_two_count_prediction_is_a_warning_naming_the_limit():
    measured = {1: 150.0, 2: 280.0, 3: 290.0}
    s = scaling.model([], None, None, 200.0, measured, {3: "the machine's CPU"})
    assert s.holdout["error"] > 0.2
    assert any("the limit was the machine's CPU" in w for w in s.warnings)

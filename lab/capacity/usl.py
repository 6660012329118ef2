"""The Universal Scalability Law fitted to measured throughput: σ (contention), κ (coherency).

    X(N) = λ N / (1 + σ (N - 1) + κ N (N - 1))

N is what grows (requests in flight, or replicas), X the throughput, λ the throughput of one.
Pure: points in, a fit out (scipy's bounded least squares on relative residuals, so that the
small-N points, where λ is read, weigh as much as the large ones). From the fit: the peak
(N* = sqrt((1 - σ) / κ), where adding more lowers throughput), the knee (where efficiency
X / (λ N) has halved: response time twice the unloaded one), the N a throughput needs, and the
fit's error (mean |model - measured| / measured).

With two points and three unknowns κ is held at 0 (Amdahl's law, USL's κ = 0 case) and the
fit says so: two points cannot tell contention from coherency.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

KAPPA_FLOOR = 1e-9


class UslError(ValueError):
    """Too few or unusable points for a fit; the message says which."""


def throughput(n: float, lam: float, sigma: float, kappa: float) -> float:
    return lam * n / (1 + sigma * (n - 1) + kappa * n * (n - 1))


@dataclass(frozen=True)
class UslFit:
    lam: float  # λ: the throughput of one (N = 1)
    sigma: float  # σ: contention, the share of the work that queues (0..1)
    kappa: float  # κ: coherency, the cost of keeping N in step, per pair (0..1)
    points: tuple[tuple[float, float], ...]  # (N, X) measured
    error: float  # mean |model - measured| / measured over the points
    kappa_held: bool = False  # κ fixed at 0: too few points to tell it from σ

    def x(self, n: float) -> float:
        return throughput(n, self.lam, self.sigma, self.kappa)

    @property
    def peak_n(self) -> float:
        """N* where throughput peaks; infinite without coherency cost (it only flattens)."""
        if self.kappa <= 0:
            return math.inf
        return math.sqrt(max(0.0, 1 - self.sigma) / self.kappa)

    @property
    def peak_x(self) -> float:
        """The highest throughput the model allows: X(N*), or λ/σ when κ is 0."""
        if math.isfinite(self.peak_n):
            return self.x(max(1.0, self.peak_n))
        return self.lam / self.sigma if self.sigma > 0 else math.inf

    @property
    def knee_n(self) -> float:
        """N where efficiency X / (λ N) falls to one half: σ(N-1) + κN(N-1) = 1."""
        s, k = self.sigma, self.kappa
        if k > 0:
            # The positive root of k N^2 + (s - k) N - (1 + s) = 0, written so that a tiny k
            # does not cancel it to 0.
            return 2 * (1 + s) / ((s - k) + math.sqrt((s - k) ** 2 + 4 * k * (1 + s)))
        return 1 + 1 / s if s > 0 else math.inf

    @property
    def knee_x(self) -> float:
        return self.x(self.knee_n) if math.isfinite(self.knee_n) else math.inf

    def needed(self, target: float) -> int | None:
        """The smallest whole N whose throughput reaches `target`; None when no N does."""
        if target <= self.lam:
            return 1
        if self.peak_x < target:
            return None
        n = 1
        top = self.peak_n if math.isfinite(self.peak_n) else 1e6
        while n <= top + 1:
            if self.x(n) >= target:
                return n
            n += 1
        return None

    def as_dict(self) -> dict:
        def finite(v: float) -> float | None:
            return round(v, 6) if math.isfinite(v) else None

        return {
            "lambda": finite(self.lam),
            "sigma": finite(self.sigma),
            "kappa": finite(self.kappa),
            "kappa_held_at_zero": self.kappa_held,
            "peak_n": finite(self.peak_n),
            "peak_tps": finite(self.peak_x),
            "knee_n": finite(self.knee_n),
            "knee_tps": finite(self.knee_x),
            "error": round(self.error, 4),
            "points": [[round(n, 3), round(x, 3)] for n, x in self.points],
        }


def fit(points: Sequence[tuple[float, float]]) -> UslFit:
    """σ, κ and λ for (N, X) points; κ held at 0 with fewer than three distinct N."""
    usable = sorted((float(n), float(x)) for n, x in points if n > 0 and x > 0)
    distinct = len({round(n, 6) for n, _ in usable})
    if distinct < 2:
        raise UslError(f"a fit needs throughput at two or more N; got {distinct}")
    n = np.array([p[0] for p in usable])
    x = np.array([p[1] for p in usable])
    hold_kappa = distinct < 3
    # λ from the most efficient point (X / N at the smallest N is the best start).
    lam0 = float(np.max(x / np.maximum(n, 1.0)))

    def residuals(params: np.ndarray) -> np.ndarray:
        lam, sigma = params[0], params[1]
        kappa = 0.0 if hold_kappa else params[2]
        return (throughput(n, lam, sigma, kappa) - x) / x

    start = [lam0, 0.01] if hold_kappa else [lam0, 0.01, 1e-4]
    lower = [1e-9, 0.0] if hold_kappa else [1e-9, 0.0, 0.0]
    upper = [np.inf, 1.0] if hold_kappa else [np.inf, 1.0, 1.0]
    found = least_squares(residuals, start, bounds=(lower, upper), x_scale="jac")
    lam, sigma = float(found.x[0]), float(found.x[1])
    # Below this κ the peak lies beyond any N measured or asked about: no coherency cost seen.
    kappa = 0.0 if hold_kappa or found.x[2] < KAPPA_FLOOR else float(found.x[2])
    error = float(np.mean(np.abs(residuals(found.x))))
    return UslFit(lam, sigma, kappa, tuple(usable), error, hold_kappa)


def little_concurrency(rate: float | None, mean_latency_s: float | None) -> float | None:
    """Little's law: requests in flight = arrival rate x mean time in the system."""
    if rate is None or mean_latency_s is None or rate <= 0 or mean_latency_s <= 0:
        return None
    return rate * mean_latency_s

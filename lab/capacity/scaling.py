"""The deck's scalability proposal: the USL fitted to what capacity measured, set beside the
measured figures, with the replicas a rate needs and a warning where model and measurements
disagree. Pure: probes and capacities in, a `Scalability` out.

Two fits. Per probe: the requests in flight (Little's law: the rate the tool saw times its mean
latency) against the successful throughput: how the shop as it runs scales with concurrency,
its peak and its knee beside the rate that broke the SLO. Per replica count (a sweep,
LOCAL_SHOP_REPLICAS=1,2,3): each count's capacity against the count: how many replicas a rate
needs. With three counts or more the sweep is also checked out of sample: fitted without the
largest count, the model's prediction for it against what was measured there.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from lab.capacity import usl
from lab.capacity.search import Probe

# A fit whose mean error over its points exceeds this does not describe them.
FIT_ERROR = 0.10
# An out-of-sample prediction this far from the measurement is a disagreement (issue 29's 20 %).
HOLDOUT_ERROR = 0.20
MULTIPLES = (2, 5)  # replicas needed for these multiples of TARGET_TPS


def probe_points(probes: Iterable[Probe]) -> list[tuple[float, float]]:
    """(requests in flight, successful requests/s) of every probe that has both."""
    points = []
    for p in probes:
        e = p.evidence
        n = usl.little_concurrency(e.get("client_tps"), e.get("client_mean_latency_s"))
        x = e.get("client_ok_tps")
        if n is not None and x:
            points.append((n, x))
    return points


def _fit(points: list[tuple[float, float]]) -> tuple[usl.UslFit | None, str]:
    try:
        return usl.fit(points), ""
    except usl.UslError as exc:
        return None, str(exc)


def _pct(v: float) -> str:
    return f"{v * 100:.0f} %"


def _tps(v: float | None) -> str:
    return "n/a" if v is None or not math.isfinite(v) else f"{v:.0f}/s"


def _peak_at(n: float | None) -> str:
    """Where the peak stands: at a concurrency, or (κ 0, no coherency cost) only approached."""
    if n is None or not math.isfinite(n):
        return "approached as requests in flight grow (κ 0: no peak)"
    return f"at {n:.1f} in flight"


def _n(v: float | None) -> str:
    return "unbounded" if v is None or not math.isfinite(v) else f"{v:.1f}"


@dataclass(frozen=True)
class Scalability:
    target_tps: float
    capacity_tps: float | None  # measured: the highest held rate
    break_tps: float | None  # measured: the lowest rate that broke
    concurrency: usl.UslFit | None
    concurrency_note: str = ""  # why there is no fit
    replicas: usl.UslFit | None = None
    replica_capacity: dict[int, float] = field(default_factory=dict)
    replica_limits: dict[int, str] = field(default_factory=dict)
    holdout: dict | None = None  # {"fitted_on", "count", "predicted_tps", "measured_tps", "error"}
    warnings: tuple[str, ...] = ()

    def needed(self) -> dict[int, int | None]:
        """Replicas for each multiple of TARGET_TPS (None: the model peaks below it)."""
        if self.replicas is None:
            return {}
        return {m: self.replicas.needed(m * self.target_tps) for m in MULTIPLES}

    def sentences(self) -> list[str]:
        out = []
        c = self.concurrency
        if c is None:
            out.append(f"scalability (per probe): no fit: {self.concurrency_note}")
        else:
            out.append(
                f"scalability (per probe, requests in flight): σ {c.sigma:.4f}, κ {c.kappa:.5f}, "
                f"λ {c.lam:.0f}/s; predicted peak {_tps(c.peak_x)} {_peak_at(c.peak_n)}, "
                f"knee {_tps(c.knee_x)} at {_n(c.knee_n)}; measured: held "
                f"{_tps(self.capacity_tps)}, broke at {_tps(self.break_tps)}; fit error "
                f"{_pct(c.error)} over {len(c.points)} probes"
            )
        r = self.replicas
        if r is not None:
            counts = ", ".join(f"{k}: {_tps(v)}" for k, v in sorted(self.replica_capacity.items()))
            need = "; ".join(
                f"{m}x TARGET_TPS ({m * self.target_tps:g}/s): "
                + (f"{n} replica(s)" if n else "no count reaches it")
                for m, n in self.needed().items()
            )
            held = " (κ held at 0: two counts)" if r.kappa_held else ""
            out.append(
                f"scalability (replicas {counts}): σ {r.sigma:.4f}, κ {r.kappa:.5f}{held}, "
                f"peak {_tps(r.peak_x)} at {_n(r.peak_n)} replicas; fit error {_pct(r.error)}; "
                f"replicas needed: {need}"
            )
        if self.holdout:
            h = self.holdout
            out.append(
                f"out of sample: fitted on {h['fitted_on']} replica(s), the model predicts "
                f"{_tps(h['predicted_tps'])} for {h['count']}; measured "
                f"{_tps(h['measured_tps'])} ({h['error'] * 100:+.0f} %)"
            )
        out += [f"WARNING: {w}" for w in self.warnings]
        return out

    def as_dict(self) -> dict:
        return {
            "target_tps": self.target_tps,
            "measured": {"capacity_tps": self.capacity_tps, "break_tps": self.break_tps},
            "concurrency": self.concurrency.as_dict() if self.concurrency else None,
            "concurrency_note": self.concurrency_note,
            "replicas": self.replicas.as_dict() if self.replicas else None,
            "replica_capacity_tps": {str(k): v for k, v in self.replica_capacity.items()},
            "replica_limits": {str(k): v for k, v in self.replica_limits.items()},
            "holdout": self.holdout,
            "replicas_needed": {f"{m}x": n for m, n in self.needed().items()},
            "warnings": list(self.warnings),
            "sentences": self.sentences(),
        }


def _concurrency_warnings(fit: usl.UslFit, capacity: float | None) -> list[str]:
    warnings = []
    if fit.error > FIT_ERROR:
        warnings.append(
            f"the per-probe model misses the probes by {_pct(fit.error)} on average (more "
            f"than {_pct(FIT_ERROR)}): its σ and κ do not describe them"
        )
    if capacity and fit.peak_x < 0.95 * capacity:
        warnings.append(f"the per-probe model peaks at {_tps(fit.peak_x)}, below the "
                        f"{_tps(capacity)} the shop held: the model is wrong there")  # fmt: skip
    if max(n for n, _ in fit.points) < 0.5 * fit.knee_n:
        warnings.append(
            f"no probe reached half the model's knee ({_n(fit.knee_n)} in flight; the most was "
            f"{max(n for n, _ in fit.points):.1f}): the peak and the knee are extrapolated, and "
            "the SLO broke on latency before concurrency mattered"
        )
    return warnings


def _holdout(
    capacity: Mapping[int, float], limits: Mapping[int, str]
) -> tuple[dict | None, list[str]]:
    """The largest count predicted from the others (three counts or more)."""
    if len(capacity) < 3:
        return None, []
    largest = max(capacity)
    rest = [(k, v) for k, v in capacity.items() if k != largest]
    fit, _ = _fit(rest)
    if fit is None:
        return None, []
    predicted, measured = fit.x(largest), capacity[largest]
    error = predicted / measured - 1
    h = {"fitted_on": ", ".join(str(k) for k, _ in sorted(rest)), "count": largest,
         "predicted_tps": round(predicted, 1), "measured_tps": measured,
         "error": round(error, 4)}  # fmt: skip
    if abs(error) <= HOLDOUT_ERROR:
        return h, []
    why = f" At {largest} replicas the limit was {limits[largest]}." if largest in limits else ""
    return h, [f"fitted on {h['fitted_on']} replica(s) the model predicts {_tps(predicted)} for "
               f"{largest}, {abs(error) * 100:.0f} % off the measured {_tps(measured)} (more "
               f"than {_pct(HOLDOUT_ERROR)}).{why}"]  # fmt: skip


def model(
    probes: Iterable[Probe],
    capacity_tps: float | None,
    break_tps: float | None,
    target_tps: float,
    replica_capacity: Mapping[int, float | None] | None = None,
    replica_limits: Mapping[int, str] | None = None,
) -> Scalability:
    """The fits and their judgement: `probes` of one shop configuration; `replica_capacity`
    the capacity measured at each replica count of a sweep (None where none was named)."""
    concurrency, note = _fit(probe_points(probes))
    warnings = _concurrency_warnings(concurrency, capacity_tps) if concurrency else []
    measured = {k: v for k, v in (replica_capacity or {}).items() if v}
    limits = dict(replica_limits or {})
    replicas, holdout = None, None
    if replica_capacity:
        missing = sorted(set(replica_capacity) - set(measured))
        if missing:
            warnings.append(f"no capacity named at {', '.join(map(str, missing))} replica(s): "
                            "left out of the replica model")  # fmt: skip
        replicas, why = _fit(list(measured.items()))
        if replicas is None:
            warnings.append(f"no replica model: {why}")
        else:
            if replicas.error > FIT_ERROR:
                warnings.append(f"the replica model misses the counts by {_pct(replicas.error)} "
                                "on average")  # fmt: skip
            holdout, more = _holdout(measured, limits)
            warnings += more
    return Scalability(target_tps, capacity_tps, break_tps, concurrency, note, replicas,
                       measured, limits, holdout, tuple(warnings))  # fmt: skip

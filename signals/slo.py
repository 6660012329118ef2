"""The pass line the recording rules are written for: a target's routes with their p95
objective and its error rate (targets/*.yaml). The committed rules are the default target's;
the native stack writes its target's own SLO rules when it serves another."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from targets import Target

REPO = Path(__file__).resolve().parents[1]
# A load generator that failed to start more than this share of the offered iterations did not
# send the planned load: the capacity search and the report's findings blame the tool past it.
GENERATOR_DROPPED_SHARE = 0.01


@dataclass(frozen=True)
class Slo:
    p95_s: dict[str, float]  # route -> its p95 objective in seconds
    error_ratio: float

    @property
    def routes(self) -> tuple[str, ...]:
        """The load-tested routes, in the target's order."""
        return tuple(self.p95_s)

    @property
    def api_routes(self) -> str:
        """The routes as one regex alternation, for a `route=~` matcher."""
        return "|".join(self.routes)


def slo_of(target: Target) -> Slo:
    """The target's observed routes (an endpoint with a `route`) and their objectives."""
    p95 = {e.route: e.p95_ms / 1000 for e in target.endpoints if e.route}
    return Slo(p95, target.error_rate)

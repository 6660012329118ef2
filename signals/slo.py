"""The pass line of a load run, read from lab/load/scenarios.json (its "load" scenario) alone."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCENARIOS_FILE = REPO / "lab" / "load" / "scenarios.json"


@dataclass(frozen=True)
class Slo:
    orders_p95_s: float
    popular_p95_s: float
    error_ratio: float

    def p95_s(self, endpoint: str) -> float:
        """The p95 latency objective of `orders` or `popular`."""
        return {"orders": self.orders_p95_s, "popular": self.popular_p95_s}[endpoint]


def read_slo(scenarios_text: str, scenario: str = "load") -> Slo:
    """The SLO of one scenario from the text of scenarios.json."""
    slo = json.loads(scenarios_text)[scenario]["slo"]
    return Slo(slo["orders_p95_ms"] / 1000, slo["popular_p95_ms"] / 1000, slo["error_rate"])


LOAD_SLO = read_slo(SCENARIOS_FILE.read_text())
# A load generator that failed to start more than this share of the offered iterations did not
# send the planned load: the capacity search and the report's findings blame the tool past it.
GENERATOR_DROPPED_SHARE = 0.01

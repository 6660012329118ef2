"""What a Locust process of a run is told: the plan (LOAD_PLAN), where to export its metrics and
how long to wait for Prometheus; read once when Locust starts (the locustfile's init event)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import knobs
from knobs import KnobError
from lab.load.scenarios import Plan, plan_from_json


@dataclass(frozen=True)
class LocustSettings:
    plan: Plan
    testid: str
    results_dir: str
    metrics_port: int  # 0: no metrics server (a worker, or no Prometheus)
    metrics_addr: str
    # Seconds to hold the load until Prometheus has scraped the master once (so counters start
    # from 0 in Prometheus), and to linger at the end for a last scrape.
    scrape_wait: float

    @classmethod
    def from_env(cls, env: Mapping[str, str], read=Path.read_text) -> LocustSettings:
        """LOAD_PLAN is the plan's JSON or a file holding it (`read` reads that file); the rest
        as `python -m lab.load` sets it; LOCUST_TESTID and RESULTS_DIR when the plan has none
        (compose)."""
        raw = knobs.text(env, "LOAD_PLAN")
        if not raw:
            raise KnobError(
                "LOAD_PLAN is not set: run through `make load` or `python -m lab.load plan`"
            )
        try:
            plan = plan_from_json(raw if raw.startswith("{") else read(Path(raw)))
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise KnobError(f"LOAD_PLAN is not a plan ({exc})") from None
        return cls(
            plan=plan,
            testid=plan.testid
            or knobs.text(env, "LOCUST_TESTID", f"locust-{plan.scenario}-compose"),
            results_dir=plan.results_dir or knobs.text(env, "RESULTS_DIR"),
            metrics_port=knobs.whole(env, "LOCUST_METRICS_PORT", 0, hi=65535),
            metrics_addr=knobs.text(env, "LOCUST_METRICS_ADDR", "127.0.0.1"),
            scrape_wait=knobs.number(env, "LOCUST_SCRAPE_WAIT", 0, lo=0, hi=3600),
        )

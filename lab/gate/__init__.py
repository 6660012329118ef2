"""The CI perf gate and the A/B of two builds: `run(settings) -> GateResult`,
`compare_builds(settings) -> AbResult`."""

from lab.gate.ab import AbResult, compare_builds
from lab.gate.perf_gate import GateResult, run
from lab.gate.settings import AbSettings, GateSettings, GateSettingsError

__all__ = [
    "AbResult",
    "AbSettings",
    "GateResult",
    "GateSettings",
    "GateSettingsError",
    "compare_builds",
    "run",
]

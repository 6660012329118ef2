"""The CI perf gate and the A/B of two builds: `run(settings) -> GateResult`,
`compare_builds(settings) -> AbResult`."""

from gate.ab import AbResult, compare_builds
from gate.run import GateResult, run
from gate.settings import AbSettings, GateSettings, GateSettingsError

__all__ = [
    "AbResult",
    "AbSettings",
    "GateResult",
    "GateSettings",
    "GateSettingsError",
    "compare_builds",
    "run",
]

"""The load runner as a library: `run(settings) -> RunResult` over one resolved scenario plan."""

from lab.load.run import RunResult, run
from lab.load.settings import LoadSettings, LoadSettingsError

__all__ = ["LoadSettings", "LoadSettingsError", "RunResult", "run"]

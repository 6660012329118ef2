"""The load runner as a library: `run(settings) -> RunResult` over one resolved scenario plan."""

from loadtest.run import RunResult, run
from loadtest.settings import LoadSettings, LoadSettingsError

__all__ = ["LoadSettings", "LoadSettingsError", "RunResult", "run"]

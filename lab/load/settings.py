"""The load runner's knobs, parsed and validated once: `LoadSettings.from_env(environ)`.

CLI flags are the same knobs under another spelling (`--target-tps` is TARGET_TPS): `from_args`
lays them over the environment and parses the result here, so a bad value reads the same
either way, one line naming the variable.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from lab.load.scenarios import load_scenarios

REPO = Path(__file__).resolve().parents[2]
TOOLS = ("k6", "locust")
STRATEGIES = ("safe", "naive")
DEFAULT_LOCUST_METRICS_PORT = 19646


class LoadSettingsError(ValueError):
    """A knob with a bad value; the message is one line naming the variable."""


# knob -> (flag, help); flags are the knobs' CLI spelling, parsed by from_env like the rest.
KNOBS: dict[str, tuple[str, str]] = {
    "TOOL": ("--tool", "k6 or locust (default k6)"),
    "SCENARIO": ("--scenario", "smoke, load, soak, stress, probe, spike or chaos (default smoke)"),
    "TARGET_TPS": ("--target-tps", "the rate scenario fractions refer to (default 200)"),
    "SCALE": ("--scale", "multiplies every stage's duration (0.1: a tenth)"),
    "HOT_USERS": ("--hot-users", "send HOT_RATIO of orders to users 1..N (0: off)"),
    "HOT_RATIO": ("--hot-ratio", "share of orders that go to the hot users (default 0.8)"),
    "ORDER_RATIO": ("--order-ratio", "share of requests that are orders (the rest: popular)"),
    "STRATEGY": (
        "--strategy",
        "the shop's order strategy for this run; the native stack is "
        "restarted with it if it runs the other one",
    ),
    "ABORT_ON_FAIL": (
        "--abort-on-fail",
        "1: stop at the first failed threshold after the ramp, 0: run the whole plan "
        "(default: the scenario's; make ab measures whole runs)",
    ),
    "SHOP_URL": ("--shop-url", "another shop than the native stack's"),
    "PROMETHEUS_URL": ("--prometheus-url", "where the run's series go and are read back"),
    "PROCESSES": ("--locust-processes", "Locust worker processes (0: one process)"),
    "LOCUST_METRICS_PORT": (
        "--locust-metrics-port",
        "where the Locust master exports metrics (default LOCAL_LOCUST_METRICS_PORT, 19646)",
    ),
    "LOCUST_SCRAPE_WAIT": (
        "--locust-scrape-wait",
        "seconds Locust holds its load until "
        "Prometheus scraped it once (default 15 on the native stack, else 0)",
    ),
    "RESULTS_ROOT": ("--results", "where results/<testid>/ goes (default results/)"),
    "WATCH": ("--watch", "1: k6's web dashboard or Locust's web UI on 127.0.0.1 for the run"),
    "WATCH_PORT": ("--watch-port", "its port (default 5665 for k6, 8089 for Locust)"),
}


def _text(env: Mapping[str, str], name: str, default: str) -> str:
    raw = env.get(name, "")
    return raw if raw != "" else default


def _number(env: Mapping[str, str], name: str, default: float, *, positive=False) -> float:
    raw = _text(env, name, str(default))
    try:
        value = float(raw)
    except ValueError:
        raise LoadSettingsError(f"{name}={raw!r} is not a number") from None
    if not math.isfinite(value) or value < 0 or (positive and value == 0) or value >= 1e6:
        kind = "positive" if positive else "non-negative"
        raise LoadSettingsError(f"{name}={raw!r} must be a {kind} number below 1e6")
    return value


def _share(env: Mapping[str, str], name: str, default: float) -> float:
    value = _number(env, name, default)
    if value > 1:
        raise LoadSettingsError(f"{name}={env[name]!r} must be a share between 0 and 1")
    return value


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    raw = _text(env, name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise LoadSettingsError(f"{name}={raw!r} is not a whole number") from None
    if value < 0:
        raise LoadSettingsError(f"{name}={raw!r} cannot be negative")
    return value


def _choice(env: Mapping[str, str], name: str, default: str, choices: Sequence[str]) -> str:
    value = _text(env, name, default)
    if value not in choices:
        raise LoadSettingsError(f"{name}={value!r} is not one of {', '.join(choices)}")
    return value


@dataclass(frozen=True)
class LoadSettings:
    tool: str
    scenario: str
    target_tps: float
    scale: float
    hot_users: int
    hot_ratio: float
    order_ratio: float
    strategy: str | None
    shop_url: str
    prometheus_url: str | None
    locust_processes: int
    locust_metrics_port: int
    locust_scrape_wait: float
    results_root: Path
    # Set when the shop is the native stack's (no SHOP_URL): a strategy switch may restart it,
    # and Prometheus finds the Locust master through this file_sd file.
    native: bool
    file_sd: Path | None
    environ: Mapping[str, str]  # what the tools inherit and the stack is read from
    watch: bool = False  # serve the tool's own live UI on 127.0.0.1 during the run
    watch_port: int = 0
    abort_on_fail: bool | None = None  # None: as the scenario says

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> LoadSettings:
        scenarios = load_scenarios()
        tool = _choice(env, "TOOL", "k6", TOOLS)
        scenario = _choice(env, "SCENARIO", "smoke", list(scenarios))
        abort = _text(env, "ABORT_ON_FAIL", "")
        if abort not in ("", "0", "1"):
            raise LoadSettingsError(f"ABORT_ON_FAIL={abort!r} is not 0 or 1")
        strategy = _text(env, "STRATEGY", "") or None
        if strategy is not None:
            strategy = _choice(env, "STRATEGY", "", STRATEGIES)
        shop_url = _text(env, "SHOP_URL", "").rstrip("/")
        prometheus_url = _text(env, "PROMETHEUS_URL", "").rstrip("/") or None
        native = not shop_url
        metrics_port, file_sd = _count(env, "LOCUST_METRICS_PORT", 0), None
        if native or not metrics_port:
            from stack.settings import StackSettings, StackSettingsError

            try:
                stack = StackSettings.from_env(env)
            except StackSettingsError as exc:
                raise LoadSettingsError(str(exc)) from None
            shop_url = shop_url or stack.url("LOCAL_SHOP_PORT")
            metrics_port = metrics_port or stack.port("LOCAL_LOCUST_METRICS_PORT")
            if native and prometheus_url is None:
                prometheus_url = stack.url("LOCAL_PROMETHEUS_PORT")
                file_sd = stack.state_dir / "locust.json"
        return cls(
            tool=tool,
            scenario=scenario,
            target_tps=_number(env, "TARGET_TPS", 200, positive=True),
            scale=_number(env, "SCALE", 1, positive=True),
            hot_users=_count(env, "HOT_USERS", 0),
            hot_ratio=_share(env, "HOT_RATIO", 0.8),
            order_ratio=_share(env, "ORDER_RATIO", 0.5),
            strategy=strategy,
            shop_url=shop_url,
            prometheus_url=prometheus_url,
            locust_processes=_count(env, "PROCESSES", 0),
            locust_metrics_port=metrics_port,
            locust_scrape_wait=_number(env, "LOCUST_SCRAPE_WAIT", 15 if file_sd else 0),
            results_root=Path(_text(env, "RESULTS_ROOT", str(REPO / "results"))),
            native=native,
            file_sd=file_sd,
            environ=dict(env),
            watch=_count(env, "WATCH", 0) > 0,
            watch_port=_count(env, "WATCH_PORT", 0) or (5665 if tool == "k6" else 8089),
            abort_on_fail=None if abort == "" else abort == "1",
        )

    @classmethod
    def from_args(cls, argv: Sequence[str], env: Mapping[str, str]) -> LoadSettings:
        """The flags of `python -m lab.load` laid over `env`, then parsed as above."""
        flags = parser().parse_args(argv)
        given = {knob: value for knob, value in vars(flags).items() if value is not None}
        return cls.from_env({**env, **given})

    def without_prometheus(self) -> LoadSettings:
        return replace(self, prometheus_url=None, file_sd=None)


def parser(prog: str = "python -m lab.load") -> argparse.ArgumentParser:
    """The flags, every one a plain string: from_env converts and checks them."""
    p = argparse.ArgumentParser(prog=prog, description="Run one scenario with k6 or Locust "
                                "against the shop and print a verdict.")  # fmt: skip
    for knob, (flag, help_text) in KNOBS.items():
        p.add_argument(flag, dest=knob, metavar=knob, help=help_text)
    return p

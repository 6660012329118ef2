"""The load runner's knobs, parsed and validated once: `LoadSettings.from_env(environ, ...)`.

CLI flags are the same knobs under another spelling (`--target-tps` is TARGET_TPS): `from_args`
lays them over the environment and parses the result here, so a bad value reads the same
either way, one line naming the variable. `from_env` is pure: the scenarios document and the
native stack's defaults come in as mappings; `read_load_settings` is the caller's side that
reads the two files.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import knobs
from knobs import KnobError
from lab.load.scenarios import load_scenarios
from lab.results import results_root
from stack.runner import running_target
from stack.settings import DEFAULTS_FILE, StackSettings, read_env_file
from targets import Target, TargetError, find_target

REPO = Path(__file__).resolve().parents[2]
TOOLS = ("k6", "locust")
STRATEGIES = ("safe", "naive")
DEFAULT_LOCUST_METRICS_PORT = 19646


# A bad load knob is a bad knob: one error type for every settings class (knobs.KnobError).
LoadSettingsError = KnobError
# Every rate, scale and count below 1e6: a typo of a few zeros is refused, not run.
_HUGE = 1e6


# knob -> (flag, help); flags are the knobs' CLI spelling, parsed by from_env like the rest.
KNOBS: dict[str, tuple[str, str]] = {
    "TOOL": ("--tool", "k6 or locust (default k6)"),
    "SCENARIO": ("--scenario", "smoke, load, soak, stress, probe, spike or chaos (default smoke)"),
    "TARGET_TPS": ("--target-tps", "the rate scenario fractions refer to (default 200)"),
    "SCALE": ("--scale", "multiplies every stage's duration (0.1: a tenth)"),
    "HOT_USERS": ("--hot-users", "send HOT_RATIO of orders to users 1..N (0: off)"),
    "HOT_RATIO": ("--hot-ratio", "share of orders that go to the hot users (default 0.8)"),
    "ORDER_RATIO": (
        "--order-ratio",
        "share of requests sent to the target's `orders` endpoint (default: the target's mix)",
    ),
    "TARGET": ("--target", "the service under load: shop (default), spring-shop, or a file"),
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
    "SHOP_URL": ("--shop-url", "send the load here instead of where the target says"),
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


@dataclass(frozen=True)
class LoadSettings:
    tool: str
    scenario: str
    target_tps: float
    scale: float
    hot_users: int
    hot_ratio: float
    order_ratio: float | None  # None: the target's mix
    strategy: str | None
    base_url: str
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
    scenarios: Mapping[str, dict] = field(default_factory=dict, repr=False)  # the document
    stack: StackSettings | None = None  # the native stack's settings (native runs only)
    target: Target | None = None  # the service under load (targets/*.yaml)

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str],
        scenarios: Mapping[str, dict],
        stack_defaults: Mapping[str, str],
        target: Target,
    ) -> LoadSettings:
        """The knobs of `env`; `scenarios` is the scenarios document, `stack_defaults` the
        native stack's defaults (stack/local.env), used when the native stack is involved,
        `target` the service under load (its file read by the caller)."""
        tool = knobs.choice(env, "TOOL", "k6", TOOLS)
        scenario = knobs.choice(env, "SCENARIO", "smoke", list(scenarios))
        abort = knobs.text(env, "ABORT_ON_FAIL")
        strategy = knobs.text(env, "STRATEGY") and knobs.choice(env, "STRATEGY", "", STRATEGIES)
        base_url = knobs.text(env, "SHOP_URL").rstrip("/")
        prometheus_url = knobs.text(env, "PROMETHEUS_URL").rstrip("/") or None
        # The native stack is ours unless SHOP_URL sends the load elsewhere: it serves a
        # built-in target, or brings Prometheus and the exporters to an external one.
        native = not base_url
        metrics_port = knobs.whole(env, "LOCUST_METRICS_PORT", 0, hi=65535)
        only_orders = set(target.names) == {"orders"}
        if only_orders and knobs.number(env, "ORDER_RATIO", 0.5, lo=0, hi=1) == 0:
            raise KnobError(f"ORDER_RATIO=0 leaves {target.name} nothing to send: orders is "
                            "its only endpoint")  # fmt: skip
        file_sd, stack = None, None
        if native or not metrics_port:
            stack = StackSettings.from_env(env, stack_defaults, target)
            base_url = base_url or target.url or stack.url("LOCAL_SHOP_PORT")
            metrics_port = metrics_port or stack.port("LOCAL_LOCUST_METRICS_PORT")
            if native and prometheus_url is None:
                prometheus_url = stack.url("LOCAL_PROMETHEUS_PORT")
                file_sd = stack.state_dir / "locust.json"
        return cls(
            tool=tool,
            scenario=scenario,
            target_tps=knobs.number(env, "TARGET_TPS", 200, positive=True, hi=_HUGE),
            scale=knobs.number(env, "SCALE", 1, positive=True, hi=_HUGE),
            hot_users=knobs.whole(env, "HOT_USERS", 0, hi=int(_HUGE)),
            hot_ratio=knobs.number(env, "HOT_RATIO", 0.8, lo=0, hi=1),
            order_ratio=knobs.number(env, "ORDER_RATIO", 0.5, lo=0, hi=1)
            if knobs.text(env, "ORDER_RATIO")
            else None,
            strategy=strategy or None,
            base_url=base_url,
            prometheus_url=prometheus_url,
            locust_processes=knobs.whole(env, "PROCESSES", 0, hi=256),
            locust_metrics_port=metrics_port,
            locust_scrape_wait=knobs.number(
                env, "LOCUST_SCRAPE_WAIT", 15 if file_sd else 0, lo=0, hi=3600
            ),
            results_root=results_root(env),
            native=native,
            file_sd=file_sd,
            environ=dict(env),
            watch=knobs.flag(env, "WATCH", False),
            watch_port=knobs.whole(env, "WATCH_PORT", 0, hi=65535)
            or (5665 if tool == "k6" else 8089),
            abort_on_fail=None if not abort else knobs.flag(env, "ABORT_ON_FAIL", False),
            scenarios=dict(scenarios),
            stack=stack if native else None,
            target=target,
        )

    @classmethod
    def from_args(
        cls,
        argv: Sequence[str],
        env: Mapping[str, str],
        scenarios: Mapping[str, dict],
        stack_defaults: Mapping[str, str],
        target: Target,
    ) -> LoadSettings:
        """The flags of `python -m lab.load` laid over `env`, then parsed as above."""
        return cls.from_env(with_flags(argv, env), scenarios, stack_defaults, target)

    @property
    def can_restart(self) -> bool:
        """The service is the native stack's own: a strategy switch may restart it."""
        return self.native and self.target is not None and not self.target.external

    def without_prometheus(self) -> LoadSettings:
        return replace(self, prometheus_url=None, file_sd=None)


class _Flags(argparse.ArgumentParser):
    """A bad flag is a KnobError, one line as a bad knob is (not argparse's usage and exit)."""

    def error(self, message: str):
        raise KnobError(message)


def parser(prog: str = "python -m lab.load") -> argparse.ArgumentParser:
    """The flags, every one a plain string: from_env converts and checks them."""
    p = _Flags(prog=prog, description="Run one scenario with k6 or Locust against the target "
               "and print a verdict.")  # fmt: skip
    for knob, (flag, help_text) in KNOBS.items():
        p.add_argument(flag, dest=knob, metavar=knob, help=help_text)
    return p


def with_flags(
    argv: Sequence[str], env: Mapping[str, str], flags: argparse.ArgumentParser | None = None
) -> dict[str, str]:
    """The flags of `python -m lab.load` (or of `flags`, a parser built on `parser()`) laid over
    `env` (every flag is a knob's spelling)."""
    given = (flags or parser()).parse_args(argv)
    return {**env, **{knob: value for knob, value in vars(given).items() if value is not None}}


def read_load_settings(env: Mapping[str, str], argv: Sequence[str] | None = None) -> LoadSettings:
    """The caller's side of from_env/from_args: the scenarios file, the stack's defaults and
    the target's file read here, once, and handed in. A bad target file is a KnobError."""
    merged = with_flags(argv, env) if argv is not None else env
    defaults = read_env_file(DEFAULTS_FILE)
    try:
        target = resolve_target(merged, defaults)
    except TargetError as exc:
        raise LoadSettingsError(str(exc)) from None
    return LoadSettings.from_env(merged, load_scenarios(), defaults, target)


def resolve_target(env: Mapping[str, str], defaults: Mapping[str, str]) -> Target:
    """TARGET's target; without TARGET (and SHOP_URL), the one the native stack runs now, else
    the default (the Flask shop). A bad target file is a TargetError."""
    target = find_target(env)
    if knobs.text(env, "TARGET") or knobs.text(env, "SHOP_URL"):
        return target
    try:
        stack = StackSettings.from_env(env, defaults, target)
    except KnobError:
        return target  # a knob the caller parses its own way (capacity's replica list)
    running = running_target(stack)
    return find_target({"TARGET": running}) if running else target

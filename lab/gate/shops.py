"""The A/B's shops: one build's shop from its own tree, on a free port, against a running
stack's MariaDB and Redis, as the service table runs it, stopped (its whole process group and
cgroup) whatever happens."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import psutil

from stack import cgroups, processes, services
from stack.processes import free_port, group_alive, readiness, stop_group
from stack.settings import REPO, read_stack_settings

READY_TIMEOUT_S = 60
_ASSIGNMENT = re.compile(r"^[A-Za-z_]\w*=")


class ShopStartError(RuntimeError):
    """A build's shop did not start or become ready; the message names its log."""


def in_tree(command: list[str], tree: Path) -> list[str]:
    """The shop's command line with its own files (any path under shop/) taken from `tree`."""
    own = str(REPO / "shop") + "/"
    return [
        str(tree / "shop") + "/" + part[len(own) :] if part.startswith(own) else part
        for part in command
    ]


def with_env(command: list[str], extra: Mapping[str, str]) -> list[str]:
    """`extra` set for the command: after the row's own `env K=V` assignments, so it wins."""
    pairs = [f"{k}={v}" for k, v in extra.items()]
    if not pairs:
        return command
    if command[:1] != ["env"]:
        return ["env", *pairs, *command]
    i = 1
    while i < len(command) and _ASSIGNMENT.match(command[i]):
        i += 1
    return [*command[:i], *pairs, *command[i:]]


@dataclass
class Shop:
    build: str
    url: str
    proc: subprocess.Popen
    cgroup: str
    log: Path

    def cpu_seconds(self) -> float:
        """User + system CPU of the shop's server process and its workers so far."""
        total = 0.0
        try:
            procs = [psutil.Process(self.proc.pid)]
            procs += procs[0].children(recursive=True)
        except psutil.NoSuchProcess:
            return total
        for p in procs:
            with suppress(psutil.NoSuchProcess):
                t = p.cpu_times()
                total += t.user + t.system
        return total

    def stop(self) -> None:
        stop_group(self.proc)
        # A cgroup goes only once empty: wait for the workers the SIGKILL reached.
        with suppress(processes.NotReady):
            processes.wait_until(lambda: not group_alive(self.proc.pid), 10, "the shop's group",
                                 poll=0.1)  # fmt: skip
        cgroups.remove([self.cgroup])


def require_server(tree: Path, build: str) -> None:
    """Both builds start as the service table says (`python -m shop.serve`, run in the tree):
    a tree from before that module cannot be compared by this A/B."""
    if not (tree / "shop" / "serve.py").exists():
        raise ShopStartError(f"the {build} tree predates shop/serve.py (the shop's server since "
                             "the move to granian): compare commits from that one on")  # fmt: skip


def start_shop(
    build: str,
    tree: Path,
    env: Mapping[str, str],
    extra: Mapping[str, str],
    state: Path,
    log: Path,
) -> Shop:
    """`tree`'s shop on a free port against `env`'s stack (its MariaDB and Redis), as the
    service table runs it, with `extra` environment, its output in `log`; ready, or
    ShopStartError."""
    require_server(tree, build)
    state.mkdir(parents=True, exist_ok=True)
    # One shop process as the table runs it, without the replicas' keeper or nginx: the
    # base tree may predate both, and the A/B measures the shop alone.
    s = read_stack_settings(
        {**env, "LOCAL_STATE_DIR": str(state), "LOCAL_SHOP_REPLICA_PORT": str(free_port())}
    )
    process = services.NativeProcess(services.SERVICES["shop"])
    command = with_env(in_tree(services.native_command(process, s), tree), extra)
    log.unlink(missing_ok=True)
    proc = processes.start(command, env={**env, "PYTHONPATH": str(tree)}, cwd=tree, log=log)
    shop = Shop(build, s.url("LOCAL_SHOP_REPLICA_PORT"), proc, s.cgroup("shop"), log)
    try:
        # Polled without reaping the server (processes.exited): should it die, its workers'
        # group stays signallable, and stop() ends them too.
        processes.wait_until(lambda: readiness(shop.url), READY_TIMEOUT_S, f"the {build} shop",
                             alive=lambda: not processes.exited(proc), poll=0.3)  # fmt: skip
    except processes.NotReady as exc:
        shop.stop()
        raise ShopStartError(f"{exc}; its log: {log}") from None
    return shop


@contextmanager
def shops(
    trees: Mapping[str, Path],
    env: Mapping[str, str],
    extra: Mapping[str, Mapping[str, str]],
    workdir: Path,
    out: Path,
) -> Iterator[dict[str, Shop]]:
    """Each build's shop for the body (`extra[build]` its own environment; its log
    out/shop-<build>.log), stopped after it whatever happens."""
    with ExitStack() as stack:
        running = {}
        for build, tree in trees.items():
            state, log = workdir / f"shop-{build}", out / f"shop-{build}.log"
            running[build] = start_shop(build, tree, env, extra.get(build, {}), state, log)
            stack.callback(running[build].stop)
        yield running

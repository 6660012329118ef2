"""python -m stack: the native stack (up, down, status, reset) and its helpers."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from stack.settings import StackSettingsError, parse_bytes, read_stack_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("up", "down", "status", "reset", "urls"):
        sub.add_parser(name)
    sub.add_parser("prometheus-config", help="write the compose prometheus.yml from jobs.yml")
    compose = sub.add_parser("compose", help="write compose.yml from the service table")
    compose.add_argument("--check", action="store_true", help="fail if compose.yml is stale")
    keep = sub.add_parser(
        "keep",
        help="run a replica: outlive it, never let it outlive us; "
        "NAME [--dir FOLDER] -- COMMAND (FOLDER: its state, SIGHUP's command)",
    )
    keep.add_argument("name")
    keep.add_argument("cmd", nargs=argparse.REMAINDER)
    cg = sub.add_parser("cgroup-exec", help="enter a cgroup with limits, then exec a command")
    cg.add_argument("--cpus", type=float, required=True)
    cg.add_argument("--memory", required=True)
    cg.add_argument("name")
    cg.add_argument("cmd", nargs=argparse.REMAINDER)
    ex = sub.add_parser("cgroup-exporter", help="serve the stack's cgroups as cAdvisor metrics")
    ex.add_argument("--listen", default="127.0.0.1:18080")
    ex.add_argument("groups", nargs="+", metavar="SERVICE[:REPLICA]=CGROUP",
                    help="what to export, e.g. mysql=mysql shop:1=shop-1")  # fmt: skip
    args = parser.parse_args(argv)

    if args.command == "cgroup-exec":
        return cgroup_exec(args)
    if args.command == "keep":
        from stack.keeper import keep

        cmd, folder = args.cmd, None
        if cmd[:1] == ["--dir"] and len(cmd) > 1:
            cmd, folder = cmd[2:], Path(cmd[1])
        cmd = cmd[1:] if cmd[:1] == ["--"] else cmd
        if not cmd:
            parser.error("keep: no command given")
        return keep(args.name, cmd, folder)
    if args.command == "cgroup-exporter":
        groups = dict(g.partition("=")[::2] for g in args.groups)
        if not all(groups.values()):
            parser.error("cgroup-exporter groups are SERVICE=CGROUP")
        return cgroup_exporter(args.listen, groups)
    if args.command == "compose":
        return compose_file(args.check)
    if args.command == "prometheus-config":
        from stack.prometheus_config import write_compose_config

        print(f"prometheus-config: wrote {write_compose_config()}")
        return 0
    try:
        settings = read_stack_settings(os.environ)
    except StackSettingsError as exc:
        print(f"local: configuration error: {exc}", file=sys.stderr)
        return 2
    from stack import runner

    if args.command == "urls":
        print(runner.describe(settings))
        return 0
    return {"up": runner.up, "down": runner.down, "status": runner.status,
            "reset": runner.reset}[args.command](settings)  # fmt: skip


def compose_file(check: bool) -> int:
    from stack.compose_file import stale, write_compose
    from stack.settings import REPO

    if not check:
        for path in write_compose():
            print(f"compose: wrote {path.relative_to(REPO)} from stack/services.py")
        return 0
    for path in stale():
        print(f"compose: {path.relative_to(REPO)} differs from stack/services.py; "
              "run `make compose-config`")  # fmt: skip
    if stale():
        return 1
    print("compose: compose.yml and its nginx.conf are fresh")
    return 0


def cgroup_exec(args) -> int:
    from stack import cgroups

    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        print("cgroup-exec: no command given", file=sys.stderr)
        return 2
    if cgroups.unavailable_reason() is None:
        cgroups.create(args.name, args.cpus, parse_bytes("--memory", args.memory))
        cgroups.enter(args.name, os.getpid())
    os.execvp(cmd[0], cmd)
    return 127  # not reached


def cgroup_exporter(listen: str, groups: dict[str, str]) -> int:
    from prometheus_client import CollectorRegistry, start_http_server

    from stack.cgroups import CgroupCollector

    host, _, port = listen.rpartition(":")
    registry = CollectorRegistry()
    registry.register(CgroupCollector(groups))
    start_http_server(int(port), addr=host, registry=registry)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    raise SystemExit(main())

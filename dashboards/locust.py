"""Locust: what only Locust has, by testid: users against the target, and its workers.
Requests, latency and failures of a Locust run are on the load dashboard (tool locust)."""

from __future__ import annotations

from dashboards.common import Panels, Query, layout, limit_line, row, testid_variable

RUN = 'testid=~"$testid"'

PEAK_USERS = f"max(max_over_time(locust_users{{{RUN}}}[$__range]))"
USERS = f"sum(locust_users{{{RUN}}})"
TARGET = f'max(load:target_tps{{tool="locust",{RUN}}})'
WORKERS = f"sum(locust_workers{{{RUN}}})"


panels = Panels("locust")


def _panels() -> list:
    peak_users = panels.stat(
        "Peak users", [Query(PEAK_USERS, instant=True)], "short", decimals=0, links=("load",)
    )
    workers = panels.stat("Workers now", [Query(WORKERS)], "short", decimals=0)
    users = panels.timeseries(
        "Users (offered rate) vs target",
        [Query(USERS, "users"), Query(TARGET, "target"), Query(WORKERS, "workers")],
        "short",
        overrides=[limit_line("target")],
        links=("cockpit", "load"),
    )
    return layout(
        (4, [(12, peak_users), (12, workers)]),
        row("Users"),
        (8, [(24, users)]),
    )


def dashboard():
    return panels.dashboard(
        "One Locust run (pick its testid): what only Locust has (users against the target, "
        "workers); requests, latency and failures are on the load dashboard.",
        _panels(),
        variables=(testid_variable("locust_users"),),
    )

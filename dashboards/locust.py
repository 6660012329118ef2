"""Locust: what only Locust has, by testid: users against the target, and its workers.
Requests, latency and failures of a Locust run are on the load dashboard (tool locust)."""

from __future__ import annotations

from dashboards.common import (
    Query,
    dashboard,
    layout,
    limit_line,
    panel_links,
    row,
    stat,
    testid_variable,
    timeseries,
)

RUN = 'testid=~"$testid"'

PEAK_USERS = f"max(max_over_time(locust_users{{{RUN}}}[$__range]))"
USERS = f"sum(locust_users{{{RUN}}})"
TARGET = f'max(load:target_tps{{tool="locust",{RUN}}})'
WORKERS = f"sum(locust_workers{{{RUN}}})"


def _panels() -> list:
    peak_users = stat(
        "Peak users",
        "Most users running at once; with 1 s constant pacing this is the peak offered "
        "requests per second.",
        [Query(PEAK_USERS, instant=True)],
        "short",
        decimals=0,
        links=panel_links("load"),
    )
    workers = stat(
        "Workers now",
        "Locust worker processes connected to the master (0 when it runs alone). Fewer than "
        "asked (--processes): a worker died and the offered rate dropped with it.",
        [Query(WORKERS)],
        "short",
        decimals=0,
    )
    users = timeseries(
        "Users (offered rate) vs target",
        "Users running (each offers one request per second), the run's TARGET_TPS (dashed) "
        "and the connected workers. Users below target: the shape is still ramping or the "
        "generator is short of CPU (add --processes).",
        [Query(USERS, "users"), Query(TARGET, "target"), Query(WORKERS, "workers")],
        "short",
        overrides=[limit_line("target")],
        links=panel_links("cockpit", "load"),
    )
    return layout(
        (4, [(12, peak_users), (12, workers)]),
        row("Users"),
        (8, [(24, users)]),
    )


dashboard = dashboard(
    "locust",
    "One Locust run (pick its testid): what only Locust has (users against the target, "
    "workers); requests, latency and failures are on the load dashboard.",
    _panels(),
    variables=(testid_variable("locust_users"),),
)

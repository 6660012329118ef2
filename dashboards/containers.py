"""Containers: CPU, throttling, memory, OOM kills and network per compose service, against
their limits (cAdvisor; natively the cgroup exporter), and the host under them."""

from __future__ import annotations

from dashboards.common import (
    Query,
    dashboard,
    layout,
    limit_line,
    panel_links,
    query_variable,
    row,
    timeseries,
    upper_limit,
)

WINDOW = "$__rate_interval"
SERVICE = 'name=~"$service"'


# Per service (`name`), `services` a label matcher on name; the recording rules of
# signals/catalog.py (container group) say how each is computed.


def cpu_used(services: str) -> str:
    return f"container:cpu_usage_cores:rate1m{{{services}}}"


def cpu_limit(services: str) -> str:
    return f"container:cpu_limit_cores{{{services}}}"


def memory_used(services: str) -> str:
    return f"container:memory_working_set_bytes:max{{{services}}}"


def memory_limit(services: str) -> str:
    return f"container:memory_limit_bytes:max{{{services}}}"


CPU_USED = cpu_used(SERVICE)
CPU_LIMIT = cpu_limit(SERVICE)
CPU_OF_LIMIT = f"container:cpu_of_limit:ratio_rate1m{{{SERVICE}}}"
THROTTLED_RATIO = f"container:cpu_cfs_throttled:ratio_rate1m{{{SERVICE}}}"
MEMORY_USED = memory_used(SERVICE)
MEMORY_LIMIT = memory_limit(SERVICE)
MEMORY_OF_LIMIT = f"container:memory_of_limit:ratio{{{SERVICE}}}"
OOM_KILLS = f"sum by (name) (increase(container_oom_events_total{{{SERVICE}}}[{WINDOW}]))"
NET_RECEIVED = f"sum by (name) (rate(container_network_receive_bytes_total{{{SERVICE}}}[{WINDOW}]))"
NET_SENT = f"sum by (name) (rate(container_network_transmit_bytes_total{{{SERVICE}}}[{WINDOW}]))"

HOST_CPU_BUSY = f'1 - avg(rate(node_cpu_seconds_total{{mode="idle"}}[{WINDOW}]))'
HOST_CPU_PRESSURE = f"rate(node_pressure_cpu_waiting_seconds_total[{WINDOW}])"
HOST_MEMORY_USED = "1 - sum(node_memory_MemAvailable_bytes) / sum(node_memory_MemTotal_bytes)"


def _panels() -> list:
    cpu = timeseries(
        "CPU used vs limit",
        "CPU cores each service uses and its limit (dashed: compose's cpus, 2 for the shop "
        "and MySQL). A service flat at its limit is CPU-bound: throttling follows and "
        "latency climbs; raise the limit, add instances, or cut work per request.",
        [Query(CPU_USED, "{{name}} used"), Query(CPU_LIMIT, "{{name}} limit")],
        "short",
        axis_label="cores",
        overrides=[limit_line("shop limit"), limit_line("mysql limit")],
        links=panel_links("cockpit"),
    )
    cpu_ratio = timeseries(
        "CPU % of limit",
        "CPU used as a share of each service's limit. Red from 90 %: the service is about "
        "to be throttled (see the next panel).",
        [Query(CPU_OF_LIMIT, "{{name}}")],
        "percentunit",
        thresholds=upper_limit(0.9, warn=0.75),
    )
    throttled = timeseries(
        "CFS throttling",
        "Share of CFS periods in which the service hit its CPU quota and was stopped until "
        "the next period. Above 10 % latency suffers directly (each stop lasts up to 100 ms "
        "minus the quota): give the service more CPU or fewer workers.",
        [Query(THROTTLED_RATIO, "{{name}}")],
        "percentunit",
        thresholds=upper_limit(0.25, warn=0.1),
    )
    memory = timeseries(
        "Memory working set vs limit",
        "Working-set memory (what the kernel will not reclaim easily) per service, and its "
        "limit (dashed: compose's mem_limit, 4 GB). At the limit the OOM killer stops the "
        "service.",
        [Query(MEMORY_USED, "{{name}} used"), Query(MEMORY_LIMIT, "{{name}} limit")],
        "bytes",
        overrides=[limit_line("shop limit"), limit_line("mysql limit")],
    )
    memory_ratio = timeseries(
        "Memory % of limit",
        "Working set as a share of each limited service's memory limit. Red from 90 %: the "
        "next spike is an OOM kill; find the growth (pool, caches, a leak) or raise the limit.",
        [Query(MEMORY_OF_LIMIT, "{{name}}")],
        "percentunit",
        thresholds=upper_limit(0.9, warn=0.8),
    )
    ooms = timeseries(
        "OOM kills",
        "Processes the kernel's OOM killer ended inside each service. Any is red: requests "
        "in flight were lost and workers restart; raise the memory limit or reduce it.",
        [Query(OOM_KILLS, "{{name}}")],
        "short",
        bars=True,
        thresholds=upper_limit(1),
    )
    network = timeseries(
        "Network received and sent",
        "Bytes per second each service received and sent. A service whose traffic flattens "
        "while its load grows is limited somewhere else (CPU, locks) or dropping requests.",
        [Query(NET_RECEIVED, "{{name}} received"), Query(NET_SENT, "{{name}} sent")],
        "Bps",
    )
    host_cpu = timeseries(
        "Host CPU busy and pressure",
        "The machine under every container (node_exporter): share of CPU time busy, and "
        "the share of time runnable tasks waited for a CPU (pressure). Pressure above 0.2 "
        "with busy near 100 %: the host itself is the limit, whatever the containers' "
        "quotas say (the load generator competes for it too).",
        [Query(HOST_CPU_BUSY, "busy"), Query(HOST_CPU_PRESSURE, "waiting for CPU")],
        "percentunit",
        thresholds=upper_limit(0.9, warn=0.75),
    )
    host_memory = timeseries(
        "Host memory used",
        "Share of the machine's memory not available to new work (node_exporter). Red from "
        "90 %: containers without limits will start to swap or be killed.",
        [Query(HOST_MEMORY_USED, "used")],
        "percentunit",
        thresholds=upper_limit(0.9, warn=0.8),
    )
    return layout(
        row("CPU"),
        (8, [(10, cpu), (7, cpu_ratio), (7, throttled)]),
        row("Memory"),
        (8, [(10, memory), (7, memory_ratio), (7, ooms)]),
        row("Network and host"),
        (8, [(10, network), (7, host_cpu), (7, host_memory)]),
    )


dashboard = dashboard(
    "containers",
    "Each compose service against its limits: CPU and CFS throttling, memory and OOM kills, "
    "network; and the host under them.",
    _panels(),
    variables=(
        query_variable(
            "service",
            "service",
            "label_values(container_cpu_usage_seconds_total, name)",
            all_value=".+",
        ),
    ),
)

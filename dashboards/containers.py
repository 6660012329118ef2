"""Containers: CPU, throttling, memory, OOM kills and network per compose service, against
their limits (cAdvisor; natively the cgroup exporter), and the host under them."""

from __future__ import annotations

from dashboards.common import Panels, Query, layout, limit_line, query_variable, row, upper_limit

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


def cpu_of_limit_by_replica(services: str) -> str:
    return f"replica:container_cpu_of_limit:ratio_rate1m{{{services}}}"


def cpu_vs_limit(services: str) -> list[Query]:
    """Cores each service uses and its limit, one pair of series per service."""
    return [
        Query(cpu_used(services), "{{name}} used"),
        Query(cpu_limit(services), "{{name}} limit"),
    ]


def memory_vs_limit(services: str) -> list[Query]:
    """Working-set bytes each service uses and its limit."""
    return [
        Query(memory_used(services), "{{name}} used"),
        Query(memory_limit(services), "{{name}} limit"),
    ]


# Only the shop and MySQL have limits (compose.yml): their limit series drawn as limit lines.
LIMIT_LINES = [limit_line("shop limit"), limit_line("mysql limit")]


CPU_OF_LIMIT = f"container:cpu_of_limit:ratio_rate1m{{{SERVICE}}}"
THROTTLED_RATIO = f"container:cpu_cfs_throttled:ratio_rate1m{{{SERVICE}}}"
MEMORY_OF_LIMIT = f"container:memory_of_limit:ratio{{{SERVICE}}}"
OOM_KILLS = f"sum by (name) (increase(container_oom_events_total{{{SERVICE}}}[{WINDOW}]))"
NET_RECEIVED = f"sum by (name) (rate(container_network_receive_bytes_total{{{SERVICE}}}[{WINDOW}]))"
NET_SENT = f"sum by (name) (rate(container_network_transmit_bytes_total{{{SERVICE}}}[{WINDOW}]))"

HOST_CPU_BUSY = f'1 - avg(rate(node_cpu_seconds_total{{mode="idle"}}[{WINDOW}]))'
HOST_CPU_PRESSURE = f"rate(node_pressure_cpu_waiting_seconds_total[{WINDOW}])"
HOST_MEMORY_USED = "1 - sum(node_memory_MemAvailable_bytes) / sum(node_memory_MemTotal_bytes)"


panels = Panels("containers")


def _share(title: str, queries: list[Query], red: float, orange: float):
    """A share of some capacity over time, orange then red as it nears the whole."""
    return panels.timeseries(
        title, queries, "percentunit", thresholds=upper_limit(red, warn=orange)
    )


def _panels() -> list:
    cpu = panels.timeseries(
        "CPU used vs limit",
        cpu_vs_limit(SERVICE),
        "short",
        axis_label="cores",
        overrides=LIMIT_LINES,
        links=("cockpit",),
    )
    cpu_ratio = _share("CPU % of limit", [Query(CPU_OF_LIMIT, "{{name}}")], 0.9, 0.75)
    throttled = _share("CFS throttling", [Query(THROTTLED_RATIO, "{{name}}")], 0.25, 0.1)
    per_replica = _share(
        "CPU % of limit per replica",
        [Query(cpu_of_limit_by_replica(SERVICE), "{{name}} {{replica}}")],
        0.9,
        0.75,
    )
    memory = panels.timeseries(
        "Memory working set vs limit", memory_vs_limit(SERVICE), "bytes", overrides=LIMIT_LINES
    )
    memory_ratio = _share("Memory % of limit", [Query(MEMORY_OF_LIMIT, "{{name}}")], 0.9, 0.8)
    ooms = panels.timeseries(
        "OOM kills", [Query(OOM_KILLS, "{{name}}")], "short", bars=True, thresholds=upper_limit(1)
    )
    network = panels.timeseries(
        "Network received and sent",
        [Query(NET_RECEIVED, "{{name}} received"), Query(NET_SENT, "{{name}} sent")],
        "Bps",
    )
    host_cpu = _share(
        "Host CPU busy and pressure",
        [Query(HOST_CPU_BUSY, "busy"), Query(HOST_CPU_PRESSURE, "waiting for CPU")],
        0.9,
        0.75,
    )
    host_memory = _share("Host memory used", [Query(HOST_MEMORY_USED, "used")], 0.9, 0.8)
    return layout(
        row("CPU"),
        (8, [(10, cpu), (7, cpu_ratio), (7, throttled)]),
        (8, [(24, per_replica)]),
        row("Memory"),
        (8, [(10, memory), (7, memory_ratio), (7, ooms)]),
        row("Network and host"),
        (8, [(10, network), (7, host_cpu), (7, host_memory)]),
    )


def dashboard():
    return panels.dashboard(
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

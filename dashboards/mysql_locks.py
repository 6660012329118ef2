"""MySQL InnoDB locks: deadlocks (counted and captured, by table, index, mode), lock waits now,
row-lock time and the server's load, from our InnoDB exporter and mysqld_exporter."""

from __future__ import annotations

from dashboards.common import (
    UP_MAPPINGS,
    Panels,
    Query,
    layout,
    lower_limit,
    override,
    row,
    steps,
    upper_limit,
)
from signals.catalog import deadlocks_increase

WINDOW = "$__rate_interval"

# Deadlocks: the server's exact counter against what the exporter captured with details.
DEADLOCKS_IN_RANGE = deadlocks_increase("$__range")
DEADLOCKS_MISSED = "max(innodb_deadlocks_missed)"
LAST_DEADLOCK_MS = "max(innodb_deadlock_last_timestamp_seconds) * 1000"
DEADLOCKS_PER_MIN = "mysql:innodb_deadlocks:rate1m * 60"
CAPTURED_PER_MIN = f"sum by (source) (rate(innodb_deadlocks_captured_total[{WINDOW}])) * 60"
WAITING_LOCKS_PER_MIN = (
    "sum by (table, index, lock_mode) "
    f'(rate(innodb_deadlock_locks_total{{role="waiting"}}[{WINDOW}])) * 60'
)
VICTIMS_PER_MIN = f"sum by (table) (rate(innodb_deadlock_victims_total[{WINDOW}])) * 60"
LOCKS_TABLE = "sum by (table, index, lock_mode, role) (innodb_deadlock_locks_total)"
STATEMENTS_TABLE = "sum by (statements) (innodb_deadlock_statements_total)"

# Lock waits now.
LOCK_WAITS = "mysql:innodb_lock_waits:sum"
OLDEST_WAIT = "mysql:innodb_lock_wait_seconds:max"
WAITS_BY_TABLE = "sum by (table) (innodb_lock_waits_by_table)"
WAIT_CHAINS = (
    "max by (waiting_thread, blocking_thread, table, index, lock_mode) "
    "(max_over_time(innodb_lock_wait_seconds[$__range]))"
)

# The server (mysqld_exporter): row-lock time, threads, queries.
ROW_LOCK_MS_PER_S = f"sum(rate(mysql_global_status_innodb_row_lock_time[{WINDOW}]))"
ROW_LOCK_WAITS = f"sum(rate(mysql_global_status_innodb_row_lock_waits[{WINDOW}]))"
THREADS_RUNNING = "sum(mysql_global_status_threads_running)"
THREADS_CONNECTED = "sum(mysql_global_status_threads_connected)"
MAX_CONNECTIONS = "max(mysql_global_variables_max_connections)"
QUERIES = f"sum(rate(mysql_global_status_queries[{WINDOW}]))"
COMMANDS = (
    "sum by (command) (rate(mysql_global_status_commands_total"
    f'{{command=~"select|insert|update|delete|commit|rollback"}}[{WINDOW}]))'
)

# The exporters themselves.
INNODB_UP = "min(innodb_up)"
MYSQL_UP = "min(mysql_up)"
COLLECTORS_OK = "min by (collector) (innodb_exporter_collector_success)"
PARSE_ERRORS = "sum(increase(innodb_status_parse_errors_total[$__range]))"

WAIT_AGE = upper_limit(5, warn=1)


panels = Panels("mysql_locks")


def _panels() -> list:
    deadlocks = panels.count_stat(
        "Deadlocks in range", [Query(DEADLOCKS_IN_RANGE, instant=True)], links=("shop",)
    )
    missed = panels.count_stat("Deadlocks without details", [Query(DEADLOCKS_MISSED)])
    parse_errors = panels.count_stat("Parse errors in range", [Query(PARSE_ERRORS, instant=True)])
    last = panels.stat(
        "Last deadlock",
        [Query(LAST_DEADLOCK_MS)],
        "dateTimeFromNow",
        thresholds=steps((None, "text")),
    )
    waits_now = panels.stat(
        "Lock waits now",
        [Query(LOCK_WAITS)],
        "short",
        thresholds=upper_limit(5, warn=1),
        decimals=0,
    )
    oldest = panels.stat("Oldest wait now", [Query(OLDEST_WAIT)], "s", thresholds=WAIT_AGE)
    exporters = panels.stat(
        "Exporters",
        [
            Query(INNODB_UP, "innodb exporter"),
            Query(MYSQL_UP, "mysqld_exporter"),
            Query(COLLECTORS_OK, "{{collector}}"),
        ],
        "none",
        thresholds=lower_limit(1),
        mappings=UP_MAPPINGS,
        text_mode="value_and_name",
    )
    counted_vs_captured = panels.timeseries(
        "Deadlocks per minute: counted vs captured",
        [Query(DEADLOCKS_PER_MIN, "counted by the server"),
         Query(CAPTURED_PER_MIN, "captured from {{source}}")],
        "opm",
        thresholds=steps((None, "green"), (0.5, "red")),
        links=("shop",),
    )  # fmt: skip
    by_lock = panels.timeseries(
        "Deadlocks by table, index and lock mode",
        [Query(WAITING_LOCKS_PER_MIN, "{{table}} {{index}} {{lock_mode}}")],
        "opm",
    )
    victims = panels.timeseries(
        "Victims by table", [Query(VICTIMS_PER_MIN, "{{table}}")], "opm", bars=True
    )
    locks_table = panels.table(
        "Locks in captured deadlocks", LOCKS_TABLE, "short", value_title="locks"
    )
    statements_table = panels.table(
        "Deadlocking statements", STATEMENTS_TABLE, "short", value_title="deadlocks"
    )
    waits = panels.timeseries(
        "Lock waits and the oldest wait",
        [Query(LOCK_WAITS, "waiting"), Query(OLDEST_WAIT, "oldest wait")],
        "short",
        overrides=[override("oldest wait", unit="s", axis="right")],
    )
    waits_by_table = panels.timeseries(
        "Lock waits by table", [Query(WAITS_BY_TABLE, "{{table}}")], "short", stacked=True
    )
    chains = panels.table(
        "Wait chains (oldest waits in range)",
        WAIT_CHAINS,
        "s",
        value_title="longest wait",
        thresholds=WAIT_AGE,
    )
    row_lock = panels.timeseries(
        "Row-lock time and waits",
        [Query(ROW_LOCK_MS_PER_S, "lock wait time"), Query(ROW_LOCK_WAITS, "lock waits /s")],
        "ms",
        overrides=[override("lock waits /s", unit="short", axis="right")],
    )
    threads = panels.timeseries(
        "Threads running and connected",
        [Query(THREADS_RUNNING, "running"), Query(THREADS_CONNECTED, "connected"),
         Query(MAX_CONNECTIONS, "max_connections")],
        "short",
        overrides=[override("max_connections", dashed=True, color="red", fill=0)],
    )  # fmt: skip
    queries = panels.timeseries(
        "Queries per second",
        [Query(QUERIES, "queries"), Query(COMMANDS, "{{command}}")],
        "short",
        axis_label="per second",
    )
    return layout(
        (4, [(4, deadlocks), (3, missed), (3, parse_errors), (4, last), (3, waits_now),
             (3, oldest), (4, exporters)]),
        row("Deadlocks"),
        (8, [(8, counted_vs_captured), (10, by_lock), (6, victims)]),
        (8, [(12, locks_table), (12, statements_table)]),
        row("Lock waits"),
        (8, [(8, waits), (6, waits_by_table), (10, chains)]),
        row("Server"),
        (8, [(8, row_lock), (8, threads), (8, queries)]),
    )  # fmt: skip


def dashboard():
    return panels.dashboard(
        "InnoDB deadlocks and lock waits: the server's counter against the details our exporter "
        "captured, by table, index, lock mode and statement; lock waits now and who blocks; "
        "row-lock time, threads and queries from mysqld_exporter.",
        _panels(),
    )

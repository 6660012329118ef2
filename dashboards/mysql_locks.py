"""MySQL InnoDB locks: deadlocks (counted and captured, by table, index, mode), lock waits now,
row-lock time and the server's load, from our InnoDB exporter and mysqld_exporter."""

from __future__ import annotations

from dashboards.common import (
    UP_MAPPINGS,
    Query,
    dashboard,
    layout,
    lower_limit,
    override,
    panel_links,
    row,
    stat,
    steps,
    table,
    timeseries,
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


def _panels() -> list:
    deadlocks = stat(
        "Deadlocks in range",
        "Deadlocks the server counted (Innodb_deadlocks or lock_deadlocks) over the range "
        "shown. Any is red: the order path collides on rows, see the tables and statements "
        "below; on the naive strategy this is the mission's bug.",
        [Query(DEADLOCKS_IN_RANGE, instant=True)],
        "short",
        thresholds=upper_limit(1),
        decimals=0,
        links=panel_links("shop"),
    )
    missed = stat(
        "Deadlocks without details",
        "Deadlocks the server counted since the exporter started that it could not capture "
        "with details. Above 0: polling SHOW ENGINE INNODB STATUS saw only the latest of "
        "several; give the exporter the error log (innodb_print_all_deadlocks=ON).",
        [Query(DEADLOCKS_MISSED)],
        "short",
        thresholds=upper_limit(1),
        decimals=0,
    )
    last = stat(
        "Last deadlock",
        "When the newest captured deadlock happened. Recent during a run on the safe "
        "strategy: the fix is not holding; read its statements in the table below.",
        [Query(LAST_DEADLOCK_MS)],
        "dateTimeFromNow",
        thresholds=steps((None, "text")),
    )
    waits_now = stat(
        "Lock waits now",
        "Transactions waiting for a lock at the last scrape. Red from 5: the order path is "
        "serialised behind a blocker; see the wait chains below.",
        [Query(LOCK_WAITS)],
        "short",
        thresholds=upper_limit(5, warn=1),
        decimals=0,
    )
    oldest = stat(
        "Oldest wait now",
        "Age of the oldest lock wait at the last scrape. Red from 5 s: a long transaction "
        "holds locks; at innodb_lock_wait_timeout (50 s by default) the waiter fails.",
        [Query(OLDEST_WAIT)],
        "s",
        thresholds=WAIT_AGE,
    )
    exporters = stat(
        "Exporters",
        "Whether our InnoDB exporter and mysqld_exporter reach the server, and each source "
        "the InnoDB exporter reads (1 = read in the last scrape). Red: a missing privilege "
        "(see exporters/innodb/README.md) or the server down.",
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
    counted_vs_captured = timeseries(
        "Deadlocks per minute: counted vs captured",
        "The server's own deadlock counter against the deadlocks the exporter parsed with "
        "details, by source (SHOW ENGINE INNODB STATUS, error log). Captured below counted: "
        "details are being missed; follow the error log.",
        [Query(DEADLOCKS_PER_MIN, "counted by the server"),
         Query(CAPTURED_PER_MIN, "captured from {{source}}")],
        "opm",
        thresholds=steps((None, "green"), (0.5, "red")),
        links=panel_links("shop"),
    )  # fmt: skip
    by_lock = timeseries(
        "Deadlocks by table, index and lock mode",
        "Per minute, the lock each deadlocked transaction waited for: table, index and mode "
        "(S on users' PRIMARY after the order insert's foreign-key check is the naive "
        "strategy's signature). Fix the access order or the lock taken on that index.",
        [Query(WAITING_LOCKS_PER_MIN, "{{table}} {{index}} {{lock_mode}}")],
        "opm",
    )
    victims = timeseries(
        "Victims by table",
        "Per minute, deadlocks by the table the rolled-back transaction was waiting on. "
        "Each victim is an order the shop retried (safe) or answered 503 (naive).",
        [Query(VICTIMS_PER_MIN, "{{table}}")],
        "opm",
        bars=True,
    )
    locks_table = table(
        "Locks in captured deadlocks",
        "Every lock seen in captured deadlocks since the exporter started: the lock waited "
        "for and the locks held, by table, index and mode. The top rows are where to look.",
        [Query(LOCKS_TABLE, table=True)],
        "short",
        value_title="locks",
    )
    statements_table = table(
        "Deadlocking statements",
        "Captured deadlocks by the statements involved (fingerprints, literals as ?), since "
        "the exporter started. The exporter's /deadlocks page has each deadlock in full.",
        [Query(STATEMENTS_TABLE, table=True)],
        "short",
        value_title="deadlocks",
    )
    waits = timeseries(
        "Lock waits and the oldest wait",
        "Transactions waiting for a lock at each scrape (left) and the age of the oldest "
        "(right). Waits with a growing age: one transaction holds locks for long; its "
        "thread is in the wait chains table.",
        [Query(LOCK_WAITS, "waiting"), Query(OLDEST_WAIT, "oldest wait")],
        "short",
        overrides=[override("oldest wait", unit="s", axis="right")],
    )
    waits_by_table = timeseries(
        "Lock waits by table",
        "Waiting transactions by the table of the lock they wait for. One table dominating: "
        "a hot row (a hot user or product); spread the writes or shorten transactions.",
        [Query(WAITS_BY_TABLE, "{{table}}")],
        "short",
        stacked=True,
    )
    chains = table(
        "Wait chains (oldest waits in range)",
        "Who waited for whom in the range shown (processlist ids, as KILL takes them), on "
        "which table, index and mode, and the longest age seen. A blocker that appears in "
        "many rows is the transaction to look at (or kill).",
        [Query(WAIT_CHAINS, table=True)],
        "s",
        value_title="longest wait",
        thresholds=WAIT_AGE,
    )
    row_lock = timeseries(
        "Row-lock time and waits",
        "From mysqld_exporter: milliseconds per second spent waiting for row locks (left) "
        "and row-lock waits per second (right), the server's view of the same contention. "
        "Rising with load: contention, not CPU, limits throughput.",
        [Query(ROW_LOCK_MS_PER_S, "lock wait time"), Query(ROW_LOCK_WAITS, "lock waits /s")],
        "ms",
        overrides=[override("lock waits /s", unit="short", axis="right")],
    )
    threads = timeseries(
        "Threads running and connected",
        "Server threads running a statement now and connected, against max_connections "
        "(dashed). Running far above the CPUs: queries queue inside MySQL; connected near "
        "the maximum: new connections are refused.",
        [Query(THREADS_RUNNING, "running"), Query(THREADS_CONNECTED, "connected"),
         Query(MAX_CONNECTIONS, "max_connections")],
        "short",
        overrides=[override("max_connections", dashed=True, color="red", fill=0)],
    )  # fmt: skip
    queries = timeseries(
        "Queries per second",
        "Statements per second the server ran, and the main commands. Rollbacks rising with "
        "deadlocks: victims being rolled back.",
        [Query(QUERIES, "queries"), Query(COMMANDS, "{{command}}")],
        "short",
        axis_label="per second",
    )
    parse_errors = stat(
        "Parse errors in range",
        "Deadlock texts the exporter could not fully parse in the range shown. Above 0: "
        "some details are missing; the exporter's log names the reason.",
        [Query(PARSE_ERRORS, instant=True)],
        "short",
        thresholds=upper_limit(1),
        decimals=0,
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


dashboard = dashboard(
    "mysql_locks",
    "InnoDB deadlocks and lock waits: the server's counter against the details our exporter "
    "captured, by table, index, lock mode and statement; lock waits now and who blocks; "
    "row-lock time, threads and queries from mysqld_exporter.",
    _panels(),
)

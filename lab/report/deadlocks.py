"""The run's deadlocks in detail: tables, indexes, lock modes, statements and victims, from the
InnoDB exporter's /deadlocks when it answers, else from its `innodb_deadlock_*` series."""

from __future__ import annotations

from dataclasses import dataclass, field

import requests

from lab.report.prometheus import Prometheus
from lab.report.server import Span, grown

SLACK_S = 1  # the status text and the error log stamp deadlocks to the second


@dataclass
class Deadlocks:
    source: str  # "exporter /deadlocks", "innodb_deadlock_* series" or "none"
    count: int = 0
    tables: dict[str, float] = field(default_factory=dict)  # schema.table -> deadlocks/locks
    locks: list[dict] = field(default_factory=list)  # {table, index, lock_mode, role, count}
    victims: dict[str, float] = field(default_factory=dict)  # schema.table -> victims
    statements: dict[str, int] = field(default_factory=dict)  # fingerprint -> deadlocks
    recent: list[dict] = field(default_factory=list)  # newest first, as the exporter gives them

    def on_table(self, table: str) -> bool:
        """Whether `table` (bare name or schema.table) took part in a deadlock of the run."""
        return any(t == table or t.endswith(f".{table}") for t in self.tables)


def from_exporter(url: str, start: float, end: float) -> Deadlocks | None:
    """The exporter's captured deadlocks inside [start, end]; None when it does not answer."""
    try:
        body = requests.get(f"{url.rstrip('/')}/deadlocks", timeout=5).json()
    except (requests.RequestException, ValueError):
        return None
    mine = [
        d
        for d in body.get("deadlocks", [])
        if d.get("timestamp_seconds") is not None
        and start - SLACK_S <= d["timestamp_seconds"] <= end + SLACK_S
    ]
    out = Deadlocks("exporter /deadlocks", count=len(mine), recent=mine[:20])
    for d in mine:
        for table in d.get("tables", []):
            out.tables[table] = out.tables.get(table, 0) + 1
        for fp in d.get("fingerprints", []):
            out.statements[fp] = out.statements.get(fp, 0) + 1
        for trx in d.get("transactions", []):
            if trx.get("victim") and trx.get("waiting"):
                lock = trx["waiting"]
                name = ".".join(p for p in (lock.get("schema"), lock.get("table")) if p)
                out.victims[name] = out.victims.get(name, 0) + 1
            held = [("waiting", trx["waiting"])] if trx.get("waiting") else []
            for role, lock in held + [("holding", h) for h in trx.get("holding", [])]:
                _count_lock(out.locks, lock, role)
    return out


def _count_lock(locks: list[dict], lock: dict, role: str) -> None:
    key = {
        "table": ".".join(p for p in (lock.get("schema"), lock.get("table")) if p),
        "index": lock.get("index") or "",
        "lock_mode": lock.get("mode") or "",
        "role": role,
    }
    for item in locks:
        if all(item[k] == v for k, v in key.items()):
            item["count"] += 1
            return
    locks.append({**key, "count": 1})


def from_series(prom: Prometheus, span: Span, total: float | None) -> Deadlocks:
    """What the exporter's counters say grew during the run (no statements: they are not labels)."""
    out = Deadlocks("innodb_deadlock_* series", count=round(total or 0))
    lock_labels = ("schema", "table", "index", "lock_mode", "role")
    locks = grown(prom, "innodb_deadlock_locks_total", span, *lock_labels)
    for (schema, table, index, lock_mode, role), count in locks.items():
        if count <= 0:
            continue
        name = ".".join(p for p in (schema, table) if p)
        out.tables[name] = out.tables.get(name, 0) + count
        out.locks.append(
            {"table": name, "index": index, "lock_mode": lock_mode, "role": role, "count": count}
        )
    victims = grown(prom, "innodb_deadlock_victims_total", span, "schema", "table")
    for (schema, table), count in victims.items():
        if count > 0:
            out.victims[".".join(p for p in (schema, table) if p)] = count
    return out


def gather(
    prom: Prometheus, span: Span, exporter_url: str | None, total: float | None
) -> Deadlocks:
    """The exporter's details when it answers and saw the run's deadlocks, else the series."""
    if exporter_url:
        detailed = from_exporter(exporter_url, span.start, span.end)
        if detailed is not None and (detailed.count or not total):
            return detailed
    return from_series(prom, span, total)

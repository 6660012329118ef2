"""One run's deck assembled: what ran, both verdicts, per-endpoint figures, the dashboards'
panels over its window, deadlocks and findings; and two decks compared."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

from lab.report import deadlocks as deadlocks_mod
from lab.report import findings as findings_mod
from lab.report import panels as panels_mod
from lab.report import server as server_mod
from lab.report import units
from lab.report.recorded import Run, tool_versions
from lab.trend.changes import Trend
from stack.revision import git_commit

MARGIN_S = 15  # before and after the run: the ramp's first rate window and the last scrape


@dataclass
class Deck:
    run: dict
    summary: dict
    client_verdict: dict
    server_verdict: dict
    endpoints: list[dict]
    server: server_mod.ServerView
    deadlocks: deadlocks_mod.Deadlocks
    boards: list[panels_mod.Board]
    findings: list[findings_mod.Finding] = field(default_factory=list)
    window: dict = field(default_factory=dict)
    generated_at: float = field(default_factory=time.time)
    neighbours: dict | None = None  # other processes of the machine during the run
    capacity: dict | None = None  # capacity.json when the run was a capacity search's headline
    history: Trend | None = None  # the run history's recent stretch and its change points

    @property
    def holds(self) -> dict | None:
        """The run's answer to "does the target hold TARGET_TPS on its limits?": `passed`, and a
        line that says PASS with the achieved rate or names what broke; None for a scenario that
        reports instead of passing (stress, spike)."""
        return tps_answer(self.run, self.summary, self.client_verdict, self.server_verdict)

    @property
    def deadlock_count(self) -> int:
        """The server's own counter (exact); the captured details when it is unknown, since
        they may miss some and straddle the run's edges."""
        if self.server.deadlocks is None:
            return self.deadlocks.count
        return round(self.server.deadlocks)

    def as_dict(self) -> dict:
        out = asdict(self)
        out["server"]["strategy"] = self.server.strategy
        out["server"]["cache_hit_ratio"] = self.server.cache_hit_ratio
        out["deadlocks"]["count_server"] = self.deadlock_count
        return out


REPORTING = ("stress", "spike", "chaos")


def tps_answer(run: dict, summary: dict, client: dict, server: dict) -> dict | None:
    """PASS with the achieved rate, or what broke: the client's failed thresholds, the server's
    failed checks, an early abort (see `Deck.holds`)."""
    if run["scenario"] in REPORTING:
        return None
    broke = [t["name"] for t in client["thresholds"] if t["pass"] is False]
    broke += [f"server: {c['evidence']}" for c in server["checks"] if c["pass"] is False]
    if client.get("aborted"):
        broke.insert(0, "aborted early on " + "; ".join(client["aborted"]))
    achieved = summary.get("achieved_tps") or 0.0
    rate = f"achieved {achieved:.1f}/s of {run['target_tps']:g}/s"
    passed = not broke and bool(client.get("passed"))
    line = (
        f"PASS: {rate}, every threshold held"
        if passed
        else f"FAIL: {rate}; broke: " + ("; ".join(broke) or "the run's verdict (see below)")
    )
    limits = f" on its limits ({units.limits(run['limits'])})" if run.get("limits") else ""
    question = f"Does {run.get('target', 'the target')} hold {run['target_tps']:g} TPS{limits}?"
    return {"passed": passed, "line": line, "question": question}


def _when(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(t))


def what_ran(run: Run, server: server_mod.ServerView) -> dict:
    recorded = run.recorded
    limits = recorded.get("limits") or {
        r.name: {"cpus": r.cpu_limit, "memory_bytes": r.memory_limit}
        for r in server.resources
        if r.cpu_limit or r.memory_limit
    }
    commit = recorded.get("git_commit")
    return {
        "testid": run.testid,
        "tool": run.tool,
        "scenario": run.scenario,
        "description": run.description,
        # The shop labels every order with its strategy: the server's word when nothing recorded.
        "strategy": recorded.get("strategy") or server.strategy or "unknown",
        "target": run.spec.get("target", "shop"),
        "dialect": run.spec.get("dialect") or "n/a",
        "target_tps": run.target_tps,
        "scale": recorded.get("scale"),
        "hot_users": recorded.get("hot_users"),
        "limits": limits,
        "versions": {**tool_versions(), "mariadb": server.mariadb_version or "n/a"},
        "git_commit": commit or (f"{git_commit() or 'n/a'} (at report time)"),
        "started": _when(run.started_at),
        "ended": _when(run.ended_at),
        "started_at": run.started_at,
        "ended_at": run.ended_at,
        "duration_s": run.duration_s,
    }


def server_verdict(run: Run, server: server_mod.ServerView) -> dict:
    """The shop's own view against the scenario's SLO: p95 per route, the 5xx ratio."""
    checks = []
    objectives = {e["route"]: e["p95_ms"] for e in run.endpoints if e["route"]}
    for view in server.routes:
        slo_ms = objectives[view.route]
        ok = None if view.p95_ms is None else view.p95_ms < slo_ms
        checks.append(
            {
                "name": f"{view.route} p95 < {slo_ms} ms",
                "value": view.p95_ms,
                "pass": ok,
                "evidence": f"{view.route} p95 {_num(view.p95_ms)} ms (server) vs SLO {slo_ms} ms",
            }
        )
    total = sum(v.requests or 0 for v in server.routes)
    failed = sum((v.errors_5xx or 0) * (v.requests or 0) for v in server.routes)
    ratio = failed / total if total else None
    limit = run.error_rate
    checks.append(
        {
            "name": f"5xx ratio <= {limit * 100:g} %",
            "value": ratio,
            "pass": None if ratio is None else ratio <= limit,
            "evidence": f"5xx {_num(None if ratio is None else ratio * 100)} % of {total:.0f} "
            f"requests (server) vs SLO {limit * 100:g} %",
        }
    )
    known = [c["pass"] for c in checks if c["pass"] is not None]
    return {"checks": checks, "passed": all(known) if known else None}


def _num(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1f}"


def endpoint_rows(run: Run, server: server_mod.ServerView, client_p50: dict) -> list[dict]:
    rows, seconds = [], run.duration_s or 1
    by_route = {v.route: v for v in server.routes}
    for endpoint in run.endpoints:
        name, route = endpoint["key"], endpoint["route"]
        e = run.summary.get("endpoints", {}).get(name, {})
        view = by_route.get(route)
        count = e.get("count") or 0
        rows.append(
            {
                "endpoint": name,
                "requests": count,
                "tps": count / seconds,
                "p50_ms": client_p50.get(name),
                "p95_ms": e.get("p95_ms"),
                "p99_ms": e.get("p99_ms"),
                "errors": e.get("failures"),
                "server_tps": view.tps if view else None,
                "server_p50_ms": view.p50_ms if view else None,
                "server_p95_ms": view.p95_ms if view else None,
                "server_p99_ms": view.p99_ms if view else None,
                "server_5xx": view.errors_5xx if view else None,
            }
        )
    return rows


def build_deck(run: Run, prom, *, exporter_url: str | None = None) -> Deck:
    scrape_s = prom.scrape_interval()
    run_end = run.ended_at + scrape_s  # the last scrape of the run's counters
    window = panels_mod.Window(
        run.started_at - MARGIN_S, run.ended_at + MARGIN_S, scrape_s, run.started_at, run_end
    )
    span = server_mod.Span.of_run(run.started_at, run.ended_at, scrape_s)
    server = server_mod.server_view(prom, span, [e["route"] for e in run.endpoints if e["route"]])
    details = deadlocks_mod.gather(prom, span, exporter_url, server.deadlocks)
    boards = panels_mod.draw_boards(
        prom,
        panels_mod.select_dashboards(run.tool),
        testid=run.testid,
        tool=run.tool,
        window=window,
        run_end=run_end,
        endpoints=tuple(e["name"] for e in run.endpoints),
        routes=tuple(e["route"] for e in run.endpoints if e["route"]),
        dialect=run.dialect,
        external=run.external,
    )
    deck = Deck(
        run=what_ran(run, server),
        summary=run.summary,
        client_verdict={
            "thresholds": sorted(run.summary.get("thresholds", []), key=lambda t: t["name"]),
            "passed": run.summary.get("passed"),
            "aborted": run.summary.get("aborted") or [],
        },
        server_verdict=server_verdict(run, server),
        endpoints=endpoint_rows(
            run,
            server,
            server_mod.client_p50_ms(prom, span, run.tool, run.testid, run.endpoints),
        ),
        server=server,
        deadlocks=details,
        boards=boards,
        window={
            "start": window.start,
            "end": window.end,
            "step_s": window.step_s,
            "scrape_s": scrape_s,
        },
        neighbours=run.neighbours,
        capacity=run.capacity,
    )
    deck.findings = findings_mod.derive(deck)
    return deck


# (label, how to read it from a deck, unit, decimals): the figures two runs are compared by;
# counts (decimals 0) read as whole numbers, their deltas too.
COMPARED = (
    ("strategy", lambda d: d.run["strategy"], "", 0),
    ("achieved TPS", lambda d: d.summary.get("achieved_tps"), "/s", 2),
    ("error rate (client)", lambda d: _times(d.summary.get("error_rate"), 100), " %", 2),
    ("dropped iterations", lambda d: d.summary.get("dropped_iterations"), "", 0),
    ("orders p95 (client)", lambda d: d.endpoints[0]["p95_ms"], " ms", 2),
    ("popular p95 (client)", lambda d: d.endpoints[1]["p95_ms"], " ms", 2),
    ("orders p95 (server)", lambda d: d.endpoints[0]["server_p95_ms"], " ms", 2),
    ("popular p95 (server)", lambda d: d.endpoints[1]["server_p95_ms"], " ms", 2),
    ("5xx ratio (server)", lambda d: _times(d.server_verdict["checks"][-1]["value"], 100), " %", 2),
    ("InnoDB deadlocks", lambda d: d.server.deadlocks, "", 0),
    ("shop CPU (cores)", lambda d: _cpu(d, "shop"), "", 2),
    ("cache hit ratio", lambda d: _times(d.server.cache_hit_ratio, 100), " %", 2),
    ("findings", lambda d: len(d.findings), "", 0),
)


def _times(v, k):
    return None if v is None else v * k


def _cpu(deck: Deck, name: str) -> float | None:
    return next((r.cpu_cores for r in deck.server.resources if r.name == name), None)


def compare(deck: Deck, baseline: Deck) -> list[dict]:
    """Each compared figure for the run and its baseline, with run minus baseline."""
    rows = []
    for label, read, unit, decimals in COMPARED:
        a, b = read(deck), read(baseline)
        numeric = isinstance(a, int | float) and isinstance(b, int | float)
        rows.append(
            {
                "figure": label,
                "run": a,
                "baseline": b,
                "unit": unit,
                "decimals": decimals,
                "delta": a - b if numeric else None,
            }
        )
    return rows

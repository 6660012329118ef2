"""Findings and proposals derived by rules from a deck's figures; each cites its numbers."""

from __future__ import annotations

from dataclasses import dataclass

from lab.report import units
from signals.slo import GENERATOR_DROPPED_SHARE

# Where a rule starts to speak; the numbers are said in every finding they produce.
THROTTLED_SHARE = 0.10  # of CFS periods
CPU_AT_LIMIT = 0.90  # of the quota
CACHE_HIT_LOW = 0.80
CACHE_MIN_LOOKUPS = 20  # fewer: a hit ratio means nothing yet
POOL_SATURATED = 0.90
GENERATOR_IDLE_SERVER = 0.50  # server CPU share of its limit below which drops are the tool's


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: str  # bad, warn
    title: str
    evidence: str
    proposal: str


def _pct(v: float) -> str:
    return f"{v * 100:.1f} %"


def deadlock_findings(deck) -> list[Finding]:
    d, strategy = deck.deadlocks, deck.run["strategy"]
    total = deck.deadlock_count
    if not total:
        return []
    tables = ", ".join(
        f"{t} ({units.count(n)})" for t, n in sorted(d.tables.items(), key=lambda x: -x[1])
    )
    victims = ", ".join(f"{t} ({units.count(n)})" for t, n in d.victims.items()) or "n/a"
    evidence = (
        f"{total} deadlock(s) during the run (server counter "
        f"{deck.server.deadlocks or 0:.0f}, {d.count} in detail from {d.source}); "
        f"tables: {tables or 'n/a'}; victims: {victims}"
    )
    if d.on_table("users") and strategy == "naive":
        return [
            Finding(
                "deadlock-users-naive",
                "bad",
                "InnoDB deadlocks on `users` under the naive strategy",
                evidence,
                "Use the safe order strategy (SHOP_ORDER_STRATEGY=safe, make load STRATEGY=safe): "
                "the "
                "order insert share-locks the user row through its foreign key, the naive payment "
                "then updates the whole row; safe changes the points by id in one atomic update.",
            )
        ]
    return [
        Finding(
            "deadlock",
            "bad",
            "InnoDB deadlocks during the run",
            evidence,
            "Read the statements below: take locks in one order, keep the transaction short, and "
            "retry 1213 (the shop does, shop_db_retries_total).",
        )
    ]


def resource_findings(deck) -> list[Finding]:
    out = []
    for r in deck.server.resources:
        share = r.cpu_cores / r.cpu_limit if r.cpu_cores is not None and r.cpu_limit else None
        throttled = r.throttled or 0.0
        if throttled >= THROTTLED_SHARE or (share is not None and share >= CPU_AT_LIMIT):
            used = f"{r.cpu_cores:.2f}" if r.cpu_cores is not None else "n/a"
            limit = f"{r.cpu_limit:g}" if r.cpu_limit else "no limit"
            out.append(
                Finding(
                    f"cpu-limit-{r.name}",
                    "bad",
                    f"`{r.name}` CPU at its limit",
                    f"{used} cores used on average of {limit}; throttled in {_pct(throttled)} of "
                    f"CFS periods (rules: >= {_pct(THROTTLED_SHARE)} throttled or >= "
                    f"{_pct(CPU_AT_LIMIT)} of the quota)",
                    "Scale out (more shop replicas behind a balancer: LOCAL_SHOP_REPLICAS) or spec "
                    "up (more CPUs: LOCAL_SHOP_CPUS / compose cpus), then run again to compare.",
                )
            )
    return out


def cache_findings(deck) -> list[Finding]:
    s = deck.server
    ratio = s.cache_hit_ratio
    if ratio is None or (s.cache_lookups or 0) < CACHE_MIN_LOOKUPS or ratio >= CACHE_HIT_LOW:
        return []
    return [
        Finding(
            "cache-hit-low",
            "warn",
            "Low cache hit ratio on the popular list",
            f"{_pct(ratio)} hits of {s.cache_lookups:.0f} lookups "
            f"(rule: below {_pct(CACHE_HIT_LOW)})",
            "Lengthen the popular cache's TTL or warm it before the load; check Redis errors "
            '(result="error") on the shop dashboard.',
        )
    ]


def pool_findings(deck) -> list[Finding]:
    s = deck.server
    if not s.pool_capacity or s.pool_in_use_max is None:
        return []
    share = s.pool_in_use_max / s.pool_capacity
    if share < POOL_SATURATED:
        return []
    return [
        Finding(
            "db-pool-saturated",
            "bad",
            "Database connection pool saturated",
            f"up to {s.pool_in_use_max:.0f} of {s.pool_capacity:.0f} connections in use "
            f"({_pct(share)}; rule: >= {_pct(POOL_SATURATED)})",
            "Requests queue for a connection: shorten transactions (locks, slow queries) before "
            "raising SHOP_DB_POOL_SIZE, which moves the queue into MariaDB.",
        )
    ]


def generator_findings(deck) -> list[Finding]:
    dropped = deck.summary.get("dropped_iterations") or 0
    offered = dropped + (deck.summary.get("requests") or 0)
    if not offered or dropped / offered <= GENERATOR_DROPPED_SHARE:
        return []  # a handful at the knee is the shop slowing down, not the tool short of VUs
    shares = [
        r.cpu_cores / r.cpu_limit
        for r in deck.server.resources
        if r.cpu_cores is not None and r.cpu_limit
    ]
    busiest = max(shares, default=None)
    if busiest is not None and busiest >= GENERATOR_IDLE_SERVER:
        return []
    where = (
        f"the busiest server used {_pct(busiest)} of its CPU limit"
        if busiest is not None
        else "no server CPU limit is known"
    )
    return [
        Finding(
            "generator-saturated",
            "warn",
            f"The load generator ({deck.run['tool']}) was saturated",
            f"{dropped:.0f} dropped iterations ({_pct(dropped / offered)} of the offered ones) "
            f"while {where} (rule: over {_pct(GENERATOR_DROPPED_SHARE)} dropped with the server "
            f"below {_pct(GENERATOR_IDLE_SERVER)} of its limit)",
            "The offered rate was not sent: give k6 more VUs (preAllocatedVUs) or Locust more "
            "processes (PROCESSES=), or run the generator on another machine; the server is not "
            "the limit of this run.",
        )
    ]


def neighbour_findings(deck) -> list[Finding]:
    n = deck.neighbours
    if not n or not n.get("disturbed"):
        return []
    top = ", ".join(f"{name} {cores:.2f}" for name, cores in n.get("top", [])) or "short-lived"
    return [
        Finding(
            "machine-shared",
            "warn",
            "Other processes shared the machine during the run",
            f"{n['neighbour_cores']:.2f} cores used by processes outside the stack and the load "
            f"tool ({top}), {n['steal_cores']:.2f} stolen by the hypervisor, of "
            f"{n['machine_cores']:.2f} busy over {n['seconds']:.0f} s",
            "Latency and capacity measured beside a neighbour may not repeat: run again on a quiet "
            "machine, or compare builds side by side in one job, interleaved, so both see the "
            "same neighbours.",
        )
    ]


def slo_findings(deck) -> list[Finding]:
    out = []
    failed = [t["name"] for t in deck.summary.get("thresholds", []) if not t["pass"]]
    if failed:
        out.append(
            Finding(
                "client-slo",
                "bad",
                f"{deck.run['tool']} thresholds failed",
                f"{len(failed)} of {len(deck.summary['thresholds'])} failed: "
                + "; ".join(failed)
                + f"; achieved {deck.summary.get('achieved_tps', 0):.1f}/s, errors "
                f"{_pct(deck.summary.get('error_rate', 0))}",
                "Read the graphs below for where it broke first: latency (locks, CPU) or errors.",
            )
        )
    broken = [c for c in deck.server_verdict["checks"] if c["pass"] is False]
    if broken:
        out.append(
            Finding(
                "server-slo",
                "bad",
                "The shop's own view is over the SLO",
                "; ".join(c["evidence"] for c in broken),
                "Latency over SLO on the server side is the shop's (not the network's or the "
                "tool's): see locks, the pool and CPU below.",
            )
        )
    return out


RULES = (
    deadlock_findings,
    resource_findings,
    pool_findings,
    cache_findings,
    generator_findings,
    neighbour_findings,
    slo_findings,
)


def derive(deck) -> list[Finding]:
    return [finding for rule in RULES for finding in rule(deck)]

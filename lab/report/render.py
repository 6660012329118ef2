"""The deck as Markdown (CI summaries) and JSON (diffs), the same content as the HTML, and
the writing of all three beside the run's results."""

from __future__ import annotations

import json
from pathlib import Path

from lab.report import units
from lab.report.deck import Deck
from lab.report.history import history_markdown
from lab.report.html import render_html, rest_of_machine
from lab.report.scalability import scalability_markdown

VERDICT = {True: "PASS", False: "FAIL", None: "n/a"}


def _opt(v) -> str:
    return "not recorded" if v is None else str(v)


def render_markdown(deck: Deck, baseline: Deck | None = None, compared=None) -> str:
    r = deck.run
    out = [f"# shoplab report: {r['testid']}", ""]
    if deck.holds is not None:
        out += [f"## {deck.holds['question']}", "", deck.holds["line"], ""]
    if baseline is not None:
        out += [
            "## Side by side with the baseline",
            "",
            f"| figure | baseline {baseline.run['testid']} | run {r['testid']} | delta |",
            "|---|---|---|---|",
        ]
        for row in compared or []:
            unit, decimals = row["unit"], row["decimals"]
            out.append(
                f"| {row['figure']} | {units.figure(row['baseline'], unit, decimals)} | "
                f"{units.figure(row['run'], unit, decimals)} | "
                f"{units.delta(row['delta'], unit, decimals)} |"
            )
        out += ["", "Baseline findings:", ""] + _findings(baseline) + [""]
    limits = units.limits(r["limits"])
    out += [
        "## What ran",
        "",
        f"- {r['tool']} {r['scenario']} ({r['description']}) against {r.get('target', 'shop')}"
        f" (metrics: {r.get('dialect', 'n/a')}), {r['strategy']} strategy, "
        f"target {r['target_tps']:g} TPS, scale {_opt(r['scale'])}, hot users "
        f"{_opt(r['hot_users'])}",
        f"- limits: {limits}",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in r["versions"].items()),
        f"- git commit {r['git_commit']}; {r['started']} to {r['ended']} ({r['duration_s']:.0f} s)",
        f"- the rest of the machine: {rest_of_machine(deck.neighbours)}",
        "",
        f"## Verdict: client {VERDICT[deck.client_verdict['passed']]}, "
        f"server {VERDICT[deck.server_verdict['passed']]}",
        "",
    ]
    out += [f"- {VERDICT[t['pass']]} {t['name']}" for t in deck.client_verdict["thresholds"]]
    out += [f"- server {VERDICT[c['pass']]} {c['evidence']}" for c in deck.server_verdict["checks"]]
    out += [
        "",
        "## Per endpoint",
        "",
        "| endpoint | requests | TPS | p50 | p95 | p99 | errors | server TPS | server p95 | "
        "server 5xx |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for e in deck.endpoints:
        out.append(
            f"| {e['endpoint']} | {e['requests']:.0f} | {units.fmt(e['tps'], 'reqps')} | "
            f"{units.fmt(e['p50_ms'], 'ms')} | {units.fmt(e['p95_ms'], 'ms')} | "
            f"{units.fmt(e['p99_ms'], 'ms')} | {_opt(e['errors'])} | "
            f"{units.fmt(e['server_tps'], 'reqps')} | "
            f"{units.fmt(e['server_p95_ms'], 'ms')} | "
            f"{units.fmt(e['server_5xx'], 'percentunit')} |"
        )
    out += ["", f"dropped iterations: {deck.summary.get('dropped_iterations', 0):.0f}", ""]
    out += ["## Findings and proposals", ""] + _findings(deck)
    out += ["", *scalability_markdown(deck.capacity), *history_markdown(deck.history)]
    d = deck.deadlocks
    out += [
        "",
        "## Deadlocks",
        "",
        f"{deck.deadlock_count} during the run (server counter "
        f"{units.count(deck.server.deadlocks)}; details from {d.source})",
        "",
    ]
    out += [
        f"- {x['table']} index {x['index'] or '-'} {x['lock_mode']} ({x['role']}): "
        f"{units.count(x['count'])}"
        for x in d.locks
    ]
    out += [f"- statement `{s}`: {n}" for s, n in d.statements.items()]
    drawn = sum(p.has_data for b in deck.boards for p in b.panels)
    total = sum(len(b.panels) for b in deck.boards)
    out += [
        "",
        "## Panels",
        "",
        f"{drawn} of {total} panels have data over the run (graphs in report.html); without data:",
        "",
    ]
    out += [f"- {b.title} / {p.title}" for b in deck.boards for p in b.panels if not p.has_data]
    out += [
        f"\n{b.title}: not applicable to this target ({'; '.join(dict.fromkeys(why.values()))}): "
        + ", ".join(why)
        for b in deck.boards
        if (why := b.not_applicable)
    ]
    return "\n".join(out) + "\n"


def _findings(deck: Deck) -> list[str]:
    if not deck.findings:
        return ["- no rule fired"]
    return [
        f"- **{f.title}** ({f.rule}): {f.evidence}. Proposal: {f.proposal}" for f in deck.findings
    ]


def render_json(deck: Deck, baseline: Deck | None = None, compared=None) -> str:
    body = {"run": deck.as_dict()}
    if baseline is not None:
        body["baseline"] = baseline.as_dict()
        body["compared"] = compared
    return json.dumps(body, indent=1, sort_keys=True, default=str) + "\n"


def write_reports(
    deck: Deck, out_dir: Path, baseline: Deck | None = None, compared=None
) -> dict[str, Path]:
    """report.html, report.md and report.json in `out_dir`; their paths by format."""
    paths = {fmt: out_dir / f"report.{fmt}" for fmt in ("html", "md", "json")}
    paths["html"].write_text(render_html(deck, baseline, compared))
    paths["md"].write_text(render_markdown(deck, baseline, compared))
    paths["json"].write_text(render_json(deck, baseline, compared))
    return paths

"""The deck as ONE self-contained HTML file: plotly.js inlined once, every figure's data inline
(its specs from `lab.report.figures`), a Content-Security-Policy that lets nothing be fetched
(only the page's own scripts run)."""

from __future__ import annotations

import base64
import hashlib
import json
from html import escape

from plotly.offline import get_plotlyjs

from lab.report import units
from lab.report.deck import Deck
from lab.report.figures import COLOURS, figure, graph_div, local_time
from lab.report.history import history_html
from lab.report.panels import Board, Marker, Panel
from lab.report.scalability import scalability_html

VERDICT = {True: ("PASS", "pass"), False: ("FAIL", "fail"), None: ("n/a", "na")}

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f4f5f7;
color:#1f2328}
header{background:#111217;color:#fff;padding:18px 28px}header h1{margin:0 0 4px;font-size:22px}
header p{margin:0;color:#c7c9d1}main{padding:8px 28px 40px;max-width:1500px}
section{background:#fff;border:1px solid #dfe1e6;border-radius:6px;margin:16px 0;padding:12px 18px}
h2{font-size:17px;margin:4px 0 10px}h3{font-size:15px;margin:14px 0 8px}
table{border-collapse:collapse;margin:4px 0 8px}td,th{border-bottom:1px solid #eceef1;
padding:3px 10px 3px 0;text-align:left;vertical-align:top}th{font-weight:600;color:#555}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.pass{color:#1a7f37;font-weight:700}.fail{color:#cf222e;font-weight:700}.na{color:#888}
.cols{display:grid;grid-template-columns:1fr 1fr;gap:18px}
.grid{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:12px}
.panel{border:1px solid #e3e5e8;border-radius:4px;padding:6px 8px;background:#fff}
.statrow{display:grid;grid-template-columns:repeat(auto-fill,minmax(230px,1fr));gap:8px;
margin-bottom:12px}.panel h4{margin:0 0 2px;font-size:13px}.graph{height:260px}
.stats{display:flex;flex-wrap:wrap;gap:10px}.stat{border:1px solid #e3e5e8;border-radius:4px;
padding:6px 10px;min-width:150px}.stat b{display:block;font-size:19px}
.nodata{color:#8a6d00;background:#fff8e1;padding:6px;font-size:12px}
code,pre{font:12px ui-monospace,Menlo,Consolas,monospace;white-space:pre-wrap;word-break:break-all}
.finding{border-left:4px solid #cf222e;padding:4px 10px;margin:8px 0}
.finding.warn{border-color:#d4a72c}
.small{color:#666;font-size:12px}
"""

DRAW = """
const FIGURES = JSON.parse(document.getElementById('figures').textContent);
for (const f of FIGURES) {
  Plotly.newPlot(f.id, f.data, f.layout,
                 {displaylogo: false, displayModeBar: false, responsive: true});
}
document.body.dataset.drawn = String(FIGURES.length);
"""


def _no_data(panel: Panel) -> str:
    queries = "".join(
        f"<pre>{escape(q.ref_id)}: {escape(q.expr)}"
        + (f"\n  error: {escape(q.error)}" if q.error else "")
        + "</pre>"
        for q in panel.queries
    )
    return f'<div class="nodata">no data over the run\'s window; the queries:{queries}</div>'


def _panel(panel: Panel, markers: list[Marker], figures: list[dict]) -> str:
    title = f'<h4 title="{escape(panel.description)}">{escape(panel.title)}</h4>'
    if not panel.has_data:
        return f'<div class="panel" data-nodata="1">{title}{_no_data(panel)}</div>'
    if panel.kind == "table":
        head = "".join(f"<th>{escape(c)}</th>" for c in panel.columns)
        body = "".join(
            "<tr>"
            + "".join(f"<td>{escape(_cell(row.get(c), panel.unit))}</td>" for c in panel.columns)
            + "</tr>"
            for row in panel.rows[:30]
        )
        return f'<div class="panel">{title}<table><tr>{head}</tr>{body}</table></div>'
    if panel.kind != "timeseries":
        stats = "".join(
            f'<div class="stat" style="border-left:6px solid {_stat_colour(panel, v["value"])}">'
            f"{escape(v['name'])}<b>"
            f"{escape(units.fmt(v['value'], panel.unit, panel.decimals))}"
            "</b></div>"
            for v in panel.values
        )
        return f'<div class="panel">{title}<div class="stats">{stats}</div></div>'
    fig_id = f"fig{len(figures)}"
    figures.append(figure(panel, markers, fig_id))
    return f'<div class="panel">{title}{graph_div(fig_id)}</div>'


def _stat_colour(panel: Panel, value: float) -> str:
    """Grafana colours a stat by the highest threshold step its value reaches (base: green)."""
    colour = panel.base_colour
    for step in panel.thresholds:
        if value >= step["value"]:
            colour = step["color"]
    return COLOURS.get(colour, colour)


def _cell(v, unit: str) -> str:
    return units.fmt(v, unit) if isinstance(v, int | float) else str(v)


def _board(board: Board, figures: list[dict]) -> str:
    if board.error:
        return f'<h3>{escape(board.title)}</h3><p class="nodata">{escape(board.error)}</p>'
    marks = "; ".join(f"{m.name}: {len(m.times)} mark(s)" for m in board.markers)
    stats = [p for p in board.panels if p.kind == "stat"]
    others = [p for p in board.panels if p.kind != "stat"]
    stat_html = "".join(_panel(p, board.markers, figures) for p in stats)
    rest = "".join(_panel(p, board.markers, figures) for p in others)
    stat_html = f'<div class="statrow">{stat_html}</div>' if stat_html else ""
    return (
        f'<h3>{escape(board.title)} <span class="small">({escape(board.uid)}; markers: '
        f"{escape(marks or 'none')})</span></h3>"
        f'{stat_html}<div class="grid">{rest}</div>{_not_applicable(board)}'
    )


def _not_applicable(board: Board) -> str:
    """The panels the run's target cannot fill, in one line rather than as empty graphs."""
    if not board.not_applicable:
        return ""
    reasons = "; ".join(dict.fromkeys(board.not_applicable.values()))
    titles = ", ".join(board.not_applicable)
    return (f'<p class="small" data-notapplicable="{len(board.not_applicable)}">Not applicable '
            f"to this target ({escape(reasons)}): {escape(titles)}</p>")  # fmt: skip


def _table(rows: list[list[str]], head: list[str], numeric_from: int = 1) -> str:
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{c}</td>' if i >= numeric_from else f"<td>{c}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><tr>{th}</tr>{body}</table>"


def rest_of_machine(n: dict | None) -> str:
    """What other processes used during the run (lab.load.neighbours), in one phrase."""
    if not n:
        return "not measured"
    top = ", ".join(f"{name} {cores:.2f}" for name, cores in n.get("top", []))
    return (
        f"other processes {n['neighbour_cores']:.2f} cores{f' ({top})' if top else ''}, "
        f"hypervisor steal {n['steal_cores']:.2f}" + (": DISTURBED" if n["disturbed"] else "")
    )


def what_ran_html(deck: Deck) -> str:
    r = deck.run
    limits = units.limits(r["limits"])
    versions = ", ".join(f"{k} {v}" for k, v in r["versions"].items())
    rows = [
        ("run", r["testid"]),
        ("scenario", f"{r['scenario']}: {r['description']}"),
        ("tool", r["tool"]),
        ("order strategy", r["strategy"]),
        ("target", f"{r.get('target', 'shop')} (metrics: {r.get('dialect', 'n/a')})"),
        ("TARGET_TPS", f"{r['target_tps']:g}"),
        ("scale", _opt(r["scale"])),
        ("hot users", _opt(r["hot_users"])),
        ("limits", limits),
        ("versions", versions),
        ("git commit", r["git_commit"]),
        ("start / end", f"{r['started']} / {r['ended']} ({r['duration_s']:.0f} s)"),
        ("rest of the machine", rest_of_machine(deck.neighbours)),
    ]
    return _table([[escape(k), escape(str(v))] for k, v in rows], ["", ""], numeric_from=9)


def holds_html(deck: Deck) -> str:
    """The deck's first answer: does the target hold TARGET_TPS, or what broke."""
    answer = deck.holds
    if answer is None:
        return ""
    return (f'<section><h2>{escape(answer["question"])}</h2><p class="answer">'
            f'{_verdict(answer["passed"])} {escape(answer["line"].split(": ", 1)[1])}</p>'
            "</section>")  # fmt: skip


def _opt(v) -> str:
    return "not recorded" if v is None else f"{v:g}" if isinstance(v, int | float) else str(v)


def _verdict(passed) -> str:
    text, cls = VERDICT[passed]
    return f'<span class="{cls}">{text}</span>'


def verdicts_html(deck: Deck) -> str:
    client = deck.client_verdict
    rows = [[_verdict(t["pass"]), escape(t["name"])] for t in client["thresholds"]]
    aborted = (
        f'<p class="fail">aborted early: {escape("; ".join(client["aborted"]))}</p>'
        if client["aborted"]
        else ""
    )
    server = [[_verdict(c["pass"]), escape(c["evidence"])] for c in deck.server_verdict["checks"]]
    return (
        '<div class="cols"><div>'
        f"<h3>{escape(deck.run['tool'])} (client): {_verdict(client['passed'])}</h3>"
        f"{_table(rows, ['', 'threshold'], 9)}{aborted}</div><div>"
        f"<h3>shop (server): {_verdict(deck.server_verdict['passed'])}</h3>"
        f"{_table(server, ['', 'check over the run'], 9)}</div></div>"
    )


def endpoints_html(deck: Deck) -> str:
    rows = []
    for e in deck.endpoints:
        rows.append(
            [
                escape(e["endpoint"]),
                f"{e['requests']:.0f}",
                units.fmt(e["tps"], "reqps"),
                units.fmt(e["p50_ms"], "ms"),
                units.fmt(e["p95_ms"], "ms"),
                units.fmt(e["p99_ms"], "ms"),
                "n/a" if e["errors"] is None else f"{e['errors']:.0f}",
                units.fmt(e["server_tps"], "reqps"),
                units.fmt(e["server_p50_ms"], "ms"),
                units.fmt(e["server_p95_ms"], "ms"),
                units.fmt(e["server_p99_ms"], "ms"),
                units.fmt(e["server_5xx"], "percentunit"),
            ]
        )
    s = deck.summary
    head = [
        "endpoint",
        "requests",
        "TPS",
        "p50",
        "p95",
        "p99",
        "errors",
        "server TPS",
        "server p50",
        "server p95",
        "server p99",
        "server 5xx",
    ]
    return (
        _table(rows, head)
        + f"<p>achieved {s.get('achieved_tps', 0):.1f}/s successful of {deck.run['target_tps']:g}"
        f" target; {s.get('requests', 0)} requests, {s.get('failures', 0)} failed "
        f"({s.get('error_rate', 0) * 100:.2f} %), dropped iterations "
        f"{s.get('dropped_iterations', 0):.0f}</p>"
    )


def deadlocks_html(deck: Deck) -> str:
    d = deck.deadlocks
    if not deck.deadlock_count:
        counter = units.count(deck.server.deadlocks)
        return f"<p>No InnoDB deadlock during the run (server counter {counter}).</p>"
    parts = [
        f"<p>{deck.deadlock_count} deadlock(s); server counter "
        f"{units.count(deck.server.deadlocks)}; details from {escape(d.source)}.</p>"
    ]
    if d.locks:
        rows = [
            [
                escape(x["table"]),
                escape(x["index"]),
                escape(x["lock_mode"]),
                escape(x["role"]),
                units.count(x["count"]),
            ]
            for x in sorted(d.locks, key=lambda x: -x["count"])
        ]
        parts.append(_table(rows, ["table", "index", "lock mode", "role", "count"], 4))
    if d.victims:
        rows = [[escape(t), units.count(n)] for t, n in d.victims.items()]
        parts.append(_table(rows, ["victim's table", "victims"]))
    if d.statements:
        rows = [
            [f"<code>{escape(s)}</code>", f"{n}"]
            for s, n in sorted(d.statements.items(), key=lambda x: -x[1])
        ]
        parts.append(_table(rows, ["statement (fingerprint)", "deadlocks"]))
    return "".join(parts)


def findings_html(deck: Deck) -> str:
    if not deck.findings:
        return (
            "<p>No rule fired: no deadlock, no resource at its limit, no saturation, SLO held.</p>"
        )
    return "".join(
        f'<div class="finding {escape(f.severity)}" data-rule="{escape(f.rule)}"><b>'
        f"{escape(f.title)}</b><br>{escape(f.evidence)}<br><i>Proposal:</i> {escape(f.proposal)}"
        "</div>"
        for f in deck.findings
    )


def comparison_html(deck: Deck, baseline: Deck, rows: list[dict]) -> str:
    table = _table(
        [
            [
                escape(r["figure"]),
                escape(units.figure(r["baseline"], r["unit"], r["decimals"])),
                escape(units.figure(r["run"], r["unit"], r["decimals"])),
                escape(units.delta(r["delta"], r["unit"], r["decimals"])),
            ]
            for r in rows
        ],
        [
            "figure",
            f"baseline {baseline.run['testid']}",
            f"run {deck.run['testid']}",
            "delta (run - baseline)",
        ],
    )
    return (
        table + '<div class="cols"><div><h3>baseline: what ran</h3>'
        f"{what_ran_html(baseline)}<h3>baseline: findings</h3>{findings_html(baseline)}"
        f"<h3>baseline: deadlocks</h3>{deadlocks_html(baseline)}</div><div>"
        f"<h3>run: what ran</h3>{what_ran_html(deck)}<h3>run: findings</h3>"
        f"{findings_html(deck)}<h3>run: deadlocks</h3>{deadlocks_html(deck)}</div></div>"
    )


def _csp_hash(script: str) -> str:
    digest = hashlib.sha256(script.encode()).digest()
    return "'sha256-" + base64.b64encode(digest).decode() + "'"


def page(title: str, header: str, main: str, figures: list[dict]) -> str:
    """One self-contained HTML page: `header` and `main` (HTML), `figures` (plotly specs, drawn
    into the elements of their ids), plotly.js inline."""
    data = json.dumps(figures, separators=(",", ":")).replace("</", "<\\/")
    plotly_js = get_plotlyjs()
    # Only these two scripts may run (hashes), nothing may be fetched (default-src 'none').
    csp = (
        f"default-src 'none'; script-src {_csp_hash(plotly_js)} {_csp_hash(DRAW)}; "
        "style-src 'unsafe-inline'; img-src data: blob:; font-src data:"
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title><style>{CSS}</style></head>
<body>
<header><h1>{escape(title)}</h1>{header}</header>
<main>
{main}
</main>
<script id="figures" type="application/json">{data}</script>
<script>{plotly_js}</script>
<script>{DRAW}</script>
</body></html>
"""


def render_html(
    deck: Deck, baseline: Deck | None = None, compared: list[dict] | None = None
) -> str:
    figures: list[dict] = []
    boards = "".join(_board(b, figures) for b in deck.boards)
    r = deck.run
    compare_section = (
        f"<section><h2>Side by side with the baseline</h2>"
        f"{comparison_html(deck, baseline, compared or [])}</section>"
        if baseline
        else ""
    )
    scalability = (
        f"<section><h2>Capacity and the scalability proposal</h2>"
        f"{scalability_html(deck.capacity, figures)}</section>"
        if deck.capacity
        else ""
    )
    recent = (
        f"<section><h2>Recent history and change points</h2>"
        f"{history_html(deck.history, figures)}</section>"
        if deck.history and deck.history.lines
        else ""
    )
    header = f"""<p>{escape(r["tool"])} {escape(r["scenario"])},
{escape(r["strategy"])} strategy, {r["target_tps"]:g} TPS target;
{escape(r["started"])} to {escape(r["ended"])}.
Client verdict {_verdict(deck.client_verdict["passed"])}, server verdict
{_verdict(deck.server_verdict["passed"])}, {len(deck.findings)} finding(s).</p>"""
    main = f"""{holds_html(deck)}
{compare_section}
<section><h2>What ran</h2>{what_ran_html(deck)}</section>
<section><h2>Verdict, threshold by threshold</h2>{verdicts_html(deck)}</section>
<section><h2>Per endpoint</h2>{endpoints_html(deck)}</section>
<section><h2>Findings and proposals</h2>{findings_html(deck)}</section>
{scalability}
{recent}
<section><h2>Deadlocks</h2>{deadlocks_html(deck)}</section>
<section><h2>The dashboards over the run</h2>
<p class="small">Each panel's own queries from provisioning/grafana/dashboards, run over
{escape(local_time(deck.window["start"]))} to {escape(local_time(deck.window["end"]))} (step
{deck.window["step_s"]} s); dashed: SLO and limit lines; dotted: annotations (deadlocks).</p>
{boards}</section>"""
    return page(f"shoplab report: {r['testid']}", header, main, figures)

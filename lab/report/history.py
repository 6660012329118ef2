"""The run history drawn: each key figure of each source over its recent runs, the change
points Otava found marked at their commits; for the deck's section and `make trend`'s page."""

from __future__ import annotations

from html import escape

from lab.report.figures import Mark, Trace, graph_div, local_time, plot
from lab.trend.changes import Line, Trend
from lab.trend.history import FIGURES

UNITS = {"/s": "reqps", "ms": "ms"}


def recent(line: Line, points: int) -> Line:
    """The last `points` runs of a line."""
    return Line(
        line.source,
        line.figure,
        line.timestamps[-points:],
        line.values[-points:],
        line.commits[-points:],
    )


def line_figure(line: Line, trend: Trend, fig_id: str, highlight: str | None = None) -> dict:
    """One figure's history: its runs by time (hover: the commit), its change points as
    vertical lines named by commit; `highlight` marks the run the deck is of."""
    label, unit, _ = FIGURES[line.figure]
    xs = [local_time(t) for t in line.timestamps]
    shown = set(line.timestamps)
    marks = tuple(
        Mark(
            local_time(c.timestamp),
            f"{c.commit} {c.change * 100:+.0f} %" + (" (tentative)" if c.tentative else ""),
            "orange" if c.tentative else "red" if c.kind == "regression" else "green",
            axis="x",
        )
        for c in trend.changes
        if c.source == line.source and c.figure == line.figure and c.timestamp in shown
    )
    traces = [
        Trace(
            f"{line.source}: {label}",
            xs,
            list(line.values),
            "lines+markers",
            "blue",
            text=[c or "" for c in line.commits],
        )
    ]
    if highlight is not None:
        at = [i for i, c in enumerate(line.commits) if c == highlight]
        if at:
            i = at[-1]
            traces.append(
                Trace("this run's commit", [xs[i]], [line.values[i]], "markers", "orange")
            )
    return plot(
        fig_id,
        traces,
        x_title="run (time; hover for the commit)",
        y_unit=UNITS.get(unit, "short"),
        x_type="date",
        marks=marks,
    )


def history_html(trend: Trend, figures: list[dict], points: int = 30) -> str:
    """The verdict, then a graph per figure over its last `points` runs."""
    parts = [f"<p><b>{escape(trend.verdict())}</b></p>"]
    if trend.too_short:
        parts.append(
            f'<p class="small">Too few runs for change points yet: '
            f"{escape(', '.join(trend.too_short))}.</p>"
        )
    panels = []
    for line in trend.lines:
        fig_id = f"fig{len(figures)}"
        figures.append(line_figure(recent(line, points), trend, fig_id))
        label = FIGURES[line.figure][0]
        panels.append(
            f'<div class="panel"><h4>{escape(line.source)}: {escape(label)}</h4>'
            f"{graph_div(fig_id)}</div>"
        )
    parts.append(f'<div class="grid">{"".join(panels)}</div>')
    return "".join(parts)


def history_markdown(trend: Trend | None) -> list[str]:
    if trend is None or not trend.lines:
        return []
    out = ["## Recent history and change points", "", trend.verdict(), ""]
    for line in trend.lines:
        known = [v for v in line.values if v is not None]
        label = FIGURES[line.figure][0]
        if known:
            out.append(f"- {line.source} {label}: last {known[-1]:.2f}, {len(known)} runs")
    return [*out, ""]

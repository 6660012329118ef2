"""The deck's figures as plotly specs (data and layout, no HTML): a dashboard panel over the
run's window, drawn as Grafana draws it (units, SLO lines, annotation markers), and plain plots
of points and lines (the scalability model, a figure's history) with labelled reference lines."""

from __future__ import annotations

import time
from dataclasses import dataclass

from lab.report import units
from lab.report.panels import Marker, Panel

# Grafana's named colours, as its dark palette draws them.
COLOURS = {
    "green": "#73BF69",
    "orange": "#FF9830",
    "red": "#F2495C",
    "blue": "#5794F2",
    "yellow": "#FADE2A",
    "purple": "#B877D9",
}


def _line(colour: str, width: float, dash: str) -> dict:
    return {"color": COLOURS.get(colour, colour), "width": width, "dash": dash}


def hline(y: float, line: dict) -> dict:
    """A horizontal line across the plot at `y` (an SLO, a measured rate)."""
    return {"type": "line", "xref": "paper", "x0": 0, "x1": 1, "yref": "y", "y0": y, "y1": y,
            "line": line}  # fmt: skip


def vline(x: float | str, line: dict) -> dict:
    """A vertical line over the plot's height at `x` (an annotation, a change point)."""
    return {"type": "line", "yref": "paper", "y0": 0, "y1": 1, "xref": "x", "x0": x, "x1": x,
            "line": line}  # fmt: skip


def graph_div(fig_id: str) -> str:
    """The element a figure is drawn into (the page's script finds it by its id)."""
    return f'<div class="graph" id="{fig_id}" data-graph="1"></div>'


def local_time(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def figure(panel: Panel, markers: list[Marker], fig_id: str) -> dict:
    """A plotly figure for a time-series panel: its traces, unit, thresholds and markers."""
    data, shapes = [], []
    right_unit = next((t.unit for t in panel.traces if t.right_axis and t.unit), None)
    for trace in panel.traces:
        item = {
            "type": "bar" if panel.bars else "scatter",
            "mode": "lines",
            "name": trace.name,
            "x": [local_time(t) for t, _ in trace.points],
            "y": [v for _, v in trace.points],
            "line": {"width": 2, **({"dash": "dash"} if trace.dashed else {})},
        }
        if trace.color:
            item["line"]["color"] = COLOURS.get(trace.color, trace.color)
            item["marker"] = {"color": item["line"]["color"]}
        if panel.stacked and not trace.dashed:
            item["stackgroup"] = "stack"
        if trace.right_axis:
            item["yaxis"] = "y2"
        data.append(item)
    if panel.thresholds_drawn:
        for step in panel.thresholds:
            shapes.append(hline(step["value"], _line(step["color"], 1.5, "dash")))
    for marker in markers:
        for t in marker.times:
            shapes.append(vline(local_time(t), _line(marker.color, 1, "dot")))
    layout = {
        "margin": {"l": 60, "r": 72 if right_unit else 12, "t": 6, "b": 30},
        "xaxis": {"type": "date"},
        "yaxis": units.axis(panel.unit),
        "legend": {"orientation": "h", "y": -0.18, "font": {"size": 10}},
        "shapes": shapes,
        "showlegend": True,
        "hovermode": "x unified",
        "font": {"size": 11},
    }
    if panel.thresholds_drawn and panel.thresholds:
        # Keep the SLO line on screen even when the run stayed far below it.
        layout["yaxis"]["rangemode"] = "tozero"
        top = max(s["value"] for s in panel.thresholds)
        highest = max((v for t in panel.traces for _, v in t.points if not t.right_axis), default=0)
        layout["yaxis"]["range"] = [0, max(top, highest) * 1.1]
    if right_unit:
        layout["yaxis2"] = {
            **units.axis(right_unit),
            "overlaying": "y",
            "side": "right",
            "showgrid": False,
        }
    return {"id": fig_id, "data": data, "layout": layout}


@dataclass(frozen=True)
class Trace:
    """One line or set of points of a figure that is not a dashboard panel."""

    name: str
    x: list
    y: list
    mode: str = "lines"  # lines, markers, lines+markers
    colour: str = "blue"
    dashed: bool = False
    text: list | None = None  # hover text per point (a commit, a testid)


@dataclass(frozen=True)
class Mark:
    """A reference line: horizontal at a value (`axis` y) or vertical at an x (`axis` x)."""

    at: float | str
    name: str
    colour: str = "red"
    axis: str = "y"


def plot(
    fig_id: str,
    traces: list[Trace],
    *,
    x_title: str,
    y_unit: str,
    x_type: str = "linear",
    marks: tuple[Mark, ...] = (),
) -> dict:
    """A plotly figure of points and lines (a model against measurements, a figure's history),
    with labelled reference lines."""
    data = []
    for t in traces:
        colour = COLOURS.get(t.colour, t.colour)
        item = {
            "type": "scatter",
            "mode": t.mode,
            "name": t.name,
            "x": t.x,
            "y": t.y,
            "line": {"width": 2, "color": colour, **({"dash": "dash"} if t.dashed else {})},
            "marker": {"size": 7, "color": colour},
        }
        if t.text is not None:
            item["text"] = t.text
        data.append(item)
    shapes, notes = [], []
    for m in marks:
        colour = COLOURS.get(m.colour, m.colour)
        line = _line(m.colour, 1.5, "dot")
        if m.axis == "y":
            shapes.append(hline(m.at, line))
            notes.append(
                {
                    "xref": "paper",
                    "x": 1,
                    "xanchor": "right",
                    "yref": "y",
                    "y": m.at,
                    "text": m.name,
                    "showarrow": False,
                    "font": {"size": 10, "color": colour},
                    "yanchor": "bottom",
                }
            )
        else:
            shapes.append(vline(m.at, line))
            notes.append(
                {
                    "yref": "paper",
                    "y": 1,
                    "yanchor": "top",
                    "xref": "x",
                    "x": m.at,
                    "text": m.name,
                    "showarrow": False,
                    "textangle": -90,
                    "font": {"size": 10, "color": colour},
                    "xanchor": "right",
                }
            )
    layout = {
        "margin": {"l": 60, "r": 12, "t": 6, "b": 40},
        "xaxis": {"type": x_type, "title": {"text": x_title, "font": {"size": 11}}},
        "yaxis": {**units.axis(y_unit), "rangemode": "tozero"},
        "legend": {"orientation": "h", "y": -0.25, "font": {"size": 10}},
        "shapes": shapes,
        "annotations": notes,
        "showlegend": True,
        "hovermode": "closest",
        "font": {"size": 11},
    }
    return {"id": fig_id, "data": data, "layout": layout}

"""The deck's figures as plotly specs (data and layout, no HTML): a dashboard panel over the
run's window, drawn as Grafana draws it (units, SLO lines, annotation markers)."""

from __future__ import annotations

import time

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
            shapes.append(
                {
                    "type": "line",
                    "xref": "paper",
                    "x0": 0,
                    "x1": 1,
                    "yref": "y",
                    "y0": step["value"],
                    "y1": step["value"],
                    "line": {
                        "color": COLOURS.get(step["color"], step["color"]),
                        "dash": "dash",
                        "width": 1.5,
                    },
                }
            )
    for marker in markers:
        for t in marker.times:
            shapes.append(
                {
                    "type": "line",
                    "yref": "paper",
                    "y0": 0,
                    "y1": 1,
                    "x0": local_time(t),
                    "x1": local_time(t),
                    "line": {
                        "color": COLOURS.get(marker.color, marker.color),
                        "width": 1,
                        "dash": "dot",
                    },
                }
            )
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

"""The Grafana dashboards' panels over a run's window: each generated panel's own targets, units,
thresholds, overrides and annotations, run through Prometheus so the report draws what Grafana
would show. Panels are read generically from the JSON (the dashboards change under us): a
repeated panel drawn once per endpoint or route of the run's target, a panel whose metrics the
run's target cannot have (its dialect) named in one line instead of drawn empty."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dashboards import queries
from lab.report.prometheus import Prometheus, PrometheusError, Series
from signals import dialects

REPO = Path(__file__).resolve().parents[2]
DASHBOARDS = REPO / "provisioning" / "grafana" / "dashboards"
# In reading order; the load dashboard (one for both tools, a `tool` variable) replaces the
# two per-tool ones when it exists.
ORDER = (
    "shoplab-cockpit",
    "shoplab-load",
    "shoplab-k6",
    "shoplab-locust",
    "shoplab-shop",
    "shoplab-mysql-locks",
    "shoplab-containers",
)
TOOL_DASHBOARDS = {"k6": "shoplab-k6", "locust": "shoplab-locust"}
MAX_POINTS = 500  # per series: plenty for a screen-wide graph, small enough for the file
_LEGEND = re.compile(r"\{\{\s*(\w+)\s*\}\}")


@dataclass(frozen=True)
class Window:
    """The span to draw (the run with a margin) and the run itself (for "in range" figures)."""

    start: float
    end: float
    scrape_s: float
    run_start: float | None = None  # the run itself, when the span drawn has a margin
    run_end: float | None = None

    @property
    def step_s(self) -> int:
        # Grafana's interval: range / max data points, never below the datasource's scrape.
        return max(math.ceil(self.scrape_s), math.ceil((self.end - self.start) / MAX_POINTS))

    @property
    def range_s(self) -> int:
        """$__range: the run's own span where known, so that an "in range" stat (deadlocks,
        requests, dropped) counts this run and not the margin's tail of the run before it."""
        start = self.start if self.run_start is None else self.run_start
        end = self.end if self.run_end is None else self.run_end
        return max(1, math.ceil(end - start))


@dataclass
class Trace:
    name: str
    points: list[tuple[float, float]]
    dashed: bool = False
    color: str | None = None
    right_axis: bool = False
    unit: str | None = None  # set when an override gives this series its own unit


@dataclass
class Query:
    ref_id: str
    expr: str  # with the variables filled in: what Prometheus ran
    legend: str
    series: int = 0
    error: str | None = None


@dataclass
class Panel:
    dashboard: str
    uid: str
    title: str
    kind: str  # timeseries, stat or table
    unit: str
    description: str
    queries: list[Query]
    thresholds: list[dict] = field(default_factory=list)  # [{value, color}], base step left out
    thresholds_drawn: bool = False  # dashed lines on a graph (Grafana's thresholdsStyle)
    stacked: bool = False
    bars: bool = False
    decimals: int | None = None
    base_colour: str = "green"  # the thresholds' first step (no value)
    traces: list[Trace] = field(default_factory=list)
    values: list[dict] = field(default_factory=list)  # stat: [{name, value}]
    rows: list[dict] = field(default_factory=list)  # table: one dict per row
    columns: list[str] = field(default_factory=list)

    @property
    def has_data(self) -> bool:
        return bool(self.traces or self.values or self.rows)


@dataclass
class Marker:
    name: str
    color: str
    times: list[float]


def select_dashboards(tool: str, directory: Path = DASHBOARDS) -> list[dict]:
    """The dashboards the deck shows for a run of `tool`, in reading order."""
    found = {p.stem: p for p in directory.glob("*.json")}
    # The tool-neutral load dashboard, and the run's own tool's detail (VUs, dropped, users);
    # never the other tool's, whose panels would be empty for this run.
    chosen = [
        uid
        for uid in ORDER
        if uid in found and (uid == TOOL_DASHBOARDS[tool] or uid not in TOOL_DASHBOARDS.values())
    ]
    return [json.loads(found[uid].read_text()) for uid in chosen]


def fill_values(dashboard: Mapping, testid: str, tool: str, window: Window) -> dict[str, str]:
    """What Grafana would put in for each variable (dashboards.queries' rules), plus the run's
    tool for a `tool` variable: the deck shows one run, so one tool."""
    run_values = {"tool": tool}
    others = [v for v in queries.variables(dashboard) if v["name"] not in run_values]
    values = queries.template_values(
        {"title": dashboard["title"], "templating": {"list": others}},
        testid=testid,
        step_s=window.step_s,
        range_s=window.range_s,
        scrape_s=math.ceil(window.scrape_s),
    )
    names = {v["name"] for v in queries.variables(dashboard)}
    return values | {k: v for k, v in run_values.items() if k in names}


def legend(template: str, labels: Mapping[str, str], ref_id: str) -> str:
    if template:
        return _LEGEND.sub(lambda m: labels.get(m[1], ""), template)
    shown = {k: v for k, v in labels.items() if k != "__name__"}
    if not shown:
        return labels.get("__name__", ref_id)
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(shown.items())) + "}"


def _overrides(panel: Mapping) -> dict[str, dict]:
    """Per series name (or, for a byRegexp matcher, `/regex/`), what its overrides change:
    dashed, colour, axis, unit."""
    out: dict[str, dict] = {}
    for item in panel.get("fieldConfig", {}).get("overrides", []):
        matcher = item.get("matcher", {})
        if matcher.get("id") not in ("byName", "byRegexp"):
            continue
        key = matcher["options"] if matcher["id"] == "byName" else f"/{matcher['options']}/"
        props = out.setdefault(key, {})
        for prop in item.get("properties", []):
            pid, value = prop["id"], prop["value"]
            if pid == "custom.lineStyle":
                props["dashed"] = value.get("fill") == "dash"
            elif pid == "color" and value.get("mode") == "fixed":
                props["color"] = value.get("fixedColor")
            elif pid == "custom.axisPlacement":
                props["right_axis"] = value == "right"
            elif pid == "unit":
                props["unit"] = value
    return out


def series_overrides(overrides: Mapping[str, dict], name: str) -> dict:
    """What the overrides change for series `name`: its byName entry over every byRegexp one
    matching it whole (Grafana anchors the regex)."""
    found: dict = {}
    for key, props in overrides.items():
        if key.startswith("/") and key.endswith("/") and re.fullmatch(key[1:-1], name):
            found |= props
    return found | overrides.get(name, {})


def _reduce(points: list[tuple[float, float]], calc: str) -> float:
    values = [v for _, v in points]
    if calc == "max":
        return max(values)
    if calc == "min":
        return min(values)
    if calc == "mean":
        return sum(values) / len(values)
    return values[-1]  # lastNotNull, last: the value at the end of the run


def _shape(
    dashboard: Mapping, raw: Mapping, values: Mapping[str, str], dialect: str | None = None
) -> Panel:
    """The panel's look and its queries, variables filled; a query that cannot have data in
    `dialect` (None: unknown, every query) left out."""
    defaults = raw.get("fieldConfig", {}).get("defaults", {})
    custom = defaults.get("custom", {})
    steps = defaults.get("thresholds", {}).get("steps", [])
    return Panel(
        dashboard=dashboard["title"],
        uid=dashboard["uid"],
        title=raw["title"],
        kind=raw["type"],
        unit=defaults.get("unit") or raw.get("format") or "short",
        description=raw.get("description", ""),
        queries=[
            Query(t["refId"], queries.substitute(t["expr"], values), t.get("legendFormat", ""))
            for t in raw.get("targets", [])
            if t.get("expr") and not t.get("hide") and _applies(t["expr"], dialect)
        ],
        thresholds=[
            {"value": s["value"], "color": s["color"]} for s in steps if s.get("value") is not None
        ],
        thresholds_drawn=custom.get("thresholdsStyle", {}).get("mode", "off") != "off",
        stacked=custom.get("stacking", {}).get("mode", "none") != "none",
        bars=custom.get("drawStyle") == "bars",
        decimals=defaults.get("decimals"),
        base_colour=next((s["color"] for s in steps if s.get("value") is None), "green"),
    )


def _applies(expr: str, dialect: str | None) -> bool:
    return dialect is None or dialect in queries.query_dialects(expr)


def _instant(raw_target: Mapping, kind: str) -> bool:
    return bool(raw_target.get("instant")) or kind == "table"


def draw_panel(
    prom: Prometheus,
    dashboard: Mapping,
    raw: Mapping,
    values: Mapping[str, str],
    window: Window,
    run_end: float,
    dialect: str | None = None,
) -> Panel:
    """One panel's targets over the window: traces for graphs, a value for stats, rows for
    tables (instant targets at the end of the run, as Grafana at that moment)."""
    panel = _shape(dashboard, raw, values, dialect)
    overrides = _overrides(raw)
    raw_targets = {t["refId"]: t for t in raw.get("targets", [])}
    calc = (raw.get("options", {}).get("reduceOptions", {}).get("calcs") or ["lastNotNull"])[0]
    for query in panel.queries:
        instant = _instant(raw_targets[query.ref_id], panel.kind)
        try:
            if instant:
                series = prom.query(query.expr, run_end)
            else:
                series = prom.query_range(query.expr, window.start, window.end, window.step_s)
        except PrometheusError as exc:
            query.error = str(exc)
            continue
        query.series = len(series)
        for s in series:
            name = legend(query.legend, s.labels, query.ref_id)
            if panel.kind == "table":
                panel.rows.append(_row(s, raw))
            elif panel.kind == "stat" or instant:
                # A stat of one unlabelled series is just its number, as Grafana shows it.
                shown = name if query.legend or len(series) > 1 else ""
                panel.values.append({"name": shown, "value": _reduce(s.points, calc)})
            else:
                panel.traces.append(Trace(name, s.points, **series_overrides(overrides, name)))
    if panel.kind == "table":
        panel.columns = list(dict.fromkeys(k for row in panel.rows for k in row))
    return panel


def _row(series: Series, raw: Mapping) -> dict:
    """A table row as Grafana's organize transformation leaves it: labels, then the value."""
    options = next(
        (t["options"] for t in raw.get("transformations", []) if t.get("id") == "organize"), {}
    )
    hidden = {k for k, v in options.get("excludeByName", {}).items() if v}
    value_title = options.get("renameByName", {}).get("Value", "Value")
    row = {k: v for k, v in sorted(series.labels.items()) if k not in hidden and k != "__name__"}
    row[value_title] = series.last
    return row


def markers(
    prom: Prometheus, dashboard: Mapping, values: Mapping[str, str], window: Window
) -> list[Marker]:
    """The dashboard's annotations (deadlocks, run stages): the times each query marks."""
    out = []
    for annotation in dashboard.get("annotations", {}).get("list", []):
        if not annotation.get("enable", True) or not annotation.get("expr"):
            continue
        step = _step_seconds(annotation.get("step"), window.step_s)
        expr = queries.substitute(annotation["expr"], values)
        try:
            series = prom.query_range(expr, window.start, window.end, step)
        except PrometheusError:
            continue
        times = sorted({t for s in series for t, _ in s.points})
        out.append(Marker(annotation["name"], annotation.get("iconColor", "red"),
                          first_of_each_run(times, step)))  # fmt: skip
    return out


def first_of_each_run(times: list[float], step: float) -> list[float]:
    """One mark per event: Grafana joins an annotation query's points one step apart into one
    region, so a start that stays true for three steps is one start, marked where it began."""
    out: list[float] = []
    for i, t in enumerate(times):
        if i == 0 or t - times[i - 1] > step * 1.5:
            out.append(t)
    return out


def _step_seconds(text: str | None, default: int) -> int:
    if text and text.endswith("s") and text[:-1].isdigit():
        return int(text[:-1])
    if text and text.endswith("m") and text[:-1].isdigit():
        return int(text[:-1]) * 60
    return default


@dataclass
class Board:
    """One dashboard frozen over the run: its panels and its markers; the panels that do not
    apply to the run's target (title -> why), drawn as one line."""

    title: str
    uid: str
    panels: list[Panel]
    markers: list[Marker]
    error: str | None = None
    not_applicable: dict[str, str] = field(default_factory=dict)


# What the native stack measures only of a service it runs itself: its cgroups, and the Redis and
# nginx in front of it. A service already running elsewhere (an external target) has none of them.
STACK_OWN = (
    (("container", "replica:container"), "the service runs outside the stack's cgroups"),
    (("redis",), "the service does not use the stack's Redis"),
    (("nginx",), "the stack's nginx is not in front of the service"),
)


def not_applicable(raw: Mapping, dialect: str | None, external: bool = False) -> str | None:
    """Why a panel cannot have data for a target of `dialect` (None: unknown, it may), or, for
    an `external` target, because it reads only what the stack measures of a service it runs
    itself (STACK_OWN); None when it may have data."""
    needs = queries.raw_panel_dialects(raw)
    if dialect is not None and dialect not in needs:
        return f"needs {dialects.describe(needs)}; the target's dialect is {dialect}"
    if not external:
        return None
    exprs = [queries.neutral(t["expr"]) for t in raw.get("targets", []) if t.get("expr")]
    names = set().union(*(queries.metric_names(expr) for expr in exprs))
    why = {name: next((w for prefixes, w in STACK_OWN if name.startswith(prefixes)), None)
           for name in names}  # fmt: skip
    if not names or None in why.values():
        return None
    return "; ".join(dict.fromkeys(w for _, w in STACK_OWN if w in why.values()))


def generic_title(raw: Mapping) -> str:
    """A repeated panel's title with its variable named in words: "Route latency: each route"."""
    name = queries.repeat_variable(raw)
    title = raw["title"]
    return queries.substitute(title, {name: f"each {name}"}) if name else title


def draw_boards(
    prom: Prometheus,
    dashboards: Iterable[Mapping],
    *,
    testid: str,
    tool: str,
    window: Window,
    run_end: float,
    endpoints: tuple[str, ...] = (),
    routes: tuple[str, ...] = (),
    dialect: str | None = None,
    external: bool = False,
) -> list[Board]:
    """Every dashboard over the run: a panel repeated over `endpoint` or `route` drawn once per
    endpoint (`endpoints`: the run's target's) or route (`routes`); a panel `dialect` cannot
    have data for (None: the dialect is unknown, every panel drawn), or that reads only what the
    stack measures of a service it runs itself when the target is `external`, listed as not
    applicable."""
    repeats = {"endpoint": endpoints, "route": routes}
    boards = []
    for dashboard in dashboards:
        try:
            values = fill_values(dashboard, testid, tool, window)
        except ValueError as exc:  # a variable the report cannot fill: said, not hidden
            boards.append(Board(dashboard["title"], dashboard["uid"], [], [], str(exc)))
            continue
        panels, skipped = [], {}
        for raw in queries.panels(dashboard):
            if why := not_applicable(raw, dialect, external):
                skipped[generic_title(raw)] = why
                continue
            panels += [
                draw_panel(prom, dashboard, copy, values | own, window, run_end, dialect)
                for copy, own in queries.repeated(raw, repeats)
            ]
        boards.append(
            Board(
                dashboard["title"],
                dashboard["uid"],
                panels,
                markers(prom, dashboard, values, window),
                not_applicable=skipped,
            )
        )
    return boards

"""What every shoplab dashboard shares: variables, panel builders, SLO lines, links, the grid.

Each dashboard module holds its PromQL as constants, builds its panels with its `Panels` (which
reads each panel's description from panels.yaml) and lays them out with `layout`;
`dashboard()` applies the house defaults (uid, title prefix, tags, links, the deadlock
annotation, schema version) in one place so the seven stay alike. Every panel says which
metrics dialects it can have data in (dashboards.queries.panel_dialects, from the metrics its
queries read): one that needs the app's own metrics says so in its description and its empty
text. Per-endpoint and per-route panels are repeated over the `endpoint` and `route`
variables, each drawn against its own objective series, so no target's names are built in.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import attr
import yaml
from grafanalib.core import (
    Annotations,
    Dashboard,
    DashboardLink,
    GridPos,
    Repeat,
    RowPanel,
    Stat,
    Table,
    TableSortByField,
    Target,
    Templating,
    Time,
    TimeSeries,
)

from dashboards.queries import DATASOURCE_UID, panel_dialects
from signals import dialects
from signals.catalog import RUN_EVENTS, deadlocks_increase
from signals.promql import share
from targets import find_target

REPO = Path(__file__).resolve().parents[1]
# Names the dashboard modules take from here, though signals/ defines them.
__all__ = ["DATASOURCE_UID", "share"]

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
TITLE_PREFIX = "shoplab / "
TAG = "shoplab"
# Grafana 11's dashboard schema; Grafana migrates older JSON on load, never newer.
SCHEMA_VERSION = 39
MAX_DATA_POINTS = 1000
# Each dashboard's key (its module), uid (alert runbooks link to /d/<uid>) and title.
UIDS = {
    "cockpit": "shoplab-cockpit",
    "load": "shoplab-load",
    "k6": "shoplab-k6",
    "locust": "shoplab-locust",
    "shop": "shoplab-shop",
    "mysql_locks": "shoplab-mysql-locks",
    "containers": "shoplab-containers",
}
TITLES = {
    "cockpit": "cockpit",
    "load": "load",
    "k6": "k6",
    "locust": "Locust",
    "shop": "shop",
    "mysql_locks": "MySQL InnoDB locks",
    "containers": "containers",
}
# The repeat variables: a repeated panel's copy has one value, which Grafana writes into a
# regex matcher escaped (the variables are multi-value), so queries match them with =~.
ENDPOINT = "$endpoint"  # the load tools' `endpoint`: the target's endpoint names
ROUTE = "$route"  # the app's `route`: the route templates its server reports


@cache
def error_rate() -> float:
    """The share of failed requests a run may have: the default target's (targets/shop.yaml).
    No series carries it, so the error panels draw it as a threshold: the one number of the
    dashboards that is a target's (both built-in targets share it)."""
    return find_target({}).error_rate


def description_fields() -> dict[str, float]:
    """What the descriptions in panels.yaml may name, as {name} or {name:spec} (str.format)."""
    return {"error_slo": error_rate(), "success_slo": 1 - error_rate()}


PANEL_TEXT = Path(__file__).with_name("panels.yaml")


def recorded_route_quantile(q: float, route: str = ROUTE) -> str:
    """The recorded series of a route's latency quantile over the last minute (the rules';
    signals.catalog.route_quantile is the same over any window); `route` a matcher's value."""
    return f'shop:http_request_duration_seconds:p{q * 100:g}_1m{{route=~"{route}"}}'


# Colours: Grafana's named palette.
OK, WARN, BAD, NEUTRAL = "green", "orange", "red", "blue"


@dataclass(frozen=True)
class Query:
    """One PromQL target: the expression, its legend and how Grafana should run it."""

    expr: str
    legend: str = ""
    instant: bool = False
    table: bool = False


QUANTILES = (0.5, 0.95, 0.99)


def percentiles(expr_for, legend: str = "") -> list[Query]:
    """p50, p95 and p99: `expr_for(q)` gives the series of quantile q."""
    return [Query(expr_for(q), f"{legend}p{q * 100:g}") for q in QUANTILES]


def _targets(queries: list[Query]) -> list[Target]:
    return [
        Target(
            expr=q.expr,
            legendFormat=q.legend,
            refId=chr(ord("A") + i),
            instant=q.instant or q.table,
            format="table" if q.table else "time_series",
            intervalFactor=1,
            datasource=DATASOURCE,
        )
        for i, q in enumerate(queries)
    ]


def steps(*pairs: tuple[float | None, str]) -> list[dict]:
    """Threshold steps from (value, colour) pairs; the first value is None (the base)."""
    return [{"color": colour, "value": value} for value, colour in pairs]


def upper_limit(value: float, warn: float | None = None) -> list[dict]:
    """Green below `value`, red from it (orange from `warn`): latencies, error rates."""
    pairs = [(None, OK)] + ([(warn, WARN)] if warn is not None else []) + [(value, BAD)]
    return steps(*pairs)


def lower_limit(value: float, warn: float | None = None) -> list[dict]:
    """Red below `value`, green from it (orange between `value` and `warn`): ratios of good."""
    if warn is None:
        return steps((None, BAD), (value, OK))
    return steps((None, BAD), (value, WARN), (warn, OK))


NO_LIMIT = steps((None, NEUTRAL))


def override(series: str, *, matching: bool = False, **properties) -> dict:
    """Field overrides for one series (by display name; `matching`: every series whose name the
    regex `series` matches whole): unit, axis, fill, dashed, colour."""
    ids = {
        "unit": "unit",
        "axis": "custom.axisPlacement",
        "fill": "custom.fillOpacity",
        "dashed": "custom.lineStyle",
        "color": "color",
        "stacking": "custom.stacking",
    }
    shapes = {
        "dashed": lambda on: {"fill": "dash", "dash": [10, 10]} if on else {"fill": "solid"},
        "color": lambda colour: {"mode": "fixed", "fixedColor": colour},
        "stacking": lambda on: {"mode": "normal" if on else "none", "group": "A"},
    }
    return {
        "matcher": {"id": "byRegexp" if matching else "byName", "options": series},
        "properties": [
            {"id": ids[key], "value": shapes.get(key, lambda v: v)(value)}
            for key, value in properties.items()
        ],
    }


def limit_line(series: str, *, matching: bool = False) -> dict:
    """A series drawn as a dashed red line, never stacked: a limit or target, not a measure."""
    return override(series, matching=matching, dashed=True, color=BAD, fill=0, stacking=False)


# Every objective series' legend ends with this word, and is drawn as a limit line: the SLO
# comes from the series (the run's load:slo_p95_seconds, the rules' shop:slo_p95_seconds), so
# each endpoint and route is drawn against its own, whatever the target.
OBJECTIVE = "objective"
OBJECTIVE_LINES = limit_line(f".*{OBJECTIVE}", matching=True)


def panel_links(*keys: str) -> list[dict]:
    """Links from a panel to the dashboards that explain it, keeping time range and vars."""
    return [
        {
            "title": f"Open {TITLES[key]}",
            "url": f"/d/{UIDS[key]}?${{__url_time_range}}&${{__all_variables}}",
            "targetBlank": False,
        }
        for key in keys
    ]


# A repeated panel's copies share its line (Grafana: full width over at most this many).
MAX_PER_ROW = 4


def _panel_fields(
    title: str, description: str, queries: list[Query], thresholds, repeat: str | None = None
) -> dict:
    """What every panel has: its text, the one datasource, its targets, a base threshold; the
    dialects it can have data in said where not every target has them; its repeat variable."""
    needs = panel_dialects([q.expr for q in queries])
    if not needs:
        raise ValueError(f"{title!r}: no metrics dialect exports all that one of its queries reads")
    if repeat and f"${repeat}" not in title:
        raise ValueError(f"{title!r} is repeated over ${repeat}: its title must name it")
    extra = {}
    if needs != dialects.DIALECT_NAMES:
        others = "dialect none" if needs == dialects.APP_DIALECTS else "another dialect"
        description += f" Needs {dialects.describe(needs)}: empty for a target of {others}."
        extra = {"fieldConfig": {"defaults": {"noValue": f"No data: needs "
                                              f"{dialects.describe(needs)}"}}}  # fmt: skip
    return {
        "title": title,
        "description": description,
        "dataSource": DATASOURCE,
        "targets": _targets(queries),
        "thresholds": thresholds or NO_LIMIT,
        "maxDataPoints": MAX_DATA_POINTS,
        "repeat": Repeat("h", repeat, MAX_PER_ROW) if repeat else Repeat(),
        "extraJson": extra or None,
    }


def timeseries(
    title: str,
    description: str,
    queries: list[Query],
    unit: str,
    *,
    thresholds: list[dict] | None = None,
    overrides: list[dict] | None = None,
    stacked: bool = False,
    bars: bool = False,
    links: tuple[str, ...] = (),
    axis_label: str = "",
    repeat: str | None = None,
) -> TimeSeries:
    """A time series; `thresholds` are drawn as dashed lines (SLOs, limits), `links` are keys;
    `repeat` a variable to repeat it over (ENDPOINT, ROUTE without the $)."""
    return TimeSeries(
        **_panel_fields(title, description, queries, thresholds, repeat),
        unit=unit,
        axisLabel=axis_label,
        thresholdsStyleMode="dashed" if thresholds else "off",
        overrides=(overrides or []) + _objective_lines(queries),
        stacking={"mode": "normal", "group": "A"} if stacked else {"mode": "none", "group": "A"},
        drawStyle="bars" if bars else "line",
        fillOpacity=60 if bars else (25 if stacked else 10),
        lineWidth=1 if bars else 2,
        showPoints="never",
        valueMin=0,
        legendDisplayMode="list",
        tooltipMode="multi",
        tooltipSort="desc",
        links=panel_links(*links),
    )


def _objective_lines(queries: list[Query]) -> list[dict]:
    """The objective lines' override when a query draws objectives."""
    return [OBJECTIVE_LINES] if any(q.legend.endswith(OBJECTIVE) for q in queries) else []


def stat(
    title: str,
    description: str,
    queries: list[Query],
    unit: str,
    *,
    thresholds: list[dict] | None = None,
    reduce: str = "lastNotNull",
    mappings: list[dict] | None = None,
    links: tuple[str, ...] = (),
    decimals: int | None = None,
    text_mode: str = "auto",
) -> Stat:
    """One number per series, coloured by its thresholds (background); `links` are keys."""
    return Stat(
        **_panel_fields(title, description, queries, thresholds),
        format=unit,
        color={"mode": "thresholds"},
        reduceCalc=reduce,
        colorMode="background",
        graphMode="area",
        textMode=text_mode,
        mappings=mappings or [],
        decimals=decimals,
        noValue="no data",
        links=panel_links(*links),
    )


def table(
    title: str,
    description: str,
    expr: str,
    unit: str,
    *,
    value_title: str,
    hide: tuple[str, ...] = ("Time",),
    thresholds: list[dict] | None = None,
) -> Table:
    """An instant table of the label sets `expr` gives and their value, largest value first."""
    return Table(
        **_panel_fields(title, description, [Query(expr, table=True)], thresholds),
        unit=unit,
        displayMode="color-text",
        filterable=True,
        transformations=[
            {
                "id": "organize",
                "options": {
                    "excludeByName": dict.fromkeys(hide, True),
                    "renameByName": {"Value": value_title},
                },
            }
        ],
        sortBy=[TableSortByField(displayName=value_title, desc=True)],
    )


UP_MAPPINGS = [
    {
        "type": "value",
        "options": {
            "0": {"text": "DOWN", "color": BAD, "index": 0},
            "1": {"text": "up", "color": OK, "index": 1},
        },
    }
]


def row(title: str) -> str:
    """A section header in `layout`."""
    return title


def layout(*blocks) -> list:
    """Place panels on Grafana's 24-column grid, top to bottom, with ids in reading order.

    A block is a row title (str) or `(height, [(width, panel), ...])`: one line of panels.
    Lines never overlap and never exceed 24 columns, by construction; a repeated panel is alone
    on its line, whose copies Grafana spreads over it.
    """
    placed, y = [], 0
    for block in blocks:
        if isinstance(block, str):
            placed.append(RowPanel(title=block, gridPos=GridPos(h=1, w=24, x=0, y=y)))
            y += 1
            continue
        height, cells = block
        if any(panel.repeat.variable for _, panel in cells) and [w for w, _ in cells] != [24]:
            # Grafana lays a horizontal repeat's copies over the whole width, from x = 0.
            raise ValueError("a repeated panel takes a line of its own, 24 columns wide")
        x = 0
        for width, panel in cells:
            placed.append(attr.evolve(panel, gridPos=GridPos(h=height, w=width, x=x, y=y)))
            x += width
        if x > 24:
            raise ValueError(f"a line of panels is {x} columns wide (max 24)")
        y += height
    return [attr.evolve(panel, id=i) for i, panel in enumerate(placed, start=1)]


def datasource_variable() -> dict:
    return {
        "name": "datasource",
        "label": "Prometheus",
        "type": "datasource",
        "query": "prometheus",
        "current": {"selected": True, "text": "Prometheus", "value": DATASOURCE_UID},
        "hide": 0,
        "includeAll": False,
        "multi": False,
        "options": [],
        "refresh": 1,
        "regex": "",
        "skipUrlSync": False,
    }


def query_variable(
    name: str,
    label: str,
    query: str,
    *,
    all_value: str | None = None,
    newest_first: bool = False,
) -> dict:
    """A variable from `label_values(...)`; with `all_value` an All option matching that regex."""
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "definition": query,
        "query": {"query": query, "refId": f"{name}-values", "qryType": 1},
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]} if all_value else {},
        "hide": 0,
        "includeAll": all_value is not None,
        "allValue": all_value,
        "multi": True,
        "options": [],
        "refresh": 2,  # on time-range change: a new run shows up without a reload
        "regex": "",
        "skipUrlSync": False,
        "sort": 2 if newest_first else 1,  # run ids end with a timestamp: alphabetical = time
    }


def endpoint_variable(run: str) -> dict:
    """The target's endpoints, as the load tools label the run's series (`run`: its matchers);
    the per-endpoint panels repeat over it."""
    query = f"label_values(load:requests_total:sum{{{run}}}, endpoint)"
    return query_variable("endpoint", "endpoint", query, all_value=".+")


def route_variable(metric: str = "shop:http_requests:rate1m") -> dict:
    """The routes `metric` has (by default every route the app answered); the per-route panels
    repeat over it."""
    return query_variable("route", "route", f"label_values({metric}, route)", all_value=".+")


def testid_variable(metric: str | None) -> dict:
    """The run to show, newest first; `metric` None offers every tool's runs."""
    query = f"label_values({metric}, testid)" if metric else "label_values(testid)"
    return query_variable("testid", "run (testid)", query, newest_first=True)


# The InnoDB exporter carries the server's own counter: one mark per deadlock interval.
def _annotation(name: str, expr: str, colour: str, title: str, text: str, **extra) -> dict:
    return {
        "name": name,
        "datasource": DATASOURCE,
        "enable": True,
        "hide": False,
        "iconColor": colour,
        "expr": expr,
        "step": "15s",
        "titleFormat": title,
        "textFormat": text,
        "tagKeys": "",
        "useValueForTime": False,
        **extra,
    }


DEADLOCK_ANNOTATION = _annotation(
    "InnoDB deadlocks", f"{deadlocks_increase('30s')} > 0", BAD, "InnoDB deadlock",
    "deadlocks counted by the server in the 30 s before this mark",
)  # fmt: skip
# Each load run's start, stage changes and end, from the tools' stage gauge (load:stage).
RUN_ANNOTATIONS = [
    _annotation(
        f"Load {event}", expr, NEUTRAL, f"{{{{tool}}}} {event}",
        f"load run {{{{testid}}}} ({{{{tool}}}}): {event}; the stage now running is the value",
        step="5s", tagKeys="tool,testid",
    )
    for event, expr in RUN_EVENTS.items()
]  # fmt: skip


def dashboard(
    key: str,
    description: str,
    panels: list,
    *,
    variables: tuple[dict, ...] = (),
    refresh: str = "30s",
    since: str = "now-30m",
) -> Dashboard:
    """A shoplab dashboard with the house defaults; `key` is one of UIDS."""
    return Dashboard(
        title=TITLE_PREFIX + TITLES[key],
        uid=UIDS[key],
        description=description,
        tags=[TAG],
        panels=panels,
        templating=Templating(list=[datasource_variable(), *variables]),
        annotations=Annotations(list=[DEADLOCK_ANNOTATION, *RUN_ANNOTATIONS]),
        links=[
            DashboardLink(
                title="shoplab",
                type="dashboards",
                tags=[TAG],
                asDropdown=False,
                includeVars=True,
                keepTime=True,
            )
        ],
        refresh=refresh,
        time=Time(since, "now"),
        timezone="browser",
        graphTooltip=1,  # shared crosshair: one moment across every panel
        schemaVersion=SCHEMA_VERSION,
        editable=True,
    )


@cache
def descriptions() -> dict[str, dict[str, str]]:
    """panels.yaml, placeholders filled: dashboard key -> panel title -> description."""
    entries = yaml.safe_load(PANEL_TEXT.read_text())
    if unknown := set(entries) - set(UIDS):
        raise ValueError(f"{PANEL_TEXT.name}: {sorted(unknown)} are not dashboards (UIDS)")
    filled: dict[str, dict[str, str]] = {}
    for key, texts in entries.items():
        for title, text in texts.items():
            where = f"{PANEL_TEXT.name}: {key} / {title!r}"
            try:
                filled.setdefault(key, {})[title] = text.format(**description_fields())
            except KeyError as error:
                raise ValueError(f"{where}: no field {error} in description_fields()") from None
            except (IndexError, ValueError) as error:
                raise ValueError(f"{where}: {error}") from None
    return filled


class Panels:
    """One dashboard's panel builders: a panel's description is its entry in panels.yaml."""

    def __init__(self, key: str):
        self.key = key

    @property
    def texts(self) -> dict[str, str]:
        return descriptions().get(self.key, {})

    def describe(self, title: str) -> str:
        if title not in self.texts:
            raise ValueError(f"{PANEL_TEXT.name}: {self.key} has no description for {title!r}")
        return self.texts[title]

    def timeseries(self, title: str, queries: list[Query], unit: str, **options) -> TimeSeries:
        return timeseries(title, self.describe(title), queries, unit, **options)

    def stat(self, title: str, queries: list[Query], unit: str, **options) -> Stat:
        return stat(title, self.describe(title), queries, unit, **options)

    def table(self, title: str, expr: str, unit: str, **options) -> Table:
        return table(title, self.describe(title), expr, unit, **options)

    def latency(self, title: str, queries: list[Query], **options) -> TimeSeries:
        """Latency in seconds; a query whose legend ends in OBJECTIVE is drawn dashed."""
        return self.timeseries(title, queries, "s", **options)

    def objective_stat(self, title: str, queries: list[Query], **options) -> Stat:
        """Latencies as shares of their own objectives (1 = at the objective): orange from three
        quarters of it, red above it. One set of colours serves every endpoint and route of any
        target, where a latency in seconds would need one threshold per objective."""
        limit = upper_limit(1, warn=0.75)
        return self.stat(title, queries, "percentunit", thresholds=limit, **options)

    def error_ratio(self, title: str, queries: list[Query], **options) -> TimeSeries:
        """A share of failed requests with the error SLO drawn dashed."""
        limit = upper_limit(error_rate())
        return self.timeseries(title, queries, "percentunit", thresholds=limit, **options)

    def error_ratio_stat(self, title: str, queries: list[Query], **options) -> Stat:
        """A share of failed requests: orange from half the error SLO, red above it."""
        limit = upper_limit(error_rate(), warn=error_rate() / 2)
        return self.stat(title, queries, "percentunit", thresholds=limit, **options)

    def count_stat(self, title: str, queries: list[Query], **options) -> Stat:
        """A count of things that should not happen: any is red."""
        return self.stat(title, queries, "short", thresholds=upper_limit(1), decimals=0, **options)

    def dashboard(self, description: str, panels: list, **options) -> Dashboard:
        """The dashboard of these panels; an entry in panels.yaml that none shows is an error."""
        shown = {panel.title for panel in panels if not isinstance(panel, RowPanel)}
        if unused := [title for title in self.texts if title not in shown]:
            raise ValueError(f"{PANEL_TEXT.name}: {self.key} has no panel titled {unused}")
        return dashboard(self.key, description, panels, **options)

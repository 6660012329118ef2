"""The queries inside generated dashboards, as Prometheus will see them: template variables
filled in, metric names read with a real PromQL parser, checked against docs/metrics.md."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import promql_parser

from dashboards.common import DATASOURCE_UID

# $name, ${name} and ${name:format}, as Grafana writes variables in queries.
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")
# label_values(metric, label) or label_values(label): a query variable's definition.
_LABEL_VALUES = re.compile(r"^label_values\(\s*(?:([a-zA-Z_:][\w:]*)\s*,\s*)?(\w+)\s*\)$")
# | `name` ... | : a metric table row of docs/metrics.md; names sit in its first cell.
_NAME = re.compile(r"`([a-zA-Z_:][a-zA-Z0-9_:]*)`")
_HISTOGRAM_SERIES = ("_bucket", "_count", "_sum")


@dataclass(frozen=True)
class PanelQuery:
    dashboard: str  # the dashboard's title
    panel_id: int
    panel: str  # the panel's title
    ref_id: str
    expr: str


def panels(dashboard: Mapping) -> Iterator[Mapping]:
    """Every panel that is not a row, including panels folded into collapsed rows."""
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def panel_queries(dashboard: Mapping) -> list[PanelQuery]:
    return [
        PanelQuery(dashboard["title"], panel["id"], panel["title"], target["refId"], target["expr"])
        for panel in panels(dashboard)
        for target in panel["targets"]
    ]


def variables(dashboard: Mapping) -> list[Mapping]:
    return list(dashboard["templating"]["list"])


def label_values(definition: str) -> tuple[str | None, str]:
    """(metric or None, label) of a `label_values(...)` variable definition."""
    match = _LABEL_VALUES.match(definition.strip())
    if not match:
        raise ValueError(f"not a label_values(...) query: {definition!r}")
    return match[1], match[2]


def template_values(
    dashboard: Mapping, *, testid: str, step_s: int, range_s: int, scrape_s: int = 5
) -> dict[str, str]:
    """What Grafana would put in for every variable: the run, its window and Grafana's own.

    `$__rate_interval` follows Grafana's rule: max(interval + scrape interval, 4 x scrape).
    """
    values = {
        "__interval": f"{step_s}s",
        "__rate_interval": f"{max(step_s + scrape_s, 4 * scrape_s)}s",
        "__range": f"{range_s}s",
    }
    for variable in variables(dashboard):
        name = variable["name"]
        if variable["type"] == "datasource":
            values[name] = DATASOURCE_UID
        elif name == "testid":
            values[name] = testid  # run ids are [\w.-]: nothing to escape
        elif variable.get("includeAll") and variable.get("allValue"):
            values[name] = variable["allValue"]
        else:
            raise ValueError(f"{dashboard['title']}: no value for variable ${name}")
    return values


def substitute(expr: str, values: Mapping[str, str]) -> str:
    def value(match: re.Match) -> str:
        name = match[1] or match[2]
        if name not in values:
            raise ValueError(f"unknown variable ${name} in {expr!r}")
        return values[name]

    return _VARIABLE.sub(value, expr)


def metric_names(expr: str) -> set[str]:
    """Metric names the (variable-free) expression selects; raises ValueError if it does not
    parse or selects a series without a name."""
    names: set[str | None] = set()

    def visit(node, *_):
        if isinstance(node, promql_parser.VectorSelector):
            names.add(node.name)

    promql_parser.walk(promql_parser.parse(expr), visit)
    if None in names:
        raise ValueError(f"a selector without a metric name in {expr!r}")
    return {name for name in names if name}


def used_metrics(dashboard: Mapping) -> set[str]:
    """Every metric name a dashboard reads: panels, annotations and variables."""
    values = template_values(dashboard, testid="k6-load-20260101-000000", step_s=5, range_s=300)
    exprs = [query.expr for query in panel_queries(dashboard)]
    exprs += [annotation["expr"] for annotation in dashboard["annotations"]["list"]]
    names = set().union(*(metric_names(substitute(expr, values)) for expr in exprs))
    for variable in variables(dashboard):
        if variable["type"] == "query":
            metric, _label = label_values(variable["definition"])
            names |= {metric} if metric else set()
    return names


def listed_metrics(markdown: str) -> set[str]:
    """Every metric name in the first column of docs/metrics.md's tables."""
    names = set()
    for line in markdown.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            first_cell = line.split("|")[1]
            names.update(_NAME.findall(first_cell))
    return names


def unlisted(names: set[str], listed: set[str]) -> set[str]:
    """Names neither listed nor the _bucket/_count/_sum series of a listed histogram."""

    def known(name: str) -> bool:
        if name in listed:
            return True
        return any(name.endswith(s) and name.removesuffix(s) in listed for s in _HISTOGRAM_SERIES)

    return {name for name in names if not known(name)}

"""The queries inside generated dashboards, as Prometheus will see them: template variables
filled in (repeated panels expanded per value), metric names read with a real PromQL parser,
checked against docs/metrics.md, and the metrics dialects each panel can have data in."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import promql_parser

from signals import dialects

# provisioning/grafana/datasources/datasources.yml: the Prometheus datasource's fixed uid, what
# Grafana puts in for the datasource variable.
DATASOURCE_UID = "prometheus"
# $name, ${name} and ${name:format}, as Grafana writes variables in queries.
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")
# label_values(metric, label), label_values(metric{matchers}, label) or label_values(label): a
# query variable's definition.
_LABEL_VALUES = re.compile(
    r"^label_values\(\s*(?:([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s*,\s*)?(\w+)\s*\)$"
)
# | `name` ... | : a metric table row of docs/metrics.md; names sit in its first cell.
_NAME = re.compile(r"`([a-zA-Z_:][a-zA-Z0-9_:]*)`")
_HISTOGRAM_SERIES = ("_bucket", "_count", "_sum")
# Grafana's own interval variables: a duration wherever they stand.
_INTERVALS = ("__interval", "__rate_interval", "__range")
# What Grafana escapes in a multi-value variable's value inside a regex matcher
# (prometheusSpecialRegexEscape), each behind `\\` in the query text.
_REGEX_SPECIAL = re.compile(r"[$^*{}\[\]'+?.()|]")


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
    metric, _matchers, label = _label_values(definition)
    return metric, label


def label_values_match(definition: str) -> tuple[str | None, str]:
    """(the series selector, label) of a `label_values(...)` definition: what Prometheus's
    label values API takes as `match[]` (None: every series), variables still in it."""
    metric, matchers, label = _label_values(definition)
    return (f"{metric}{matchers or ''}" if metric else None), label


def _label_values(definition: str) -> tuple[str | None, str | None, str]:
    match = _LABEL_VALUES.match(definition.strip())
    if not match:
        raise ValueError(f"not a label_values(...) query: {definition!r}")
    return match[1], match[2], match[3]


def repeat_variable(panel: Mapping) -> str | None:
    """The variable a panel is repeated over (one copy per value), or None."""
    return panel.get("repeat") or None


def template_values(
    dashboard: Mapping, *, testid: str, step_s: int, range_s: int, scrape_s: int = 5
) -> dict[str, str]:
    """What Grafana would put in for every variable: the run, its window and Grafana's own.

    `$__rate_interval` follows Grafana's rule: max(interval + scrape interval, 4 x scrape). A
    variable with an All option gets its regex (a repeated panel's copies get one value each:
    `repeated`).
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


def regex_value(value: str) -> str:
    """`value` as Grafana writes one value of a multi-value variable into a regex matcher: its
    specials escaped, the backslashes doubled for the PromQL string."""
    return _REGEX_SPECIAL.sub(lambda m: "\\\\" + m[0], value.replace("\\", "\\\\\\\\"))


def repeated(panel: Mapping, values: Mapping[str, tuple[str, ...]]) -> list[tuple[Mapping, dict]]:
    """A panel as Grafana draws it: one copy per value of its repeat variable (`values`: each
    repeat variable's values, e.g. the target's endpoints), its title and description naming
    the value, with the variable's value for its queries; a panel without repeat: itself."""
    name = repeat_variable(panel)
    if name is None:
        return [(panel, {})]
    copies = []
    for value in values.get(name, ()):
        plain = {name: value}
        copy = {
            **panel,
            "title": substitute(panel["title"], plain),
            "description": substitute(panel.get("description", ""), plain),
        }
        copies.append((copy, {name: regex_value(value)}))
    return copies


def substitute(expr: str, values: Mapping[str, str]) -> str:
    def value(match: re.Match) -> str:
        name = match[1] or match[2]
        if name not in values:
            raise ValueError(f"unknown variable ${name} in {expr!r}")
        return values[name]

    return _VARIABLE.sub(value, expr)


def neutral(expr: str) -> str:
    """`expr` with every variable replaced by a stand-in that parses: a duration for Grafana's
    intervals, a word for the rest (enough to read its metric names)."""
    return _VARIABLE.sub(lambda m: "1m" if (m[1] or m[2]) in _INTERVALS else "x", expr)


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


def query_dialects(expr: str) -> tuple[str, ...]:
    """The metrics dialects in which a query (variables allowed) can have data: those whose
    targets export every metric it reads (signals.dialects.EXPORTED_BY)."""
    return dialects.needed_by(metric_names(neutral(expr)))


def panel_dialects(exprs: list[str]) -> tuple[str, ...]:
    """The dialects in which a panel of these queries has something to show: any query's."""
    found = set().union(*(query_dialects(expr) for expr in exprs))
    return tuple(d for d in dialects.DIALECT_NAMES if d in found)


def raw_panel_dialects(panel: Mapping) -> tuple[str, ...]:
    """`panel_dialects` of a generated panel's targets."""
    return panel_dialects([t["expr"] for t in panel.get("targets", []) if t.get("expr")])


def used_metrics(dashboard: Mapping) -> set[str]:
    """Every metric name a dashboard reads: panels, annotations and variables."""
    exprs = [query.expr for query in panel_queries(dashboard)]
    exprs += [annotation["expr"] for annotation in dashboard["annotations"]["list"]]
    names = set().union(*(metric_names(neutral(expr)) for expr in exprs))
    for variable in variables(dashboard):
        if variable["type"] == "query":
            selector, _label = label_values_match(variable["definition"])
            names |= metric_names(neutral(selector)) if selector else set()
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

"""The app's own HTTP metrics in each dialect, read as one vocabulary: requests and their
duration by `route`, `method` and `status`, whichever exporter the target speaks.

- flask: prometheus-flask-exporter (our shop): flask_http_request_duration_seconds{url_rule}
- micrometer: Spring Boot Actuator (the Spring shop, any Spring service):
  http_server_requests_seconds{uri}, its own /actuator routes left out
- none: the app exports nothing; every server-side query is empty for it

A query is written once, here, as the `or` of its form in every dialect: only the target's
dialect has series, so the recorded signals, the report and capacity need no per-target code.
`EXPORTED_BY` says which dialects' apps export a metric at all: what a panel, a deck or the
live check reading it can expect of a target.
"""

from __future__ import annotations

from dataclasses import dataclass

from signals.promql import selector, summed
from targets import DIALECTS as DIALECT_NAMES  # what a target file may name

APP_DIALECTS = ("flask", "micrometer")  # the dialects whose apps export metrics at all

# Which dialects' apps export a metric: an exact name, or a prefix ending in `_` or `:`; the
# longest match wins. A name nothing matches is the lab's own or an exporter's (load tools,
# MySQL, InnoDB, Redis, node, cgroups, nginx): every target has it, whatever its dialect.
EXPORTED_BY = {
    "flask_http_": ("flask",),
    "shop_db_pool_connections": ("flask",),  # SQLAlchemy's pool
    "shop_sales_": ("flask",),  # the Flask shop's async daily sales and their consumer
    "http_server_requests_": ("micrometer",),
    "hikaricp_": ("micrometer",),
    "jvm_": ("micrometer",),
    "process_cpu_usage": ("micrometer",),
    "system_cpu_": ("micrometer",),
    "shop_": APP_DIALECTS,  # the shops' domain series: the same names in both dialects
    # Recorded from the app's series (signals.catalog's shop group and the route objectives):
    # a target of dialect none has none of them.
    "shop:": APP_DIALECTS,
    "shop:sales_": ("flask",),
    "instance:shop_": APP_DIALECTS,
}


@dataclass(frozen=True)
class Dialect:
    name: str
    histogram: str  # the request-duration histogram's base name (_count, _bucket, _sum)
    route_label: str  # what the exporter calls the route template
    exclude: str = ""  # a matcher that leaves out the exporter's own routes
    # The connection pool in use and its size: SQLAlchemy's (ours), HikariCP's.
    pool_in_use: str = ""
    pool_capacity: str = ""


DIALECTS = (
    Dialect("flask", "flask_http_request_duration_seconds", "url_rule",
            pool_in_use='shop_db_pool_connections{state="in_use"}',
            pool_capacity='shop_db_pool_connections{state="capacity"}'),
    Dialect("micrometer", "http_server_requests_seconds", "uri", 'uri!~"/actuator.*"',
            pool_in_use="hikaricp_connections_active", pool_capacity="hikaricp_connections_max"),
)  # fmt: skip


def _matchers(matchers: str, dialect: Dialect) -> str:
    """Matchers written on `route` put on the dialect's own route label."""
    return matchers.replace("route=", f"{dialect.route_label}=").replace(
        "route!", f"{dialect.route_label}!"
    )


def _as_route(expr: str, dialect: Dialect) -> str:
    return f'label_replace({expr}, "route", "$1", "{dialect.route_label}", "(.*)")'


def _either(parts: list[str]) -> str:
    return "\n or ".join(f"({p})" for p in parts)


def _parts(fn: str, window: str, suffix: str, matchers: str, by: str) -> list[str]:
    """Per dialect: sum by (`by`) of `fn`(its histogram's `suffix` series[window]), `route`."""
    out = []
    for d in DIALECTS:
        series = selector(f"{d.histogram}{suffix}", _matchers(matchers, d), d.exclude)
        out.append(summed(_as_route(f"{fn}({series}[{window}])", d), by))
    return out


def requests(fn: str, window: str, *, matchers: str = "", by: str = "route") -> str:
    """sum by (`by`) of `fn`(the request count[window]) (rate, increase, ...); `matchers` and
    `by` may name `route`, `method`, `status`, `instance`."""
    return _either(_parts(fn, window, "_count", matchers, by))


def buckets(fn: str, window: str, *, matchers: str = "", by: str = "route, le") -> str:
    """sum by (`by`) of `fn`(the duration histogram's buckets[window]); `by` keeps `le` for a
    quantile, drops it for one bucket (a matcher on `le`)."""
    return _either(_parts(fn, window, "_bucket", matchers, by))


def quantile(q: float, window: str, *, matchers: str = "", by: str = "route") -> str:
    """The q-quantile of the request duration (seconds) over `window`, from the app's own
    histogram (classic buckets in both dialects; Micrometer needs percentiles-histogram on)."""
    grouping = ", ".join(x for x in (by, "le") if x)
    return _either([f"histogram_quantile({q}, {part})"
                    for part in _parts("rate", window, "_bucket", matchers, grouping)])  # fmt: skip


def pool_in_use_ratio() -> str:
    """The share of the app's database pool checked out (all instances together)."""
    return _either([f"sum({d.pool_in_use})\n/ sum({d.pool_capacity})" for d in DIALECTS])


def pool_in_use_max(window: str) -> str:
    """The most connections of the app's pool checked out at once over `window` (per series)."""
    return _either([f"max(max_over_time({d.pool_in_use}[{window}]))" for d in DIALECTS])


def pool_capacity() -> str:
    """The app's pool size (SQLAlchemy's size + overflow, HikariCP's maximum)."""
    return _either([f"max({d.pool_capacity})" for d in DIALECTS])


def exported_by(metric: str) -> tuple[str, ...]:
    """The dialects whose targets have `metric` (EXPORTED_BY; every dialect when unlisted)."""
    if metric in EXPORTED_BY:
        return EXPORTED_BY[metric]
    prefixes = [p for p in EXPORTED_BY if p.endswith(("_", ":")) and metric.startswith(p)]
    return EXPORTED_BY[max(prefixes, key=len)] if prefixes else DIALECT_NAMES


def needed_by(metrics: set[str]) -> tuple[str, ...]:
    """The dialects in which a query reading all of `metrics` can have data: those exporting
    every one (a query needs all it reads; the `or` of dialects lives in the recording rules)."""
    return tuple(d for d in DIALECT_NAMES if all(d in exported_by(m) for m in metrics))


def describe(dialects: tuple[str, ...]) -> str:
    """What a panel of these dialects needs, in words: "the app's own metrics (dialect flask or
    micrometer)"."""
    if set(dialects) == set(APP_DIALECTS):
        return f"the app's own metrics (dialect {' or '.join(dialects)})"
    return f"metrics of dialect {' or '.join(dialects)} only"

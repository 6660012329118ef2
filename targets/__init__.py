"""A target: the service the lab loads and observes, described once in a file (targets/*.yaml).

`read_target(text, source)` parses and validates one file into a frozen `Target` (every mistake
one line naming the field, before anything starts); `find_target(env)` resolves TARGET (a
built-in name such as `shop` or `spring-shop`, or a path) and reads it. The format is documented
in docs/targets.md; the built-in targets are the files beside this module.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import yaml

import knobs
from exporters.innodb.config import ConfigError, Dsn

HERE = Path(__file__).resolve().parent
DEFAULT = "shop"
DIALECTS = ("flask", "micrometer", "none")
# What the native stack can start itself (stack/services.py serves them behind nginx).
BUILT_INS = ("shop", "spring-shop")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
BOOKS = ("shop",)  # built-in books: the shop schema's invariants and its orders by id
# Where a run-log field comes from: the JSON answer, a header sent, a top-level body field sent.
LOG_SOURCES = ("answer", "header", "body")
# A placeholder in a path, header or body string: {user}, {uuid}, {int:1:5}.
PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)(?::(-?\d+):(-?\d+))?\}")
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
_HOST_PORT = re.compile(r"^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$")


class TargetError(ValueError):
    """A target file with a mistake; the message is one line naming the file and the field."""


@dataclass(frozen=True)
class Ids:
    """Where the values of one id come from: a fixed range, or asked of the service."""

    low: int = 1
    high: int | None = None  # a range's top; None: discovered at the start of a run
    bisect: str | None = None  # a GET path with {id}: the highest id answering 200
    count: str | None = None  # a GET path whose JSON answer holds the number of ids
    count_field: str = "total"

    def as_plan(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class Endpoint:
    name: str  # the `endpoint` label of the load tools' series
    method: str
    path: str  # may hold placeholders
    weight: float  # its share of the mix (normalised over all endpoints)
    p95_ms: float  # the latency objective at the 95th percentile
    expect: tuple[int, ...]  # statuses that count as success
    route: str | None = None  # the server's route label (url_rule / uri); None: not observed
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None  # a JSON template; None: no body
    log: Mapping[str, str] = field(default_factory=dict)  # run-log field -> answer./header./body.

    @property
    def key(self) -> str:
        """`POST /api/orders`: how the summaries name it."""
        return f"{self.method} {self.path.split('?')[0]}"

    def as_plan(self) -> dict:
        return {
            "name": self.name, "method": self.method, "path": self.path, "weight": self.weight,
            "p95_ms": self.p95_ms, "expect": list(self.expect), "route": self.route,
            "headers": dict(self.headers), "body": self.body, "log": dict(self.log),
            "key": self.key,
        }  # fmt: skip


@dataclass(frozen=True)
class Audit:
    books: str | None = None  # a built-in (shop)
    command: str | None = None  # a shell command: exit 0 means the books balance
    sql: str | None = None  # a query whose one number is 0 when the books balance

    @property
    def described(self) -> str:
        if self.books:
            return f"the {self.books} books"
        if self.command:
            return f"the command `{self.command}`"
        if self.sql:
            return "the target's SQL check"
        return "none: the target names no books to check (`audit` in its file)"


@dataclass(frozen=True)
class Target:
    name: str
    about: str
    source: Path | None
    start: str | None  # a built-in the native stack starts; None: a service already running
    url: str | None  # external targets: where the load goes
    ready: str  # a GET path answering 2xx when the service takes load
    dialect: str
    metrics_path: str
    scrape: tuple[str, ...]  # external targets: host:port Prometheus scrapes the app on
    dsn: Dsn | None  # external targets: the database the exporters watch
    audit: Audit
    ids: Mapping[str, Ids]
    hot: str | None  # the id HOT_USERS narrows to 1..N
    error_rate: float
    endpoints: tuple[Endpoint, ...]

    @property
    def external(self) -> bool:
        return self.start is None

    @property
    def database_url(self) -> str | None:
        """`database.dsn` as SQLAlchemy's URL (PyMySQL): what an audit of an external target's
        books connects with; None without a DSN."""
        if self.dsn is None:
            return None
        d = self.dsn
        auth = quote(d.user, safe="") + (f":{quote(d.password, safe='')}" if d.password else "")
        socket = f"?unix_socket={quote(d.unix_socket)}" if d.unix_socket else ""
        return f"mysql+pymysql://{auth}@{d.host}:{d.port}/{quote(d.database)}{socket}"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(e.name for e in self.endpoints)

    def as_plan(self) -> dict:
        """What the load tools need of the target, inside the plan they run."""
        return {
            "name": self.name,
            "dialect": self.dialect,  # which server panels the deck can draw for a run
            "external": self.external,  # and whether those of the stack's own services apply
            "ready": self.ready,
            "ids": {name: ids.as_plan() for name, ids in self.ids.items()},
            "hot": self.hot,
            "error_rate": self.error_rate,
            "endpoints": [e.as_plan() for e in self.endpoints],
        }


# --- reading -----------------------------------------------------------------------------------


class _Fields:
    """One mapping of the file, read field by field; every error names file and path."""

    def __init__(self, where: str, path: str, data: Any) -> None:
        self.where, self.path = where, path
        if not isinstance(data, dict):
            self.fail("", f"must be a mapping, not {type(data).__name__}")
        self.data = data

    def name(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def fail(self, key: str, message: str):
        where = self.name(key) if key else (self.path or "the file")
        raise TargetError(f"{self.where}: {where}: {message}")

    def child(self, key: str, required: bool = False) -> _Fields | None:
        if key not in self.data:
            if required:
                self.fail(key, "missing")
            return None
        return _Fields(self.where, self.name(key), self.data[key])

    def text(self, key: str, default: str | None = None, required: bool = False) -> str | None:
        value = self.data.get(key)
        if value is None:
            if required:
                self.fail(key, "missing")
            return default
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            self.fail(key, "must be text")
        return str(value).strip()

    def number(self, key: str, default: float | None = None, *, lo: float, hi: float) -> float:
        value = self.data.get(key, default)
        if value is None:
            self.fail(key, "missing")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(key, f"{value!r} is not a number")
        if not lo <= value <= hi:
            self.fail(key, f"{value!r} is out of range: from {lo:g} to {hi:g}")
        return float(value)

    def known(self, allowed: tuple[str, ...]) -> None:
        for key in self.data:
            if key not in allowed:
                self.fail(str(key), f"unknown field (known: {', '.join(allowed)})")


def _url(fields: _Fields, key: str) -> str | None:
    url = fields.text(key)
    if url is None:
        return None
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        fields.fail(key, f"{url!r} has a bad port")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        fields.fail(key, f"{url!r} is not an http:// or https:// URL with a host")
    return url.rstrip("/")


def _placeholders(text: str) -> set[str]:
    return {m.group(1) for m in PLACEHOLDER.finditer(text)}


def _template_names(value: Any) -> set[str]:
    """The ids a body template draws ({user}; `$each: product` draws product)."""
    if isinstance(value, str):
        return _placeholders(value)
    if isinstance(value, list):
        return set().union(*(_template_names(v) for v in value)) if value else set()
    if isinstance(value, dict):
        names = set().union(*(_template_names(v) for v in value.values())) if value else set()
        if "$each" in value:
            names.add(str(value["$each"]))
        return names
    return set()


def _span(value: Any) -> bool:
    """[low, high]: two whole numbers, 0 <= low <= high."""
    return (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)
        and value[0] <= value[1]
    )


def _check_body(fields: _Fields, key: str, value: Any) -> None:
    """A `$each` generator must say what to draw, how many and the item to render."""
    if isinstance(value, dict):
        if "$each" in value:
            unknown = set(value) - {"$each", "$count", "$item"}
            if unknown or "$item" not in value:
                fields.fail(key, "a $each list takes $each (an id), $count [low, high] and $item")
            if not _span(value.get("$count", [1, 1])):
                fields.fail(key, "$count must be [low, high], whole numbers, low <= high")
            _check_body(fields, key, value["$item"])
        else:
            for name, inner in value.items():
                _check_body(fields, f"{key}.{name}", inner)
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            _check_body(fields, f"{key}[{i}]", inner)


# Placeholders every target has without declaring them.
_BUILT_IN_VALUES = ("uuid", "int")


def _endpoint(where: str, i: int, data: Any, ids: Mapping[str, Ids]) -> Endpoint:
    f = _Fields(where, f"endpoints[{i}]", data)
    f.known(("name", "method", "path", "route", "weight", "p95_ms", "expect", "headers", "body",
             "log"))  # fmt: skip
    name = f.text("name", required=True)
    if not _NAME.match(name):
        f.fail("name", f"{name!r} must be lower-case letters, digits, - or _ (a label value)")
    method = (f.text("method", required=True) or "").upper()
    if method not in METHODS:
        f.fail("method", f"{method!r} is not one of {', '.join(METHODS)}")
    path = f.text("path", required=True)
    if not path.startswith("/"):
        f.fail("path", f"{path!r} must start with /")
    expect = f.data.get("expect", [200])
    if (
        not isinstance(expect, list)
        or not expect
        or not all(isinstance(s, int) and 100 <= s <= 599 for s in expect)
    ):
        f.fail("expect", "must be a list of HTTP statuses (e.g. [200] or [201, 409])")
    headers = f.data.get("headers") or {}
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        f.fail("headers", "must map header names to text")
    body = f.data.get("body")
    if body is not None and method == "GET":
        f.fail("body", "a GET has no body")
    _check_body(f, "body", body)
    log = f.data.get("log") or {}
    if not isinstance(log, dict) or not all(
        isinstance(v, str) and v.partition(".")[0] in LOG_SOURCES and v.partition(".")[2]
        for v in log.values()
    ):
        f.fail("log", "must map run-log fields to answer.<field>, header.<name> or body.<field>")
    drawn = _placeholders(path) | _template_names(body)
    drawn |= set().union(*(_placeholders(v) for v in headers.values())) if headers else set()
    unknown = sorted(drawn - set(ids) - set(_BUILT_IN_VALUES))
    if unknown:
        f.fail("body" if body is not None else "path",
               f"draws {{{unknown[0]}}}, which `ids` does not define")  # fmt: skip
    return Endpoint(
        name=name,
        method=method,
        path=path,
        weight=f.number("weight", 1, lo=0, hi=1e6),
        p95_ms=f.number("p95_ms", lo=0.001, hi=600_000),
        expect=tuple(expect),
        route=f.text("route"),
        headers=dict(headers),
        body=body,
        log=dict(log),
    )


def _ids(where: str, data: Any) -> dict[str, Ids]:
    out: dict[str, Ids] = {}
    if data is None:
        return out
    top = _Fields(where, "ids", data)
    for name in top.data:
        f = top.child(str(name))
        if not _NAME.match(str(name)):
            top.fail(str(name), "an id's name must be lower-case letters, digits, - or _")
        f.known(("range", "bisect", "count", "field"))
        ways = [k for k in ("range", "bisect", "count") if k in f.data]
        if len(ways) != 1:
            f.fail("", "give exactly one of range: [low, high], bisect: <path with {id}>, "
                       "count: <path>")  # fmt: skip
        if "range" in f.data:
            span = f.data["range"]
            if not _span(span):
                f.fail("range", "must be [low, high], whole numbers, low <= high")
            out[str(name)] = Ids(low=span[0], high=span[1])
        elif "bisect" in f.data:
            path = f.text("bisect")
            if not path.startswith("/") or "{id}" not in path:
                f.fail("bisect", f"{path!r} must be a path with {{id}} (e.g. /api/users/{{id}})")
            out[str(name)] = Ids(bisect=path)
        else:
            path = f.text("count")
            if not path.startswith("/"):
                f.fail("count", f"{path!r} must be a path starting with /")
            out[str(name)] = Ids(count=path, count_field=f.text("field", "total"))
    return out


def _load(text: str, where: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark else ""
        raise TargetError(f"{where}: {line}not YAML ({getattr(exc, 'problem', exc)})") from None


def _with_base(data: Any, where: str, depth: int = 0) -> Any:
    """`like: <target>`: that target's fields, with this file's top-level fields laid over."""
    if not isinstance(data, dict) or "like" not in data:
        return data
    base_name = data["like"]
    if not isinstance(base_name, str) or depth > 4:
        raise TargetError(f"{where}: like: must name one target (and not a chain of more than 4)")
    path = target_path(base_name)
    if not path.is_file():
        raise TargetError(f"{where}: like: {base_name!r} is neither a built-in nor a file")
    base = _with_base(_load(path.read_text(), str(path)), str(path), depth + 1)
    if not isinstance(base, dict):
        raise TargetError(f"{where}: like: {base_name!r} is not a target")
    return {**base, **{k: v for k, v in data.items() if k != "like"}}


def read_target(text: str, source: Path | None = None) -> Target:
    """One target file's text, validated; TargetError names the file and the field."""
    where = str(source) if source else "target"
    data = _with_base(_load(text, where), where)
    top = _Fields(where, "", data)
    top.known(("name", "about", "app", "metrics", "database", "audit", "ids", "hot", "slo",
               "endpoints"))  # fmt: skip
    name = top.text("name", required=True)
    if not _NAME.match(name):
        top.fail("name", f"{name!r} must be lower-case letters, digits, - or _")

    app = top.child("app", required=True)
    app.known(("start", "url", "ready"))
    start = app.text("start")
    if start is not None and start not in BUILT_INS:
        app.fail("start", f"{start!r} is not a built-in target ({', '.join(BUILT_INS)})")
    url = _url(app, "url")
    if start is None and url is None:
        app.fail("url", "missing: an external target needs the URL the load goes to")
    if start is not None and url is not None:
        app.fail("url", "a built-in target is served by the stack: give start or url, not both")
    ready = app.text("ready", "/")
    if not ready.startswith("/"):
        app.fail("ready", f"{ready!r} must be a path starting with /")

    metrics = top.child("metrics", required=True)
    metrics.known(("dialect", "path", "scrape"))
    dialect = metrics.text("dialect", required=True)
    if dialect not in DIALECTS:
        metrics.fail("dialect", f"{dialect!r} is not one of {', '.join(DIALECTS)}")
    default_path = {"flask": "/metrics", "micrometer": "/actuator/prometheus"}.get(dialect, "")
    metrics_path = metrics.text("path", default_path)
    scrape = metrics.data.get("scrape") or []
    if isinstance(scrape, str):
        scrape = [scrape]
    if not isinstance(scrape, list) or not all(
        isinstance(s, str) and _HOST_PORT.match(s) for s in scrape
    ):
        metrics.fail("scrape", "must be host:port, or a list of them")
    if scrape and start is not None:
        metrics.fail("scrape", "a built-in target is scraped where the stack runs it")
    if start is None and dialect != "none" and not scrape:
        scrape = [urlsplit(url).netloc]

    dsn = None
    database = top.child("database")
    if database is not None:
        database.known(("dsn",))
        if start is not None:
            database.fail("dsn", "a built-in target uses the stack's database")
        raw = database.text("dsn", required=True)
        try:
            dsn = Dsn.parse(raw, variable=f"{where}: database.dsn")
        except ConfigError as exc:
            raise TargetError(str(exc)) from None

    audit_fields = top.child("audit")
    audit = Audit()
    if audit_fields is not None:
        audit_fields.known(("books", "command", "sql"))
        given = [k for k in ("books", "command", "sql") if audit_fields.data.get(k)]
        if len(given) > 1:
            audit_fields.fail("", "give one of books, command or sql")
        books = audit_fields.text("books")
        if books is not None and books not in BOOKS:
            audit_fields.fail("books", f"{books!r} is not a built-in check ({', '.join(BOOKS)})")
        audit = Audit(books=books, command=audit_fields.text("command"),
                      sql=audit_fields.text("sql"))  # fmt: skip
        if (audit.books or audit.sql) and start is None and dsn is None:
            audit_fields.fail(given[0], "reads the database: give database.dsn")

    ids = _ids(where, top.data.get("ids"))
    hot = top.text("hot")
    if hot is not None and hot not in ids:
        top.fail("hot", f"{hot!r} is not one of the ids ({', '.join(ids) or 'none defined'})")

    slo = top.child("slo")
    error_rate = 0.01
    if slo is not None:
        slo.known(("error_rate",))
        error_rate = slo.number("error_rate", 0.01, lo=0, hi=1)

    raw_endpoints = top.data.get("endpoints")
    if not isinstance(raw_endpoints, list) or not raw_endpoints:
        top.fail("endpoints", "must be a list of at least one endpoint")
    endpoints = tuple(_endpoint(where, i, e, ids) for i, e in enumerate(raw_endpoints))
    names = [e.name for e in endpoints]
    if len(set(names)) != len(names):
        twice = sorted(n for n in names if names.count(n) > 1)[0]
        top.fail("endpoints", f"two endpoints are named {twice!r}")
    if not sum(e.weight for e in endpoints):
        top.fail("endpoints", "every weight is 0: nothing would be sent")
    if audit.books and "orders" not in names:
        top.fail("audit.books", "the shop books reconcile an endpoint named orders")
    return Target(
        name=name,
        about=top.text("about", ""),
        source=source,
        start=start,
        url=url,
        ready=ready,
        dialect=dialect,
        metrics_path=metrics_path,
        scrape=tuple(scrape),
        dsn=dsn,
        audit=audit,
        ids=ids,
        hot=hot,
        error_rate=error_rate,
        endpoints=endpoints,
    )


def target_path(name_or_path: str) -> Path:
    """TARGET's file: a built-in name (targets/<name>.yaml) or a path of the user's."""
    if _NAME.match(name_or_path) and (HERE / f"{name_or_path}.yaml").exists():
        return HERE / f"{name_or_path}.yaml"
    return Path(name_or_path).expanduser().resolve()


def find_target(env: Mapping[str, str]) -> Target:
    """TARGET of `env` (default: the Flask shop) read and validated."""
    given = knobs.text(env, "TARGET", DEFAULT)
    path = target_path(given)
    if not path.is_file():
        builtins = ", ".join(p.stem for p in sorted(HERE.glob("*.yaml")))
        raise TargetError(f"TARGET={given!r} is neither a built-in ({builtins}) nor a file")
    return read_target(path.read_text(), path)

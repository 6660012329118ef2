"""The target's traffic model in Python (Locust's side; k6's is k6/lib/model.js): ids discovered
or drawn, one request rendered from its endpoint's templates, the mix, the run-log line.

The templates are the target file's (docs/targets.md): `{name}` draws an id (once per request,
so `{user}` in the path and the body is one user; the target's hot id narrowed by HOT_USERS),
`{uuid}` a fresh key, `{int:low:high}` a number, and `{"$each": id, "$count": [low, high],
"$item": ...}` a list of distinct ids.
"""

from __future__ import annotations

import json
import random
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

# The same placeholders as targets/__init__.py.
PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)(?::(-?\d+):(-?\d+))?\}")
WHOLE = re.compile(rf"^{PLACEHOLDER.pattern}$")

# A GET of a path on the service: (status, JSON answer or None).
Get = Callable[[str], tuple[int, Any]]


class DiscoveryError(RuntimeError):
    """The service cannot give the ids the model draws (not up, not seeded)."""


def highest_answering(get: Get, path: str) -> int:
    """The highest id whose `path` answers 200: doubling, then bisection."""
    exists = lambda n: get(path.replace("{id}", str(n)))[0] == 200  # noqa: E731
    if not exists(1):
        raise DiscoveryError(f"GET {path.replace('{id}', '1')} is not 200: is the service seeded?")
    lo = 1
    while exists(lo * 2) and lo < 10**9:
        lo *= 2
    hi = lo * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if exists(mid) else (lo, mid)
    return lo


def discover(get: Get, ids: Mapping[str, Mapping]) -> dict[str, tuple[int, int]]:
    """Each id's (low, high): its range, or asked of the service as the target says."""
    spans = {}
    for name, spec in ids.items():
        high = spec.get("high")
        if spec.get("bisect"):
            high = highest_answering(get, spec["bisect"])
        if spec.get("count"):
            status, answer = get(spec["count"])
            if status != 200 or not isinstance(answer, dict):
                raise DiscoveryError(f"GET {spec['count']} answered {status}: is the service up?")
            high = int(answer.get(spec.get("count_field", "total")) or 0)
        low = int(spec.get("low", 1))
        if high is None or high < low:
            raise DiscoveryError(f"no {name} ids ({low}..{high}): seed the service first")
        spans[name] = (low, int(high))
    return spans


@dataclass
class Draw:
    """One request's values: each id drawn once; `hot` tells whether the hot id was narrowed."""

    spans: Mapping[str, tuple[int, int]]
    hot_id: str | None
    hot_users: int
    hot_ratio: float
    rng: Any = random  # the module (one generator), or a seeded random.Random in a test
    values: dict[str, int] = field(default_factory=dict)
    hot: bool = False

    def id(self, name: str) -> int:
        low, high = self.spans[name]
        if name == self.hot_id and self.hot_users > 0 and self.rng.random() < self.hot_ratio:
            self.hot = True
            return self.rng.randint(low, min(low + self.hot_users - 1, high))
        return self.rng.randint(low, high)

    def value(self, name: str, low: str | None, high: str | None, scope: Mapping) -> Any:
        if name == "uuid":
            return uuid.UUID(int=self.rng.getrandbits(128)).hex
        if name == "int":
            return self.rng.randint(int(low), int(high))
        if name in scope:
            return scope[name]
        if name not in self.values:
            self.values[name] = self.id(name)
        return self.values[name]


def render(template: Any, draw: Draw, scope: Mapping | None = None) -> Any:
    """The template with every placeholder drawn; a string that is one placeholder keeps the
    value's type (an id stays a number in JSON)."""
    scope = scope or {}
    if isinstance(template, str):
        whole = WHOLE.match(template)
        if whole:
            return draw.value(*whole.groups(), scope)
        return PLACEHOLDER.sub(lambda m: str(draw.value(*m.groups(), scope)), template)
    if isinstance(template, list):
        return [render(t, draw, scope) for t in template]
    if isinstance(template, dict):
        if "$each" in template:
            name = template["$each"]
            low, high = template.get("$count", [1, 1])
            first, last = draw.spans[name]
            n = min(draw.rng.randint(low, high), last - first + 1)
            chosen = draw.rng.sample(range(first, last + 1), n)
            return [render(template["$item"], draw, {**scope, name: v}) for v in chosen]
        return {k: render(v, draw, scope) for k, v in template.items()}
    return template


@dataclass(frozen=True)
class Request:
    """One request of an endpoint, ready to send."""

    endpoint: Mapping
    path: str
    headers: dict[str, str]
    body: Any  # the JSON value, None for no body
    hot: bool

    @property
    def data(self) -> str | None:
        return None if self.body is None else json.dumps(self.body)


def build(endpoint: Mapping, draw: Draw) -> Request:
    headers = {k: str(render(v, draw)) for k, v in endpoint["headers"].items()}
    body = None
    if endpoint.get("body") is not None:
        body = render(endpoint["body"], draw)
        headers["Content-Type"] = "application/json"
    return Request(endpoint, render(endpoint["path"], draw), headers, body, draw.hot)


class Mix:
    """The endpoints in their shares of the mix, interleaved (smooth weighted round robin): over
    any n requests of a process each endpoint is within about one of its share, where drawing
    each request by chance strays by √n (a 10-request smoke could send 2 orders of 5). Each
    process starts at a random phase, so that processes do not march in step."""

    def __init__(self, mix: Mapping[str, float], endpoints: list[Mapping], rng: random.Random):
        self.endpoints = endpoints
        self.weights = [mix.get(e["name"], 0.0) for e in endpoints]
        self.total = sum(self.weights)
        self.credit = [rng.random() * w for w in self.weights]

    def next(self) -> Mapping:
        self.credit = [c + w for c, w in zip(self.credit, self.weights, strict=True)]
        i = max(range(len(self.credit)), key=self.credit.__getitem__)
        self.credit[i] -= self.total
        return self.endpoints[i]


def log_fields(request: Request, ok: bool, answer: Callable[[], Any]) -> dict[str, Any]:
    """The endpoint's run-log fields (`answer.f`, `header.H`, `body.f`); an answer's field only
    on an expected status. `answer` parses the JSON answer when first needed."""
    out: dict[str, Any] = {}
    parsed: list = []
    for name, source in request.endpoint["log"].items():
        where, _, key = source.partition(".")
        if where == "header":
            out[name] = request.headers.get(key)
        elif where == "body":
            out[name] = request.body.get(key) if isinstance(request.body, dict) else None
        elif ok:
            if not parsed:
                try:
                    parsed.append(answer())
                except ValueError:
                    parsed.append(None)
            value = parsed[0].get(key) if isinstance(parsed[0], dict) else None
            out[name] = value
        else:
            out[name] = None
    return out

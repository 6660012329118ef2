"""The popular list served before Flask: a worker's live cached bytes (shop.local_cache) for a
query string the full path has already accepted, counted in the same metrics as the rest."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Iterable

from shop.local_cache import LocalCache
from shop.metrics import ShopMetrics

PATH = "/api/products/popular"
_HEADERS = "Content-Type", "application/json"


class PopularFastPath:
    """WSGI middleware in front of the Flask app.

    Flask's request context, routing, hooks and response object cost a popular request more
    than everything else it does once the bytes are cached (docs/performance.md). So a GET of
    the popular list whose exact query string the Flask view validated before (`learn`), and
    whose bytes this worker holds unexpired, is answered here: the same body, status and
    headers, counted in flask_http_request_duration_seconds, flask_http_request_total and
    shop_cache_requests_total{cache="popular_local",result="hit"} as the view would have been.
    Everything else (a new or bad query, an expired entry, another path or method) goes to
    Flask untouched, so validation, the refresh's single flight and errors stay Flask's.
    """

    def __init__(
        self,
        wsgi_app: Callable,
        local: LocalCache,
        metrics: ShopMetrics,
        *,
        max_queries: int = 256,
    ):
        self.wsgi_app = wsgi_app
        self.local = local
        self.max_queries = max_queries
        self._keys: dict[str, Hashable] = {}  # QUERY_STRING -> the cache key the view used
        self._guard = threading.Lock()
        self._duration = metrics.http.duration.labels(method="GET", url_rule=PATH, status=200)
        self._total = metrics.http.total.labels(method="GET", status=200)
        self._hit = metrics.cache.labels(local.name, "hit")

    def learn(self, query_string: str, key: Hashable) -> None:
        """The view accepted `query_string` as `key`; at most `max_queries` are kept (the
        oldest goes first), so query strings cannot grow it."""
        if self._keys.get(query_string) == key:
            return
        with self._guard:
            while len(self._keys) >= self.max_queries:
                del self._keys[next(iter(self._keys))]
            self._keys[query_string] = key

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == PATH and environ.get("REQUEST_METHOD") == "GET":
            started = time.perf_counter()
            key = self._keys.get(environ.get("QUERY_STRING", ""))
            body = self.local.peek(key) if key is not None else None
            if body is not None:
                start_response("200 OK", [_HEADERS, ("Content-Length", str(len(body)))])
                self._hit.inc()
                self._total.inc()
                self._duration.observe(time.perf_counter() - started)
                return [body]
        return self.wsgi_app(environ, start_response)

"""Instructions per request of the shop's app, counted by callgrind: the cost no neighbour moves.

For each case a child process runs the app under `valgrind --tool=callgrind` and calls its WSGI
callable in-process (no HTTP server: the server's own cost is what `make bench-shop` measures)
`n` times, then `3n` times in a second child; the difference over `2n` is one request's count,
the start-up (interpreter, imports, the app's first requests) cancelled out. Library:
`count(settings) -> list[CaseCount]`; `bench/count_shop.py` is its shell.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.backing import start_backing, stop_all
from stack.settings import REPO

VALGRIND = shutil.which("valgrind") or "valgrind"
# case -> (app, method, path, query, how many requests in the first child). The peer is the
# textbook yardstick of `make bench-shop` (bench/peer/), counted the same way.
CASES = {
    "popular-flask": ("shop", "GET", "/api/products/popular", "days=3&limit=5", 100),
    "popular-fast": ("shop", "GET", "/api/products/popular", "days=3&limit=5", 100),
    "order": ("shop", "POST", "/api/orders", "", 30),
    "peer-popular": ("peer", "GET", "/api/products/popular", "days=3&limit=5", 100),
    "peer-order": ("peer", "POST", "/api/orders", "", 20),
}


@dataclass(frozen=True)
class CaseCount:
    case: str
    requests: int  # the difference between the two children's request counts
    instructions: int  # the difference between their totals

    @property
    def per_request(self) -> float:
        return self.instructions / self.requests


def environ(method: str, path: str, query: str, body: bytes) -> dict:
    return {
        "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1", "CONTENT_TYPE": "application/json" if body else "",
        "CONTENT_LENGTH": str(len(body)) if body else "", "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr, "wsgi.version": (1, 0), "wsgi.url_scheme": "http",
        "wsgi.multithread": True, "wsgi.multiprocess": True, "wsgi.run_once": False,
    }  # fmt: skip


def serve(case: str, n: int) -> None:
    """In the child: the app as a worker builds it, then `n` requests of `case` (orders of
    users and products taken in turn, so each run does the same work)."""
    which, method, path, query, _ = CASES[case]
    if which == "peer":
        from bench.peer import create_app
    else:
        from shop import create_app
    app = create_app()
    call: Callable = app.wsgi_app
    if case == "popular-flask":
        call = call.wsgi_app  # Flask's own callable: the path before the fast path
    statuses = []

    def start_response(status, headers, exc_info=None):
        statuses.append(status)

    for i in range(n + 2):  # two first: the caches filled and the fast path taught
        body = b""
        if method == "POST":
            body = b'{"user_id":%d,"items":[{"product_id":%d,"quantity":1}]}' % (
                1 + i % 1000, 1 + i % 100
            )  # fmt: skip
        b"".join(call(environ(method, path, query, body), start_response))
    wanted = "201 CREATED" if method == "POST" else "200 OK"
    if {status.upper() for status in statuses} != {wanted}:
        raise SystemExit(f"{case}: statuses {sorted(set(statuses))}, wanted {wanted}")


def _totals(out: Path) -> int:
    for line in out.read_text().splitlines():
        if line.startswith("totals:") or line.startswith("summary:"):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {out}")


def _child(case: str, n: int, env: dict[str, str], out: Path) -> int:
    args = [VALGRIND, "--tool=callgrind", f"--callgrind-out-file={out}", "--quiet",
            sys.executable, "-m", "bench.instructions", case, str(n)]  # fmt: skip
    done = subprocess.run(args, env=env, cwd=REPO, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"{case} x{n} under callgrind failed: {done.stderr.strip()[-500:]}")
    return _totals(out)


def count(cases: list[str], log: Callable[[str], None] = print) -> list[CaseCount]:
    """MariaDB and Redis of its own (seeded small), then two children per case."""
    root = Path(tempfile.mkdtemp(prefix="shoplab-count-"))
    servers: list = []
    try:
        db, redis = start_backing(root, 1000, 100, 1000, servers)
        results = []
        for case in cases:
            n = CASES[case][-1]
            env = {**os.environ, "PYTHONHASHSEED": "0", "SHOP_DATABASE_URL": db.url("shop"),
                   "SHOP_REDIS_URL": redis.url(0), "SHOP_POPULAR_LOCAL_TTL_SECONDS": "60",
                   "PROMETHEUS_MULTIPROC_DIR": str(root / f"metrics-{case}")}  # fmt: skip
            totals = []
            for requests in (n, 3 * n):
                Path(env["PROMETHEUS_MULTIPROC_DIR"]).mkdir(exist_ok=True)
                totals.append(_child(case, requests, env, root / f"{case}-{requests}.out"))
                shutil.rmtree(env["PROMETHEUS_MULTIPROC_DIR"])
            result = CaseCount(case, 2 * n, totals[1] - totals[0])
            log(f"{case}: {result.per_request:,.0f} instructions per request "
                f"({n} and {3 * n} requests: {totals[0]:,} and {totals[1]:,})")  # fmt: skip
            results.append(result)
        return results
    finally:
        stop_all(servers, log)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":  # the child, under callgrind
    sys.path.insert(0, str(REPO))
    serve(sys.argv[1], int(sys.argv[2]))

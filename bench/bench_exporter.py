"""make bench-exporter: how fast the InnoDB exporter parses, and how long a scrape takes under load.

1. Parser throughput: `SHOW ENGINE INNODB STATUS` documents parsed per second, on the largest
   extra sample (SHOPLAB_EXTRAS, when present: stack/extras.py), the largest one holding a
   deadlock, and the MariaDB fixtures (a status dump, an error log of 20 deadlocks).
2. Scrape duration: its own MariaDB (the test harness's) in a temporary folder, write load from
   threads in another process (hot rows updated in random order, so deadlocks and lock waits
   happen for real), the exporter run as `serve` in its own process following the error log,
   scraped N times over HTTP: p50/p99 of the collector's own time (its
   innodb_exporter_scrape_duration_seconds) and of the whole GET /metrics.

Targets: >= 5,000 documents/s, scrape p99 <= 20 ms. Bounded: well under 90 s. Exit 1 if a target
is missed.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import pymysql  # noqa: E402
import requests  # noqa: E402

from exporters.innodb.parser import parse_error_log, parse_status  # noqa: E402
from stack.ephemeral import MariaDB  # noqa: E402
from stack.extras import SAMPLES, find_extras, sample_files  # noqa: E402
from stack.processes import free_port  # noqa: E402

FIXTURES = REPO / "tests" / "fixtures" / "innodb"
PARSE_TARGET = 5_000.0  # documents per second
SCRAPE_P99_TARGET_MS = 20.0
HOT_ROWS = 20
HOLD_SECONDS = 0.003  # between a transaction's two row locks: overlaps make waits and deadlocks
EXPORTER = (sys.executable, "-m", "exporters.innodb", "serve")


def log(message: str) -> None:
    print(f"bench-exporter: {message}", flush=True)


def throughput(parse, text: str, seconds: float) -> float:
    """Calls per second of `parse(text)`, measured for about `seconds`."""
    parse(text)  # warm up: compiled regexes, caches
    done, started = 0, time.perf_counter()
    while True:
        for _ in range(50):
            parse(text)
        done += 50
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            return done / elapsed


def parser_documents() -> list[tuple[str, str, object]]:
    """(label, text, parse function) for every document the benchmark parses."""
    documents = []
    extras = find_extras(os.environ)
    files = sample_files(extras)
    if files:
        largest = max(files, key=lambda p: p.stat().st_size)
        texts = {p: p.read_text(errors="replace") for p in files}
        with_deadlock = [p for p in files if parse_status(texts[p]).deadlocks]
        largest_deadlock = max(with_deadlock, key=lambda p: p.stat().st_size)
        for path in (largest, largest_deadlock):
            label = f"{path.name} ({path.stat().st_size // 1024} KB)"
            documents.append((label, texts[path], parse_status))
    else:
        log(f"{extras.why_not(SAMPLES)}: parsing the fixtures only")
    status = FIXTURES / "mariadb-10.11_show-engine-innodb-status_fk-deadlock.txt"
    burst = FIXTURES / "mariadb-10.11_error-log_burst-20-deadlocks.txt"
    documents.append((f"{status.name} (MariaDB 10.11)", status.read_text(), parse_status))
    documents.append((f"{burst.name} (20 deadlocks)", burst.read_text(), parse_error_log))
    return documents


def write_load(port: int, database: str, threads: int, tps: float, seconds: float, results) -> None:
    """In its own process (own GIL): threads running short transactions on a few hot rows,
    in random order, so deadlocks and lock waits happen; `tps` transactions per second in all
    (0: as fast as they go). Puts its counts on `results`."""
    counts = {"commits": 0, "deadlocks": 0, "lock_wait_timeouts": 0}
    lock = threading.Lock()
    stop = time.monotonic() + seconds
    period = threads / tps if tps else 0.0

    def run(seed: int) -> None:
        rng = random.Random(seed)
        conn = pymysql.connect(host="127.0.0.1", port=port, user="root", database=database)
        next_start = time.monotonic() + rng.random() * period
        try:
            with conn.cursor() as cur:
                cur.execute("SET SESSION innodb_lock_wait_timeout = 1")
                while time.monotonic() < stop:
                    if period:
                        time.sleep(max(0.0, next_start - time.monotonic()))
                        next_start += period
                    ids = rng.sample(range(1, HOT_ROWS + 1), 2)
                    try:
                        cur.execute("BEGIN")
                        for step, row in enumerate(ids):
                            cur.execute("UPDATE hot SET v = v + 1 WHERE id = %s", (row,))
                            if step == 0:
                                time.sleep(HOLD_SECONDS)  # app work inside the transaction
                        cur.execute("INSERT INTO history (hot_id, amount) VALUES (%s, 1)", ids[:1])
                        cur.execute("COMMIT")
                        outcome = "commits"
                    except pymysql.err.OperationalError as exc:
                        cur.execute("ROLLBACK")
                        outcome = {1213: "deadlocks", 1205: "lock_wait_timeouts"}.get(
                            exc.args[0], "commits"
                        )
                    with lock:
                        counts[outcome] += 1
        finally:
            conn.close()

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    results.put(counts)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def sample(text: str, name: str) -> float:
    """One sample's value from the text exposition format."""
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise KeyError(name)


def scrape_under_load(scrapes: int, interval: float, threads: int, tps: float) -> dict:
    """The exporter as it runs for real (`serve`, its own process), the load in another one."""
    base = Path(tempfile.mkdtemp(prefix="bench-exporter-"))
    server = MariaDB(base / "mariadb").start()
    exporter = None
    try:
        with server.connect() as conn, conn.cursor() as cur:
            cur.execute("CREATE DATABASE bench")
            cur.execute("USE bench")
            cur.execute("CREATE TABLE hot (id INT PRIMARY KEY, v BIGINT NOT NULL) ENGINE=InnoDB")
            cur.execute(
                "CREATE TABLE history (id BIGINT AUTO_INCREMENT PRIMARY KEY, hot_id INT NOT NULL,"
                " amount INT NOT NULL) ENGINE=InnoDB"
            )
            rows = ", ".join(f"({i}, 0)" for i in range(1, HOT_ROWS + 1))
            cur.execute(f"INSERT INTO hot VALUES {rows}")
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        exporter = subprocess.Popen(
            [
                *EXPORTER,
                "--dsn",
                server.dsn(),
                "--listen",
                f"127.0.0.1:{port}",
                "--error-log",
                str(server.error_log),
            ],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO), "INNODB_EXPORTER_LOG_LEVEL": "ERROR"},
        )
        session = requests.Session()
        deadline = time.monotonic() + 15
        while True:
            try:
                session.get(f"{url}/metrics", timeout=5).raise_for_status()  # baseline
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline or exporter.poll() is not None:
                    raise RuntimeError("the exporter did not start") from None
                time.sleep(0.1)

        collector_ms: list[float] = []
        http_ms: list[float] = []
        with_waits = 0
        results = multiprocessing.get_context("spawn").Queue()
        seconds = 1.0 + scrapes * (interval + 0.01) + 2.0
        load = multiprocessing.get_context("spawn").Process(
            target=write_load, args=(server.port, "bench", threads, tps, seconds, results)
        )
        load.start()
        time.sleep(1.0)  # let the load settle
        started = time.monotonic()
        for _ in range(scrapes):
            t0 = time.perf_counter()
            response = session.get(f"{url}/metrics", timeout=10)
            http_ms.append((time.perf_counter() - t0) * 1000)
            response.raise_for_status()
            collector_ms.append(
                sample(response.text, "innodb_exporter_scrape_duration_seconds") * 1000
            )
            with_waits += sample(response.text, "innodb_lock_waits") > 0
            time.sleep(interval)
        elapsed = time.monotonic() - started
        counts = results.get(timeout=seconds + 30)
        load.join(timeout=30)
        final = session.get(f"{url}/metrics", timeout=10).text
        return {
            "collector_ms": collector_ms,
            "http_ms": http_ms,
            "commits_per_s": counts["commits"] / (elapsed + 3.0),
            "deadlocks": counts["deadlocks"],
            "lock_wait_timeouts": counts["lock_wait_timeouts"],
            "server_deadlocks": int(sample(final, "innodb_deadlocks_total")),
            "captured": int(
                sample(final, 'innodb_deadlocks_captured_total{source="error_log"}')
                + sample(final, 'innodb_deadlocks_captured_total{source="status"}')
            ),
            "scrapes_with_lock_waits": with_waits,
            "up": sample(final, "innodb_up") == 1,
        }
    finally:
        if exporter is not None:
            exporter.terminate()
            exporter.wait(timeout=10)
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parse-seconds", type=float, default=3.0, help="per document")
    parser.add_argument("--scrapes", type=int, default=300)
    # InnoDB's information_schema lock tables are a cache that refreshes only when it was not
    # read for 0.1 s: scraping faster than that would freeze it (and measure nothing real).
    parser.add_argument("--interval", type=float, default=0.11, help="seconds between scrapes")
    parser.add_argument("--threads", type=int, default=8, help="write-load threads")
    parser.add_argument(
        "--load-tps",
        type=float,
        default=1000,
        help="write transactions/s offered (5x the shop's 200 TPS target); 0: flat out",
    )
    args = parser.parse_args()
    started = time.monotonic()
    ok = True

    log("parser throughput")
    rows = []
    for label, text, parse in parser_documents():
        rate = throughput(parse, text, args.parse_seconds)
        rows.append((label, rate))
    width = max(len(label) for label, _ in rows)
    print(f"\n  {'document':<{width}}  {'docs/s':>9}")
    for label, rate in rows:
        print(f"  {label:<{width}}  {rate:>9,.0f}")
    largest_rate = rows[0][1]
    ok &= largest_rate >= PARSE_TARGET
    print()

    offered = f"{args.load_tps:,.0f} tx/s offered" if args.load_tps else "flat out"
    log(f"scrape duration: {args.scrapes} scrapes, write load {offered}, {args.threads} threads")
    result = scrape_under_load(args.scrapes, args.interval, args.threads, args.load_tps)
    print(f"\n  {'scrape':<28} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for name, key in (("collector (all sources)", "collector_ms"), ("GET /metrics", "http_ms")):
        values = result[key]
        print(
            f"  {name:<28} {statistics.median(values):>8.2f} {percentile(values, 0.99):>8.2f}"
            f" {max(values):>8.2f}"
        )
    print(
        f"\n  load: {result['commits_per_s']:,.0f} commits/s, {result['deadlocks']} deadlocks"
        f" (server counted {result['server_deadlocks']}, exporter captured {result['captured']}),"
        f" {result['lock_wait_timeouts']} lock wait timeouts,"
        f" lock waits seen in {result['scrapes_with_lock_waits']}/{args.scrapes} scrapes"
    )
    p99 = percentile(result["http_ms"], 0.99)
    ok &= p99 <= SCRAPE_P99_TARGET_MS and result["up"]
    verdict_parse = "ok" if largest_rate >= PARSE_TARGET else "MISSED"
    verdict_scrape = "ok" if p99 <= SCRAPE_P99_TARGET_MS else "MISSED"
    print(
        f"\n  targets: parse >= {PARSE_TARGET:,.0f} docs/s on the largest sample:"
        f" {largest_rate:,.0f} {verdict_parse};"
        f" scrape p99 <= {SCRAPE_P99_TARGET_MS:.0f} ms: {p99:.2f} ms {verdict_scrape}"
    )
    log(f"done in {time.monotonic() - started:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

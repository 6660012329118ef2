"""The exporter's HTTP side: /metrics for Prometheus, /deadlocks as JSON, /healthz."""

from __future__ import annotations

import json
import logging
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from exporters.innodb.collector import InnoDBCollector

log = logging.getLogger("exporters.innodb")

INDEX_PAGE = b"""<html><head><title>InnoDB exporter</title></head><body>
<h1>InnoDB exporter</h1>
<p><a href="/metrics">/metrics</a> <a href="/deadlocks">/deadlocks</a>
<a href="/healthz">/healthz</a></p>
</body></html>
"""


class ExporterServer:
    """A threading HTTP server around one collector (the collector serialises its scrapes)."""

    def __init__(self, collector: InnoDBCollector, host: str = "127.0.0.1", port: int = 9105):
        self.collector = collector
        self.registry = CollectorRegistry()
        self.registry.register(collector)
        handler = type("Handler", (_Handler,), {"exporter": self})
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def url(self) -> str:
        host = self.httpd.server_address[0]
        return f"http://{host}:{self.port}"

    def start(self) -> ExporterServer:
        """Serve in a background thread (tests, and the CLI which waits for a signal)."""
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, name="innodb-exporter-http", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.collector.close()


class _Handler(BaseHTTPRequestHandler):
    exporter: ExporterServer
    server_version = "innodb-exporter"
    protocol_version = "HTTP/1.1"  # keep-alive, as Prometheus scrapes
    # Headers and body leave in one segment: no Nagle / delayed-ACK stall on kept-alive sockets.
    wbufsize = 1 << 16
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        params = parse_qs(url.query)
        try:
            if url.path == "/metrics":
                encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
                self._send(HTTPStatus.OK, encoder(self.exporter.registry), content_type)
            elif url.path == "/deadlocks":
                self._deadlocks(params)
            elif url.path == "/healthz":
                self._healthz()
            elif url.path == "/":
                self._send(HTTPStatus.OK, INDEX_PAGE, "text/html; charset=utf-8")
            else:
                self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8")
        except Exception:
            log.exception("error serving %s", url.path)
            self._send(HTTPStatus.INTERNAL_SERVER_ERROR, b"error\n", "text/plain; charset=utf-8")

    def _deadlocks(self, params: dict[str, list[str]]) -> None:
        limit_text = params.get("limit", [""])[0]
        if limit_text and not limit_text.isdigit():
            self._send(HTTPStatus.BAD_REQUEST, b"limit: a whole number\n", "text/plain")
            return
        deadlocks = self.exporter.collector.recent_deadlocks(
            int(limit_text) if limit_text else None
        )
        body = json.dumps({"deadlocks": deadlocks}, indent=1).encode()
        self._send(HTTPStatus.OK, body, "application/json")

    def _healthz(self) -> None:
        # The exporter is alive whether or not MySQL is: a down server is innodb_up 0, not a
        # reason to restart us.
        scrape = self.exporter.collector.last_scrape
        body = {"status": "ok", "mysql_up": bool(scrape.up) if scrape else None}
        self._send(HTTPStatus.OK, json.dumps(body).encode(), "application/json")

    def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:
        log.debug("http: " + format, *args)

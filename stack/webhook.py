"""The native stack's Alertmanager receiver: every alert it is sent, one JSON line each, in a file.

    python -m stack.webhook --listen 127.0.0.1:19094 --out state/local/alerts.jsonl

POST /alerts takes Alertmanager's webhook payload (version 4); GET /healthz answers ok.
Read the file with `tail -f state/local/alerts.jsonl` (or jq): one object per alert and
notification, resolved ones included, oldest first.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

MAX_BODY = 4 * 1024 * 1024


def alert_lines(payload: dict, received_at: datetime) -> list[str]:
    """One JSON line per alert of an Alertmanager webhook payload."""
    lines = []
    for alert in payload.get("alerts", []):
        labels = alert.get("labels", {})
        record = {
            "received_at": received_at.isoformat(timespec="milliseconds"),
            "receiver": payload.get("receiver", ""),
            "status": alert.get("status", payload.get("status", "")),
            "alertname": labels.get("alertname", ""),
            "severity": labels.get("severity", ""),
            "labels": labels,
            "annotations": alert.get("annotations", {}),
            "starts_at": alert.get("startsAt", ""),
            "ends_at": alert.get("endsAt", ""),
            "fingerprint": alert.get("fingerprint", ""),
            "group_key": payload.get("groupKey", ""),
        }
        lines.append(json.dumps(record, sort_keys=True))
    return lines


class AlertFile:
    """Appends whole lines under a lock, so concurrent notifications never interleave."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()

    def append(self, lines: list[str]) -> None:
        if not lines:
            return
        with self._lock, self.path.open("a", encoding="utf-8") as out:
            out.write("".join(line + "\n" for line in lines))


def make_handler(alerts: AlertFile) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self._answer(200 if self.path == "/healthz" else 404, "ok\n")

        def do_POST(self):
            if self.path != "/alerts":
                return self._answer(404, "POST alerts to /alerts\n")
            length = int(self.headers.get("Content-Length") or 0)
            if not 0 < length <= MAX_BODY:
                return self._answer(400, "expected a JSON body\n")
            try:
                payload = json.loads(self.rfile.read(length))
            except ValueError:
                return self._answer(400, "not JSON\n")
            lines = alert_lines(payload, datetime.now(UTC))
            alerts.append(lines)
            return self._answer(200, f"{len(lines)} alerts\n")

        def _answer(self, status: int, body: str) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format, *args):
            print(f"webhook: {self.address_string()} {format % args}", file=sys.stderr)

    return Handler


def serve(listen: str, out: Path) -> ThreadingHTTPServer:
    host, _, port = listen.rpartition(":")
    out.parent.mkdir(parents=True, exist_ok=True)
    return ThreadingHTTPServer((host, int(port)), make_handler(AlertFile(out)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m stack.webhook", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--listen", default="127.0.0.1:19094")
    parser.add_argument("--out", required=True, help="the JSON-lines file alerts are appended to")
    args = parser.parse_args(argv)
    try:
        server = serve(args.listen, Path(args.out))
    except (ValueError, OSError) as exc:
        print(f"webhook: cannot listen on {args.listen!r}: {exc}", file=sys.stderr)
        return 2
    print(f"webhook: listening on {args.listen}, appending to {args.out}", file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

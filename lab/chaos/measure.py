"""What a fault did, from the run's request log and Alertmanager's notifications: pure, rows in,
figures out (the longest request, error shares, the last failure, the alert's times)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

# A request still failing this long after the fault's removal is past the recovery target.
RECOVERY_TARGET_S = 10.0
# "During" a fault that is over at once (a kill the server answers for itself): its first second.
INSTANT_S = 1.0


@dataclass(frozen=True)
class Request:
    """One request as the load tool logged it (results/<testid>/orders.jsonl)."""

    endpoint: str
    t: float  # epoch seconds when sent
    ms: float  # until the answer came, or the tool gave up
    status: int  # 0: no answer

    @property
    def end(self) -> float:
        return self.t + self.ms / 1000

    @property
    def failed(self) -> bool:
        """No answer, or the server's fault (5xx); a 409 (no stock, no points) is an answer."""
        return self.status == 0 or self.status >= 500


def read_requests(path: Path) -> Iterator[Request]:
    """The timed lines of the log; a torn last line (the tool stopped mid-write) is skipped."""
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            try:
                row = json.loads(line)
                yield Request(str(row.get("endpoint", "orders")), float(row["t"]),
                              float(row["ms"]), int(row["status"]))  # fmt: skip
            except (ValueError, KeyError, TypeError):
                if line.endswith("\n") and line.strip():
                    raise ValueError(f"{path}: not a timed request: {line[:80]!r}") from None


@dataclass(frozen=True)
class Impact:
    requests_during: int  # in flight at some point between injection and removal (INSTANT_S)
    errors_during: float | None  # share of those that failed; None: no request
    requests_after: int  # sent after that
    errors_after: float | None
    longest_ms: float | None  # of every request in flight from injection to removal + target
    longest_endpoint: str
    last_failure_s: float | None  # when the last failed request sent after removal ended


def _share(rows: list[Request]) -> float | None:
    return sum(r.failed for r in rows) / len(rows) if rows else None


def impact(requests: Iterable[Request], injected: float, removed: float) -> Impact:
    rows = list(requests)
    until = max(removed, injected + INSTANT_S)
    during = [r for r in rows if r.t <= until and r.end >= injected]
    after = [r for r in rows if r.t > until]
    horizon = removed + RECOVERY_TARGET_S
    watched = [r for r in rows if r.t <= horizon and r.end >= injected]
    longest = max(watched, key=lambda r: r.ms, default=None)
    late = [r.end - removed for r in rows if r.t > removed and r.failed]
    return Impact(
        requests_during=len(during),
        errors_during=_share(during),
        requests_after=len(after),
        errors_after=_share(after),
        longest_ms=longest.ms if longest else None,
        longest_endpoint=longest.endpoint if longest else "",
        last_failure_s=max(late) if late else None,
    )


def failed_since(requests: Iterable[Request], t: float) -> int:
    """How many requests sent after `t` (epoch seconds) failed."""
    return sum(r.failed for r in requests if r.t > t)


@dataclass(frozen=True)
class AlertEvent:
    """One alert instance (fingerprint and start) as the webhook file tells it."""

    name: str
    labels: dict
    fired_at: float  # epoch seconds (Prometheus' activeAt + for:)
    resolved_at: float | None  # None: no resolved notification yet


# 2026-12-07T00:01:02.123456789Z -> at most microseconds for datetime.
_FRACTION = re.compile(r"(\.\d{6})\d+")


def _epoch(stamp: str) -> float | None:
    if not stamp or stamp.startswith("0001-"):
        return None
    return datetime.fromisoformat(_FRACTION.sub(r"\1", stamp).replace("Z", "+00:00")).timestamp()


def read_alerts(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def alert_events(lines: Iterable[dict]) -> list[AlertEvent]:
    """Notifications (several per alert: firing, repeats, resolved) folded into alerts."""
    events: dict[tuple[str, str], AlertEvent] = {}
    for line in lines:
        fired = _epoch(line.get("starts_at", ""))
        if fired is None:
            continue
        key = (line.get("fingerprint", ""), line.get("starts_at", ""))
        resolved = _epoch(line.get("ends_at", "")) if line.get("status") == "resolved" else None
        known = events.get(key)
        if known is None or (resolved is not None and known.resolved_at is None):
            events[key] = AlertEvent(line.get("alertname", ""), line.get("labels", {}), fired,
                                     resolved)  # fmt: skip
    return sorted(events.values(), key=lambda e: e.fired_at)


def first_alert(
    events: Iterable[AlertEvent], names: Iterable[str], start: float, end: float
) -> AlertEvent | None:
    """The first of `names` that fired within [start, end]."""
    wanted = set(names)
    return next((e for e in events if e.name in wanted and start <= e.fired_at <= end), None)


def fired_within(events: Iterable[AlertEvent], start: float, end: float) -> list[str]:
    """Every alert name that fired within [start, end], once each, in firing order."""
    return list(dict.fromkeys(e.name for e in events if start <= e.fired_at <= end))

"""The run history: one JSON object per line (JSONL), appended by `make gate` and the nightly
capacity search, read by `make trend` and the deck.

A record: when (epoch seconds and ISO time), which commit, which source (`gate`, `capacity`),
its run's testid, the machine speed index beside it, and its key figures (the names of
FIGURES, None where not measured). Appending is one write of one line, so a crash never leaves
half a record; a line that does not parse is skipped and counted, never fatal.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

# name -> (label, unit, higher is better): the figures a record may carry.
FIGURES = {
    "rate": ("achieved rate (hold)", "/s", True),
    "orders_p95_ms": ("POST /api/orders p95", "ms", False),
    "popular_p95_ms": ("GET /api/products/popular p95", "ms", False),
    "cpu_ms_per_request": ("shop CPU per request", "ms", False),
    "capacity_tps": ("capacity (max sustainable rate)", "/s", True),
}


@dataclass(frozen=True)
class Record:
    timestamp: float
    commit: str | None
    source: str  # gate, capacity
    figures: dict  # FIGURES name -> value or None
    testid: str = ""
    speed_index: float | None = None
    settings: dict = field(default_factory=dict)  # what ran: tool, rate, scale ...

    @property
    def time(self) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(self.timestamp))

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "time": self.time}, sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping) -> Record:
        return cls(
            timestamp=float(data["timestamp"]),
            commit=data.get("commit"),
            source=str(data["source"]),
            figures={k: v for k, v in dict(data.get("figures") or {}).items() if k in FIGURES},
            testid=str(data.get("testid") or ""),
            speed_index=data.get("speed_index"),
            settings=dict(data.get("settings") or {}),
        )


def record(
    source: str,
    figures: Mapping[str, float | None],
    *,
    commit: str | None,
    testid: str = "",
    speed_index: float | None = None,
    settings: Mapping | None = None,
    timestamp: float | None = None,
) -> Record:
    unknown = set(figures) - set(FIGURES)
    if unknown:
        raise ValueError(f"not a history figure: {', '.join(sorted(unknown))}")
    return Record(time.time() if timestamp is None else timestamp, commit, source,
                  dict(figures), testid, speed_index, dict(settings or {}))  # fmt: skip


def append(path: Path, rec: Record) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as out:
        out.write(rec.to_json() + "\n")


@dataclass(frozen=True)
class History:
    records: tuple[Record, ...]
    skipped: int = 0  # lines that did not parse

    def of(self, source: str) -> list[Record]:
        """One source's records, oldest first."""
        return sorted((r for r in self.records if r.source == source), key=lambda r: r.timestamp)

    @property
    def sources(self) -> list[str]:
        return sorted({r.source for r in self.records})


def parse(lines: Iterable[str]) -> History:
    records, skipped = [], 0
    for line in lines:
        if not line.strip():
            continue
        try:
            records.append(Record.from_dict(json.loads(line)))
        except (ValueError, KeyError, TypeError):
            skipped += 1
    return History(tuple(records), skipped)


def read(path: Path) -> History:
    """The history at `path`; empty when there is none yet."""
    if not path.exists():
        return History(())
    return parse(path.read_text(encoding="utf-8").splitlines())

"""Grafana's units as the report writes them: numbers in tables and text, axes of graphs."""

from __future__ import annotations

import time

# Grafana unit -> (d3 tick format, suffix) for a plotly axis: `.3~s` is SI with three significant
# digits (0.2 s -> 200ms; a right axis synced to the left one ticks 574k, not 574.375k).
AXES = {
    "s": (".3~s", "s"),
    "ms": (".3~s", " ms"),
    "percentunit": (".1~%", ""),
    "percent": (".3~s", " %"),
    "reqps": (".3~s", " req/s"),
    "opm": (".3~s", " /min"),
    "ops": (".3~s", " /s"),
    "bytes": (".3~s", "B"),
    "decbytes": (".3~s", "B"),
    "Bps": (".3~s", "B/s"),
    "dateTimeFromNow": ("", ""),
}
_IEC = ("B", "KiB", "MiB", "GiB", "TiB")


def axis(unit: str) -> dict:
    fmt, suffix = AXES.get(unit, (".3~s", ""))
    out = {"ticksuffix": suffix, "rangemode": "tozero"}
    if fmt:
        out["tickformat"] = fmt
    return out


def _bytes(v: float) -> str:
    i = 0
    while abs(v) >= 1024 and i < len(_IEC) - 1:
        v, i = v / 1024, i + 1
    return f"{v:.1f} {_IEC[i]}" if i else f"{v:.0f} B"


def fmt(v: float | None, unit: str = "short", decimals: int | None = None) -> str:
    """A value the way the panel's unit reads it (Grafana's conventions, our precision)."""
    if v is None:
        return "n/a"
    if decimals is not None and unit in ("short", "none"):
        return f"{v:.{decimals}f}"
    if unit == "s":
        return f"{v * 1000:.1f} ms" if abs(v) < 1 else f"{v:.2f} s"
    if unit == "ms":
        return f"{v:.1f} ms"
    if unit == "percentunit":
        return f"{v * 100:.2f} %"
    if unit == "percent":
        return f"{v:.1f} %"
    if unit in ("bytes", "decbytes"):
        return _bytes(v)
    if unit == "Bps":
        return _bytes(v) + "/s"
    if unit in ("reqps", "ops"):
        return f"{v:.1f} /s"
    if unit == "opm":
        return f"{v:.1f} /min"
    if unit == "dateTimeFromNow":  # Grafana's time units read epoch milliseconds
        return time.strftime("%H:%M:%S", time.localtime(v / 1000)) if v > 1e12 else "never"
    return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"


def figure(v, unit: str = "", decimals: int = 2) -> str:
    """A figure of the side-by-side table: a count whole ("16"), a measure to `decimals`."""
    if v is None:
        return "n/a"
    return f"{v:.{decimals}f}{unit}" if isinstance(v, int | float) else f"{v}{unit}"


def delta(v: float | None, unit: str = "", decimals: int = 2) -> str:
    """Run minus baseline, signed: "+0", "-1" for counts, "+12.21/s" for measures."""
    return "" if v is None else f"{v:+.{decimals}f}{unit}"


def count(v: float | None) -> str:
    """A count (which Prometheus answers as a float) as the whole number it is."""
    return "n/a" if v is None else f"{v:.0f}"


def limits(by_service: dict) -> str:
    """The run's container limits in one line: `shop (2 replicas): 1 CPUs, 8 GB; mysql: ...`
    (a replicated service's figures are its replicas' together)."""
    parts = []
    for name, v in by_service.items():
        copies = v.get("replicas") or 1
        label = f"{name} ({copies} replicas)" if copies > 1 else name
        parts.append(f"{label}: {fmt(v.get('cpus'))} CPUs, {fmt(v.get('memory_bytes'), 'bytes')}")
    return "; ".join(parts) or "none known"

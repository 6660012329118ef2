"""The chaos run as one Markdown table, a row per fault (printed; kept in docs/reliability.md)."""

from __future__ import annotations

from lab.chaos.session import ChaosResult, FaultResult

HEADER = (
    "| fault | longest request | errors during | errors after | healthy after removal "
    "| alert: fired / resolved | audit | verdict |",
    "|---|---|---|---|---|---|---|---|",
)


def _pct(share: float | None, n: int) -> str:
    return "n/a" if share is None else f"{share * 100:.1f} % of {n}"


def _s(value: float | None, prefix: str = "") -> str:
    return "n/a" if value is None else f"{prefix}{value:.1f} s"


def _alert(f: FaultResult) -> str:
    if not f.expected_alerts:
        fired = ", ".join(f.other_alerts)
        return f"none expected{f' ({fired} fired)' if fired else ''}"
    if not f.alert:
        return f"NONE of {', '.join(f.expected_alerts)}"
    resolved = _s(f.alert_resolved_s, "+") if f.alert_resolved_s is not None else "not yet"
    return f"{f.alert} {_s(f.alert_fired_s, '+')} / {resolved}"


def _audit(f: FaultResult) -> str:
    books = "books ok" if f.audit_passed else "FAIL"
    text = f"{books}, {f.lost} lost, {f.double_charged} double-charged"
    if f.remote_write is not None:
        rw = f.remote_write
        text += f"; k6 {rw['tool']} = Prometheus {rw['prometheus']}"
        if rw["tool"] != rw["prometheus"]:
            text = text.replace(" = ", " != ")
    return text


def row(f: FaultResult) -> str:
    longest = "n/a"
    if f.longest_ms is not None:
        longest = f"{f.longest_ms / 1000:.2f} s ({f.longest_endpoint}; timeout {f.timeout_s:.0f} s)"
    verdict = "PASS" if f.passed else "FAIL: " + "; ".join(f.problems)
    cells = (f.fault, longest, _pct(f.errors_during, f.requests_during),
             _pct(f.errors_after, f.requests_after), _s(f.recovery_s), _alert(f), _audit(f),
             verdict)  # fmt: skip
    return "| " + " | ".join(cells) + " |"


def table(result: ChaosResult) -> list[str]:
    return [*HEADER, *(row(f) for f in result.faults)]

"""Small PromQL builders the signals are written with: selectors, shares, zero fallbacks."""

from __future__ import annotations


def selector(metric: str, *matchers: str) -> str:
    """`metric{a,b}` from the non-empty matchers; the bare name when there are none."""
    inside = ",".join(m for m in matchers if m)
    return f"{metric}{{{inside}}}" if inside else metric


def summed(expr: str, by: str = "") -> str:
    return f"sum by ({by}) ({expr})" if by else f"sum ({expr})"


def or_zero(expr: str, like: str) -> str:
    """`expr`, or 0 for every series of `like` while `expr` has none (a counter of failures
    appears only with the first failure)."""
    return f"({expr} or {like} * 0)"


def share(part: str, whole: str, by: str = "") -> str:
    """sum(part) / sum(whole), grouped `by`; 0 rather than no data while `part` has no series."""
    return f"{or_zero(summed(part, by), summed(whole, by))} / {summed(whole, by)}"


def with_label(expr: str, name: str, value: str) -> str:
    """`expr` with the label `name` set to `value` on every series."""
    return f'label_replace({expr}, "{name}", "{value}", "", "")'

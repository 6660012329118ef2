"""How every component reads its knobs from an environment mapping: one reader per kind (text,
number, whole, flag, choice, size, duration, url), each failing with one line naming the variable.

Every settings class (`from_env(mapping)`) is built from these, so `0/1/true/false/yes/no/on/off`
mean the same everywhere and an empty value always means "the default". Nothing here reads
os.environ: the caller passes the mapping.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

__all__ = [
    "KnobError",
    "choice",
    "duration",
    "flag",
    "number",
    "size",
    "text",
    "url",
    "whole",
]

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
# A size: 512m, 4g, 65536 (bytes); k, m, g are binary (1024) as in compose and cgroups.
_SIZE = re.compile(r"^(\d+)([kmg]?)b?$", re.I)
# A Prometheus duration of hours, minutes and seconds: 90s, 5m, 1h30m.
_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


class KnobError(ValueError):
    """A knob with a bad value; the message is one line that names the variable."""


def text(env: Mapping[str, str], name: str, default: str = "") -> str:
    """The value stripped of surrounding blanks; unset or empty: `default`."""
    raw = (env.get(name) or "").strip()
    return raw if raw else default


def _bounded(name: str, raw: str, value: float, lo: float | None, hi: float | None) -> None:
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        if lo is not None and hi is not None:
            span = f"from {lo:g} to {hi:g}"
        elif lo is not None:
            span = f"at least {lo:g}"
        else:
            span = f"at most {hi:g}"
        raise KnobError(f"{name}={raw!r} is out of range: {span}")


def number(
    env: Mapping[str, str],
    name: str,
    default: float,
    *,
    lo: float | None = None,
    hi: float | None = None,
    positive: bool = False,
) -> float:
    """A finite decimal number within [lo, hi]; `positive` also refuses 0."""
    raw = text(env, name)
    if not raw:
        return float(default)
    try:
        value = float(raw)
    except ValueError:
        raise KnobError(f"{name}={raw!r} is not a number") from None
    if not math.isfinite(value):
        raise KnobError(f"{name}={raw!r} is not a finite number")
    if positive and value <= 0:
        raise KnobError(f"{name}={raw!r} must be a positive number")
    _bounded(name, raw, value, lo, hi)
    return value


def whole(
    env: Mapping[str, str],
    name: str,
    default: int,
    *,
    lo: int | None = 0,
    hi: int | None = None,
) -> int:
    """A whole number within [lo, hi] (not negative unless lo says so)."""
    raw = text(env, name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise KnobError(f"{name}={raw!r} is not a whole number") from None
    _bounded(name, raw, value, lo, hi)
    return value


def flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    """On or off: 1, true, yes, on / 0, false, no, off (any case)."""
    raw = text(env, name).lower()
    if not raw:
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise KnobError(f"{name}={raw!r} is not a flag (1 or 0, true or false, yes or no, on or off)")


def choice(env: Mapping[str, str], name: str, default: str, choices: Sequence[str]) -> str:
    """One of `choices`, exactly as written."""
    value = text(env, name, default)
    if value not in choices:
        raise KnobError(f"{name}={value!r} is not one of {', '.join(choices)}")
    return value


def size(env: Mapping[str, str], name: str, default: str) -> int:
    """Bytes from a size such as 512m or 4g (k, m, g: powers of 1024)."""
    raw = text(env, name, default)
    match = _SIZE.match(raw)
    if not match:
        raise KnobError(f"{name}={raw!r} is not a size like 512m or 4g")
    return int(match[1]) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[match[2].lower()]


def duration(env: Mapping[str, str], name: str, default: str) -> int:
    """Seconds from a Prometheus duration of hours, minutes and seconds (10s, 5m, 1h30m)."""
    raw = text(env, name, default)
    match = _DURATION.match(raw)
    if not raw or not match:
        raise KnobError(f"{name}={raw!r} is not a duration like 10s, 5m or 1h30m")
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def url(env: Mapping[str, str], name: str, default: str, schemes: Sequence[str]) -> str:
    """A URL starting with one of `schemes` (`http`, `mysql+pymysql`, ...), trailing / dropped."""
    value = text(env, name, default)
    scheme, sep, rest = value.partition("://")
    if not sep or scheme not in schemes or not rest:
        wanted = " or ".join(f"{s}://" for s in schemes)
        raise KnobError(f"{name}={value!r} is not a URL starting with {wanted}")
    return value.rstrip("/")

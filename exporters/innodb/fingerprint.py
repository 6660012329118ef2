"""Statement fingerprints and redaction: literals out, so statements can be labels and leak nothing.

`redact` keeps a statement readable (layout, case) with every literal replaced by `?`, comments
dropped and lists collapsed; `fingerprint` is that, normalised into a short, stable label value.
"""

from __future__ import annotations

import re

MAX_FINGERPRINT_LENGTH = 160

# One pass over everything that can hold a literal or hide one:
#   'it''s \' ok'  "double"  `ident`  /* comment */  -- comment  # comment  0x1F  X'1F'  12.5e3
TOKEN = re.compile(
    r"""
      (?P<single>'(?:[^'\\]|\\.|'')*(?:'|\Z))        # string, also one cut off at the end
    | (?P<double>"(?:[^"\\]|\\.|"")*(?:"|\Z))        # "string" (or ANSI_QUOTES identifier)
    | (?P<ident>`(?:[^`]|``)*`)                      # `identifier`: kept
    | (?P<comment>/\*.*?(?:\*/|\Z)|--[ \t][^\n]*|\#[^\n]*)
    | (?P<hex>\b0[xX][0-9a-fA-F]+\b|\b[xX]'[0-9a-fA-F]*'|\b0[bB][01]+\b)
    | (?P<number>(?<![\w$.])(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w$]))
    """,
    re.X | re.S,
)

# IN (?, ?, ?)
IN_LIST = re.compile(r"\bIN\s*\(\s*\?(?:\s*,\s*\?)*\s*\)", re.I)

# VALUES (?, ?, NOW()), (?, ?, NOW())
VALUES_LIST = re.compile(
    r"\b(VALUES?)\s*\((?:[^()]|\([^()]*\))*\)(?:\s*,\s*\((?:[^()]|\([^()]*\))*\))*", re.I
)

WHITESPACE = re.compile(r"\s+")


def _replace(match: re.Match) -> str:
    kind = match.lastgroup
    if kind == "ident":
        return match.group()
    if kind == "comment":
        return " "
    return "?"


def redact(sql: str | None) -> str | None:
    """The statement with literals as `?`, comments removed, IN/VALUES lists collapsed."""
    if sql is None:
        return None
    text = TOKEN.sub(_replace, sql)
    text = IN_LIST.sub("IN (?+)", text)
    text = VALUES_LIST.sub(lambda m: f"{m.group(1)} (?+)", text)
    return text.strip()


def fingerprint(sql: str | None) -> str:
    """A bounded label for a statement: redacted, one line, lower case, at most 160 chars."""
    if not sql:
        return ""
    text = WHITESPACE.sub(" ", redact(sql) or "").strip().rstrip(";").strip().lower()
    if len(text) > MAX_FINGERPRINT_LENGTH:
        text = text[: MAX_FINGERPRINT_LENGTH - 3].rstrip() + "..."
    return text

"""InnoDB deadlock reports parsed: status text or error log in, dataclasses out; no I/O here.

Formats understood: MySQL 5.0-5.7, MySQL 8.0.18+ (`(n) HOLDS THE LOCK(S)` for every
transaction), MariaDB 10.6+ (`*** CONFLICTING WITH:`, `MariaDB thread id`), identifiers in
backticks, double quotes or bare, queries over several lines, the text as the mysql client prints
it (`\\G`, table borders, batch mode with `\\n` escapes), and error logs written with
`innodb_print_all_deadlocks=ON` by MySQL 5.5 to 8.x and MariaDB.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

# Lock modes in the vocabulary of MySQL 8's performance_schema.data_locks.LOCK_MODE.
LOCK_MODES = (
    "X",
    "S",
    "X,REC_NOT_GAP",
    "S,REC_NOT_GAP",
    "X,GAP",
    "S,GAP",
    "X,GAP,INSERT_INTENTION",
    "X,INSERT_INTENTION",
    "IX",
    "IS",
    "AUTO_INC",
)

# Why a piece of text did not give (complete) deadlock records. Bounded: these are label values.
PARSE_ERROR_REASONS = (
    "not_status_output",  # the text has no InnoDB monitor header at all (garbage)
    "truncated",  # a deadlock record stops before its end (no "WE ROLL BACK" line)
    "no_transactions",  # a deadlock record without a single transaction in it
    "unparsed_lock",  # a RECORD LOCKS / TABLE LOCK line that did not match
    "unknown_lock_mode",  # a lock mode outside the data_locks vocabulary
    "unknown_victim",  # the victim number names no printed transaction (MDEV-29187 prints 0)
)

DEADLOCK_TITLE = "LATEST DETECTED DEADLOCK"
MONITOR_HEADER = "INNODB MONITOR OUTPUT"


@dataclass(frozen=True)
class Lock:
    """One lock as printed in a deadlock report."""

    schema: str | None
    table: str | None
    index: str | None  # None for a table lock
    type: str  # RECORD or TABLE, as data_locks.LOCK_TYPE
    mode: str  # one of LOCK_MODES (or the raw text, upper-cased, if unknown)
    trx_id: str | None = None
    waiting: bool = False

    def as_dict(self) -> dict:
        return {
            "schema": self.schema,
            "table": self.table,
            "index": self.index,
            "type": self.type,
            "mode": self.mode,
        }

    @property
    def label_key(self) -> tuple[str | None, str | None, str | None, str, str]:
        return (self.schema, self.table, self.index, self.type, self.mode)


@dataclass
class Transaction:
    """One transaction of a deadlock: who it was, what it ran, what it waited for and held."""

    number: int
    trx_id: str | None = None
    thread_id: int | None = None
    host: str | None = None
    user: str | None = None
    query: str | None = None
    waiting: Lock | None = None
    holding: list[Lock] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "number": self.number,
            "trx_id": self.trx_id,
            "thread_id": self.thread_id,
            "query": self.query,
            "waiting": self.waiting.as_dict() if self.waiting else None,
            "holding": [lock.as_dict() for lock in self.holding],
        }


@dataclass
class Deadlock:
    """One deadlock: when, which transactions, which one InnoDB rolled back."""

    timestamp: datetime | None
    victim: int | None  # 1-based transaction number, as in "WE ROLL BACK TRANSACTION (2)"
    too_deep: bool
    transactions: list[Transaction]

    @property
    def key(self) -> tuple:
        """Identity across sources: trx ids never repeat on a server, thread ids pin them down.

        The timestamp is left out on purpose: the status text and the error log print the same
        deadlock with clocks that may straddle a second.
        """
        return (
            tuple(sorted((t.trx_id or "", t.thread_id or 0) for t in self.transactions)),
            self.victim,
        )

    @property
    def victim_transaction(self) -> Transaction | None:
        for trx in self.transactions:
            if trx.number == self.victim:
                return trx
        return None

    def as_dict(self) -> dict:
        return {
            "timestamp": self.timestamp.isoformat() if self.timestamp else None,
            "victim": self.victim,
            "too_deep": self.too_deep,
            "transactions": [trx.as_dict() for trx in self.transactions],
        }


@dataclass
class ParseResult:
    deadlocks: list[Deadlock] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # reasons from PARSE_ERROR_REASONS

    def extend(self, other: ParseResult) -> None:
        self.deadlocks.extend(other.deadlocks)
        self.errors.extend(other.errors)


# ---------------------------------------------------------------------------------------------
# Regular expressions, each with a line it matches above it.

# 2022-11-25 15:58:22 139815661168384
# 2014-10-16 18:36:30 0x7fc2a95c1700
# 111212 22:52:42
# 120906  6:03:32
# 130624 17:39:24TOO DEEP OR LONG SEARCH IN THE LOCK TABLE WAITS-FOR GRAPH, WE WILL ROLL BACK ...
TIMESTAMP_LINE = re.compile(
    r"^(?:(?P<y4>\d{4})-(?P<m4>\d\d)-(?P<d4>\d\d)|(?P<y2>\d\d)(?P<m2>\d\d)(?P<d2>\d\d))"
    r"[ T]+(?P<H>\d{1,2}):(?P<M>\d\d):(?P<S>\d\d)(?P<frac>\.\d+)?(?P<tz>Z|[+-]\d\d:?\d\d)?"
)

# *** (1) TRANSACTION:
# *** TRANSACTION:
TRX_HEADER = re.compile(r"^\*\*\* (?:\((?P<n>\d+)\) )?TRANSACTION:")

# TRANSACTION 3405, ACTIVE 161 sec starting index read
# TRANSACTION 0 3793488, ACTIVE 2 sec, process no 5488, OS thread id 1141287232 starting index read
# TRANSACTION 3BF88F886, ACTIVE 0 sec setting auto-inc lock
TRX_LINE = re.compile(r"^TRANSACTION (?P<id>\d+ \d+|[0-9A-Fa-f]+)\s*,")

# MySQL thread id 19, OS thread handle 0x7fac301e4700, query id 180 localhost root Updating
# MariaDB thread id 6, OS thread handle 140685588498112, query id 19 127.0.0.1 root Updating
# MySQL thread id 11, query id 350 localhost baron Updating
THREAD_LINE = re.compile(
    r"^(?:MySQL|MariaDB) thread id (?P<thread>\d+),(?: OS thread handle \S+,)?"
    r" query id \d+(?: (?P<rest>.*))?$"
)

# *** (1) WAITING FOR THIS LOCK TO BE GRANTED:
# *** WAITING FOR THIS LOCK TO BE GRANTED:
WAITING_HEADER = re.compile(r"^\*\*\* (?:\((?P<n>\d+)\) )?WAITING FOR THIS LOCK TO BE GRANTED")

# *** (2) HOLDS THE LOCK(S):
HOLDS_HEADER = re.compile(r"^\*\*\* (?:\((?P<n>\d+)\) )?HOLDS THE LOCK")

# *** CONFLICTING WITH:
CONFLICTING_HEADER = re.compile(r"^\*\*\* CONFLICTING WITH")

# *** WE ROLL BACK TRANSACTION (2)
ROLLBACK_LINE = re.compile(r"^\*\*\* WE ROLL BACK TRANSACTION \((?P<n>\d+)\)")

# RECORD LOCKS space id 5 page no 3 n bits 320 index PRIMARY of table `shop`.`users` trx id 27 \
#   lock_mode X locks rec but not gap waiting
# RECORD LOCKS space id 0 page no 3662 n bits 72 index `GEN_CLUST_INDEX` of table \
#   `test/innotop_dl` trx id 0 3793488 lock_mode X waiting
RECORD_LOCK = re.compile(
    r"^RECORD LOCKS space id \d+ page no \d+ n bits \d+ index (?P<index>.+?) of table"
    r" (?P<table>.+?) trx id (?P<trx>\d+ \d+|[0-9A-Fa-f]+) lock[ _]mode (?P<mode>.+)$"
)

# TABLE LOCK table `db`.`gr_v3_response_log` trx id 3BF88F886 lock mode AUTO-INC waiting
TABLE_LOCK = re.compile(
    r"^TABLE LOCK table (?P<table>.+?) trx id (?P<trx>\d+ \d+|[0-9A-Fa-f]+)"
    r" lock[ _]mode (?P<mode>.+)$"
)

# X locks gap before rec insert intention waiting
# S locks rec but not gap
# AUTO-INC waiting
LOCK_MODE_TEXT = re.compile(
    r"^(?P<base>X|S|IX|IS|AUTO-INC)(?P<gap> locks gap before rec)?"
    r"(?P<not_gap> locks rec but not gap)?(?P<ii> insert intention)?(?P<waiting> waiting)?\s*$"
)

# `shop`.`users`   "db"."semaphore"   test/innotop_dl   `t` /* Partition `p0` */
IDENTIFIER = re.compile(r'`((?:[^`]|``)*)`|"((?:[^"]|"")*)"|([^.`"\s]+)')
PARTITION_COMMENT = re.compile(r"\s*/\*.*?\*/")
PARTITION_SUFFIX = re.compile(r"#[Pp]#.*$")

# ----------------------------------------------------------------------------------------------
# 2026-11-24 16:29:26 6 [Note] InnoDB: *** WAITING FOR THIS LOCK TO BE GRANTED:
# 2025-11-10T08:52:25.728850+08:00 0 [Note] [MY-012469] [InnoDB]  *** (1) TRANSACTION:
# 2014-10-16 18:36:30 7fc2a95c1700 InnoDB: Transactions deadlock detected, dumping detailed ...
# 2026-11-24 16:29:26 6 [Warning] Aborted connection 6 to db: 'shop' user: 'root' host: ...
# 2026-12-02  0:21:33 7 [Note] InnoDB: Transactions deadlock detected, dumping detailed ...
#   (MariaDB pads the hour with a space before 10:00: two spaces after the date)
LOG_EVENT = re.compile(
    r"^(?P<ts>\d{4}-\d\d-\d\d(?:T| +)\d{1,2}:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?"
    r"|\d{6} [ \d]\d:\d\d:\d\d)"
    r"\s+(?:[0-9a-fA-Fx]+\s*)?(?:\[(?P<level>[A-Za-z]+)\]\s*)?(?:\[MY-\d+\]\s*)?"
    r"(?P<innodb>\[InnoDB\]|InnoDB:)?\s*(?P<msg>.*)$"
)

# Transactions deadlock detected, dumping detailed information.
DEADLOCK_DETECTED = re.compile(r"[Tt]ransactions deadlock detected, dumping detailed information")

# ------------
# TRANSACTIONS
# ------------
SECTION_BOUNDARY = re.compile(
    r"^-{3,}\n(?:[A-Z][A-Z0-9 /&()'-]*\n-{3,}$|END OF INNODB MONITOR)", re.M
)

# | InnoDB |      | =====================================
CLIENT_TABLE_ROW = re.compile(r"^\|\s*InnoDB\s*\|[^|\n]*\|[ \t]?", re.M)

# +--------+------+--------------------------------
CLIENT_TABLE_BORDER = re.compile(r"^\+-+\+-*\+-*\+\s*$", re.M)

# \n \t \\ as the mysql client escapes them in batch mode
CLIENT_ESCAPE = re.compile(r"\\([nt0\\])")
_UNESCAPE = {"n": "\n", "t": "\t", "0": "\0", "\\": "\\"}

# What follows "query id N host user" when the manual wrapped the line: "root updating".
THREAD_STATES = frozenset(
    {
        "updating",
        "update",
        "starting",
        "statistics",
        "init",
        "sending data",
        "executing",
        "preparing",
        "optimizing",
        "searching rows for update",
        "end",
        "query end",
        "closing tables",
        "freeing items",
        "cleaning up",
        "system lock",
        "opening tables",
        "checking permissions",
        "sorting result",
        "creating sort index",
        "copy to tmp table",
        "inserting",
        "deleting",
        "updating main table",
        "updating reference tables",
    }
)


# ---------------------------------------------------------------------------------------------
# Entry points.


def parse_status(text: str) -> ParseResult:
    """`SHOW ENGINE INNODB STATUS` text in: the latest deadlock (zero or one) out."""
    text = unwrap_client_output(text)
    result = ParseResult()
    if MONITOR_HEADER not in text and DEADLOCK_TITLE not in text:
        result.errors.append("not_status_output")
        return result
    for _, parsed in _status_sections(text):
        result.extend(parsed)
    return result


def parse_error_log(text: str, *, final: bool = True) -> tuple[ParseResult, int]:
    """Error log text in: every deadlock in it, in order.

    Returns the result and how many characters were consumed. With `final=False` a record that
    is still being written at the end of `text` is left unconsumed, to be parsed again when the
    rest of it has arrived; with `final=True` it counts as truncated.
    """
    result = ParseResult()
    consumed = len(text)
    for start, end, parsed in _error_log_records(text):
        if end is None and not final:
            consumed = start
            break
        result.extend(parsed)
    return result, consumed


def parse_document(text: str) -> ParseResult:
    """Any file a person hands us (status dump, error log, both): every deadlock in file order.

    The same deadlock printed twice (the status dump inside an error log, say) is given once.
    """
    text = unwrap_client_output(text)
    found: list[tuple[int, ParseResult]] = list(_status_sections(text))
    found.extend((start, parsed) for start, _, parsed in _error_log_records(text))
    found.sort(key=lambda item: item[0])
    result = ParseResult()
    seen: set[tuple] = set()
    for _, parsed in found:
        result.errors.extend(parsed.errors)
        for deadlock in parsed.deadlocks:
            if deadlock.key not in seen:
                seen.add(deadlock.key)
                result.deadlocks.append(deadlock)
    return result


def holds_innodb_text(text: str) -> bool:
    """Whether `text` has any InnoDB status output or error-log deadlock dump at all (a quiet
    server's status has no deadlock but still its header; /etc/passwd has neither)."""
    text = unwrap_client_output(text)
    return MONITOR_HEADER in text or DEADLOCK_TITLE in text or bool(DEADLOCK_DETECTED.search(text))


def unwrap_client_output(text: str) -> str:
    """Undo what the mysql client did to the status text: `\\n` escapes, table borders."""
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    if text.count("\\n") > text.count("\n"):
        text = CLIENT_ESCAPE.sub(lambda m: _UNESCAPE[m.group(1)], text)
    head = text[:4096]
    if "| InnoDB" in head or "|InnoDB" in head:
        row = CLIENT_TABLE_ROW.search(text)
        if row:
            body = text[row.end() :]
            border = body.rfind("\n+-")
            if border != -1:
                body = body[:border]
            text = re.sub(r"[ \t]*\|[ \t]*$", "", body.rstrip())
    return text


# ---------------------------------------------------------------------------------------------
# Finding the records.


def _status_sections(text: str) -> Iterable[tuple[int, ParseResult]]:
    """Every LATEST DETECTED DEADLOCK section: (offset, what it gave)."""
    position = 0
    while True:
        title = text.find(DEADLOCK_TITLE, position)
        if title == -1:
            return
        position = title + len(DEADLOCK_TITLE)
        line_start = text.rfind("\n", 0, title) + 1
        if text[line_start:title].strip() or text[position : position + 1] not in ("\n", ""):
            continue  # the words inside some other line, not the section title
        body_start = text.find("\n", position) + 1
        if body_start == 0:
            yield title, ParseResult(errors=["truncated"])
            return
        if text.startswith("-", body_start):  # the dashes under the title
            body_start = text.find("\n", body_start) + 1 or len(text)
        end = len(text)
        boundary = SECTION_BOUNDARY.search(text, body_start)
        if boundary:
            end = boundary.start()
        rollback = text.find("*** WE ROLL BACK TRANSACTION", body_start, end)
        if rollback != -1:
            end = text.find("\n", rollback, end)
            end = len(text) if end == -1 else end
        lines = text[body_start:end].split("\n")
        yield title, _parse_record(lines, default_timestamp=None)
        position = end


def _error_log_records(text: str) -> Iterable[tuple[int, int | None, ParseResult]]:
    """Every deadlock dump in an error log: (start, end or None if unfinished, result).

    A dump is the "deadlock detected" line and what follows, up to "WE ROLL BACK TRANSACTION".
    Other messages written in between (other threads log too) are skipped, not taken as the end.
    """
    if "ransactions deadlock detected" not in text:
        return
    position = 0
    while found := DEADLOCK_DETECTED.search(text, position):
        start = text.rfind("\n", 0, found.start()) + 1
        head = LOG_EVENT.match(text[start : _line_end(text, start)])
        timestamp = parse_timestamp(head.group("ts")) if head else None
        lines: list[str] = []
        end: int | None = None
        cursor = _line_end(text, start)
        while cursor < len(text):
            line_start = cursor + 1
            line_end = _line_end(text, line_start)
            if line_start >= len(text):
                break
            line = text[line_start:line_end]
            event = LOG_EVENT.match(line)
            if event and (event.group("level") or event.group("innodb")):
                message = event.group("msg")
                if DEADLOCK_DETECTED.search(message):
                    end = cursor  # the next dump starts: this one never finished
                    break
                foreign = not event.group("innodb") or (message and not message.startswith("***"))
                if foreign:
                    if any("TOO DEEP OR LONG SEARCH" in seen for seen in lines):
                        end = cursor  # old servers print no "WE ROLL BACK" after TOO DEEP
                        break
                    cursor = line_end
                    continue
                line = message
            lines.append(line)
            cursor = line_end
            if line.lstrip().startswith("*** WE ROLL BACK TRANSACTION"):
                end = line_end
                break
        yield start, end, _parse_record(lines, default_timestamp=timestamp)
        if end is None:
            return
        position = end


def _line_end(text: str, start: int) -> int:
    end = text.find("\n", start)
    return len(text) if end == -1 else end


# ---------------------------------------------------------------------------------------------
# One record.


def _parse_record(lines: list[str], default_timestamp: datetime | None) -> ParseResult:
    lines = _join_wrapped_lines(lines)
    timestamp = default_timestamp
    too_deep = False
    errors: list[str] = []
    transactions: list[Transaction] = []
    by_number: dict[int, Transaction] = {}
    conflicting: list[Lock] = []
    current: Transaction | None = None
    target: Transaction | None = None
    state = ""  # "", "trx", "query", "waiting", "holding", "conflicting"
    query: list[str] = []
    victim: int | None = None
    complete = False

    def flush_query() -> None:
        if current is not None and query:
            current.query = "\n".join(query).strip() or None
        query.clear()

    for raw in lines:
        line = raw.strip()
        if not transactions:
            stamp = TIMESTAMP_LINE.match(line)
            if stamp:
                timestamp = _timestamp_from_match(stamp) or timestamp
                if "TOO DEEP OR LONG SEARCH" in line:
                    too_deep = True
                continue
        if line.startswith("***"):
            if state == "query":
                flush_query()
            if m := TRX_HEADER.match(line):
                number = int(m.group("n")) if m.group("n") else len(transactions) + 1
                current = Transaction(number=number)
                transactions.append(current)
                by_number[number] = current
                state = "trx"
            elif m := WAITING_HEADER.match(line):
                target = by_number.get(int(m.group("n"))) if m.group("n") else current
                state = "waiting"
            elif m := HOLDS_HEADER.match(line):
                target = by_number.get(int(m.group("n"))) if m.group("n") else current
                state = "holding"
            elif CONFLICTING_HEADER.match(line):
                state = "conflicting"
            elif m := ROLLBACK_LINE.match(line):
                victim = int(m.group("n"))
                complete = True
                break
            else:
                state = ""
            continue
        if "TOO DEEP OR LONG SEARCH" in line:
            too_deep = True
            continue
        if state == "trx" and current is not None:
            if m := TRX_LINE.match(line):
                current.trx_id = normalise_trx_id(m.group("id"))
            elif m := THREAD_LINE.match(line):
                current.thread_id = int(m.group("thread"))
                current.host, current.user = _host_user(m.group("rest") or "")
                state = "query"
        elif state == "query":
            query.append(raw.rstrip())
        elif state in ("waiting", "holding", "conflicting") and line.startswith(
            ("RECORD LOCKS ", "TABLE LOCK ")
        ):
            lock, reason = parse_lock_line(line)
            if reason:
                errors.append(reason)
            if lock is None:
                continue
            if state == "conflicting":
                conflicting.append(lock)
            elif target is not None and state == "waiting":
                if target.waiting is None:
                    target.waiting = lock
            elif target is not None:
                target.holding.append(lock)
    if state == "query":
        flush_query()

    by_trx_id = {trx.trx_id: trx for trx in transactions if trx.trx_id}
    for lock in conflicting:
        owner = by_trx_id.get(lock.trx_id)
        if owner is not None:
            owner.holding.append(lock)
    for trx in transactions:
        trx.holding = _unique_locks(trx.holding)

    if not transactions:
        return ParseResult(errors=[*errors, "no_transactions" if complete else "truncated"])
    if not complete and not too_deep:
        return ParseResult(errors=[*errors, "truncated"])
    if victim is None:  # TOO DEEP: the one transaction printed is the one rolled back
        victim = transactions[0].number
    if victim not in by_number:
        errors.append("unknown_victim")
        victim = None
    deadlock = Deadlock(
        timestamp=timestamp, victim=victim, too_deep=too_deep, transactions=transactions
    )
    return ParseResult(deadlocks=[deadlock], errors=errors)


def _join_wrapped_lines(lines: list[str]) -> list[str]:
    """Rejoin lines a manual page wrapped: a lock line without its `trx id`, a thread line
    whose `user state` went to the next line."""
    joined: list[str] = []
    skip = False
    for i, line in enumerate(lines):
        if skip:
            skip = False
            continue
        nxt = lines[i + 1] if i + 1 < len(lines) else None
        stripped = line.strip()
        if (
            nxt is not None
            and stripped.startswith(("RECORD LOCKS ", "TABLE LOCK "))
            and " trx id " not in stripped
        ):
            joined.append(f"{stripped} {nxt.strip()}")
            skip = True
            continue
        if nxt is not None and stripped.startswith(("MySQL thread id", "MariaDB thread id")):
            m = THREAD_LINE.match(stripped)
            rest = (m.group("rest") or "").split() if m else []
            words = nxt.strip().split(None, 1)
            if m and len(rest) == 1 and len(words) == 2 and words[1].lower() in THREAD_STATES:
                joined.append(f"{stripped} {nxt.strip()}")
                skip = True
                continue
        joined.append(line)
    return joined


def _unique_locks(locks: list[Lock]) -> list[Lock]:
    seen: set[tuple] = set()
    unique = []
    for lock in locks:
        if lock.label_key not in seen:
            seen.add(lock.label_key)
            unique.append(lock)
    return unique


def _host_user(rest: str) -> tuple[str | None, str | None]:
    """`localhost root Updating`, `host.example 10.0.0.1 root update` -> (host, user)."""
    words = rest.split()
    if not words:
        return None, None
    host = words[0]
    others = words[1:]
    if others and _looks_like_ip(others[0]) and not _looks_like_ip(host):
        others = others[1:]
    return host, (others[0] if others else None)


def _looks_like_ip(word: str) -> bool:
    return bool(re.fullmatch(r"[\d.]+|[0-9a-fA-F:]+:[0-9a-fA-F:.]*", word))


# ---------------------------------------------------------------------------------------------
# Pieces, public because the collector and the tests use them too.


def parse_lock_line(line: str) -> tuple[Lock | None, str | None]:
    """A RECORD LOCKS / TABLE LOCK line -> (Lock, error reason or None)."""
    if m := RECORD_LOCK.match(line):
        lock_type, index = "RECORD", unquote_identifier(m.group("index"))
    elif m := TABLE_LOCK.match(line):
        lock_type, index = "TABLE", None
    else:
        return None, "unparsed_lock"
    schema, table = split_table_name(m.group("table"))
    mode, waiting, known = normalise_lock_mode(m.group("mode"))
    lock = Lock(
        schema=schema,
        table=table,
        index=index,
        type=lock_type,
        mode=mode,
        trx_id=normalise_trx_id(m.group("trx")),
        waiting=waiting,
    )
    return lock, None if known else "unknown_lock_mode"


def normalise_lock_mode(text: str) -> tuple[str, bool, bool]:
    """`X locks gap before rec insert intention waiting` -> ("X,GAP,INSERT_INTENTION", True, True).

    Returns (mode, waiting, known).
    """
    m = LOCK_MODE_TEXT.match(text.strip())
    if not m:
        raw = text.strip()
        waiting = raw.endswith(" waiting")
        raw = raw.removesuffix(" waiting")
        return raw.upper().replace(" ", "_"), waiting, False
    base = "AUTO_INC" if m.group("base") == "AUTO-INC" else m.group("base")
    parts = [base]
    if m.group("gap"):
        parts.append("GAP")
    if m.group("not_gap"):
        parts.append("REC_NOT_GAP")
    if m.group("ii"):
        parts.append("INSERT_INTENTION")
    return ",".join(parts), bool(m.group("waiting")), True


def normalise_trx_id(text: str) -> str:
    """Trx ids as printed; the old two-number form `0 3793488` becomes one number."""
    if " " in text:
        high, low = text.split()
        return str((int(high) << 32) + int(low))
    return text


def unquote_identifier(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in '`"':
        return text[1:-1].replace(text[0] * 2, text[0])
    return text


def split_table_name(text: str) -> tuple[str | None, str | None]:
    """`shop`.`users`, "db"."t", db.t, `test/innotop_dl`, `t` /* Partition `p0` */ -> parts."""
    text = PARTITION_COMMENT.sub("", text).strip()
    parts = [
        (m.group(1) or "").replace("``", "`")
        if m.group(1) is not None
        else (m.group(2) or "").replace('""', '"')
        if m.group(2) is not None
        else m.group(3)
        for m in IDENTIFIER.finditer(text)
    ]
    if len(parts) == 1 and "/" in parts[0]:
        parts = parts[0].split("/", 1)
    if not parts:
        return None, None
    table = PARTITION_SUFFIX.sub("", parts[-1])
    schema = parts[-2] if len(parts) >= 2 else None
    return schema, table


def parse_timestamp(text: str) -> datetime | None:
    m = TIMESTAMP_LINE.match(text.strip())
    return _timestamp_from_match(m) if m else None


def _timestamp_from_match(m: re.Match) -> datetime | None:
    if m.group("y4"):
        year, month, day = int(m.group("y4")), int(m.group("m4")), int(m.group("d4"))
    else:
        year, month, day = 2000 + int(m.group("y2")), int(m.group("m2")), int(m.group("d2"))
    micro = int((m.group("frac") or ".0")[1:].ljust(6, "0")[:6])
    try:
        stamp = datetime(
            year, month, day, int(m.group("H")), int(m.group("M")), int(m.group("S")), micro
        )
    except ValueError:
        return None
    tz = m.group("tz")
    if tz == "Z":
        return stamp.replace(tzinfo=UTC)
    if tz:
        sign = 1 if tz[0] == "+" else -1
        hours, minutes = int(tz[1:3]), int(tz[-2:])
        return stamp.replace(tzinfo=timezone(sign * timedelta(hours=hours, minutes=minutes)))
    return stamp

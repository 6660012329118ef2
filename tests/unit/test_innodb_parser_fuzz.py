"""The InnoDB parser on hostile text: cut, mutated and glued samples never raise nor hang,
and what it cannot read is counted in innodb_status_parse_errors_total."""

from __future__ import annotations

import functools
import re
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from exporters.innodb.collector import InnoDBCollector
from exporters.innodb.config import Settings
from exporters.innodb.parser import (
    DEADLOCK_TITLE,
    PARSE_ERROR_REASONS,
    ParseResult,
    parse_document,
    parse_error_log,
    parse_status,
    unwrap_client_output,
)
from tests.extras import extra_samples

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "innodb"


@functools.cache
def samples() -> tuple[str, ...]:
    """The project's own fixtures, and the extra corpus's samples when it is there."""
    own = [p for p in FIXTURES.iterdir() if p.is_file() and p.suffix not in (".md", ".py")]
    files = sorted(own) + extra_samples()
    return tuple(path.read_text(errors="replace") for path in files)


def test_the_samples_are_there_to_fuzz():
    # The fixtures alone hold ten documents, nine with deadlocks; the extras add twenty more.
    least = 10 + (20 if extra_samples() else 0)
    assert len(samples()) >= least
    assert sum(DEADLOCK_TITLE in text for text in samples()) >= (16 if extra_samples() else 7)


document = st.sampled_from(range(len(samples()))).map(lambda i: samples()[i])


@st.composite
def truncated(draw) -> str:
    text = draw(document)
    start = draw(st.integers(0, len(text)))
    return text[: draw(st.integers(start, len(text)))] if draw(st.booleans()) else text[start:]


# Bits of the grammar, so that mutations land on what the parser looks for.
TOKENS = [
    "\n", "*** ", "(1)", "(2)", "TRANSACTION", "RECORD LOCKS", "TABLE LOCK", "lock_mode X",
    "locks rec but not gap", "WAITING FOR THIS LOCK TO BE GRANTED", "HOLDS THE LOCK(S)",
    "*** WE ROLL BACK TRANSACTION (", "LATEST DETECTED DEADLOCK", "------------------------\n",
    "Transactions deadlock detected, dumping detailed information.", "index `PRIMARY` of table ",
    "`shop`.`users`", "2024-01-02 03:04:05 0x7f", "\\n", "|", "'", "`", "\x00", "\ufffd",
]  # fmt: skip


@st.composite
def mutated(draw) -> str:
    text = draw(document)
    for _ in range(draw(st.integers(1, 8))):
        at = draw(st.integers(0, len(text)))
        span = draw(st.integers(0, 200))
        edit = draw(st.sampled_from(["delete", "insert", "duplicate", "replace"]))
        filler = draw(st.one_of(st.sampled_from(TOKENS), st.text(max_size=20)))
        if edit == "delete":
            text = text[:at] + text[at + span :]
        elif edit == "insert":
            text = text[:at] + filler + text[at:]
        elif edit == "duplicate":
            text = text[:at] + text[at : at + span] + text[at:]
        else:
            text = text[:at] + filler + text[at + len(filler) :]
    return text


glued = st.lists(st.one_of(document, truncated(), mutated()), min_size=2, max_size=4).map("".join)
hostile = st.one_of(truncated(), mutated(), glued)

# The title on a line of its own (the parser ignores the words inside another line).
SECTION_TITLE = re.compile(rf"^[^\S\n]*{DEADLOCK_TITLE}(?:\n|\Z)", re.M)


def assert_well_formed(result: ParseResult, text: str) -> None:
    assert set(result.errors) <= set(PARSE_ERROR_REASONS), result.errors
    for deadlock in result.deadlocks:
        assert deadlock.transactions, deadlock
        numbers = [trx.number for trx in deadlock.transactions]
        assert deadlock.victim is None or deadlock.victim in numbers


@given(hostile)
def test_status_text_never_raises_and_an_unread_deadlock_section_is_counted(text):
    result = parse_status(text)
    assert_well_formed(result, text)
    if SECTION_TITLE.search(unwrap_client_output(text)) and not result.deadlocks:
        assert result.errors, "a deadlock section gave nothing and no reason"


@given(hostile)
def test_error_log_text_never_raises_and_unfinished_dumps_wait(text):
    whole, consumed = parse_error_log(text)
    assert consumed == len(text)
    assert_well_formed(whole, text)
    partial, consumed = parse_error_log(text, final=False)
    assert 0 <= consumed <= len(text)
    assert_well_formed(partial, text)
    # Whatever waits for its end is not reported yet, and nothing beyond the whole parse is.
    assert len(partial.deadlocks) <= len(whole.deadlocks)


@given(hostile)
def test_any_document_never_raises(text):
    assert_well_formed(parse_document(text), text)


@pytest.fixture(scope="module")
def collector() -> InnoDBCollector:
    # Nothing listens on port 1: the scrape reads no server, only what ingest_status was fed.
    return InnoDBCollector(Settings.from_env({"INNODB_EXPORTER_DSN": "mysql://u@127.0.0.1:1/"}))


@given(st.lists(hostile, min_size=1, max_size=3))
def test_the_collector_counts_every_reason_it_could_not_parse(collector, texts):
    registry = CollectorRegistry()
    registry.register(collector)

    def counted() -> Counter:
        return Counter({
            reason: registry.get_sample_value(
                "innodb_status_parse_errors_total", {"reason": reason}
            )
            for reason in PARSE_ERROR_REASONS
        })  # fmt: skip

    before = counted()
    expected = Counter()
    for text in texts:
        expected.update(collector.ingest_status(text).errors)
    after = counted()
    assert {r: after[r] - before[r] for r in PARSE_ERROR_REASONS} == {
        r: expected[r] for r in PARSE_ERROR_REASONS
    }

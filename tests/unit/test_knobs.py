"""The one way to read a knob: every kind, its default, and its one-line error naming the knob."""

from __future__ import annotations

import pytest

import knobs
from knobs import KnobError


@pytest.mark.parametrize("raw", ["", "   ", None])
def test_unset_or_empty_means_the_default(raw):
    env = {} if raw is None else {"K": raw}
    assert knobs.text(env, "K", "d") == "d"
    assert knobs.number(env, "K", 2.5) == 2.5
    assert knobs.whole(env, "K", 7) == 7
    assert knobs.flag(env, "K", True) is True
    assert knobs.choice(env, "K", "a", ("a", "b")) == "a"


@pytest.mark.parametrize(
    ("raw", "value"),
    [("1", True), ("true", True), ("YES", True), ("on", True),
     ("0", False), ("False", False), ("no", False), ("OFF", False)],
)  # fmt: skip
def test_a_flag_reads_every_usual_spelling_alike(raw, value):
    assert knobs.flag({"F": raw}, "F", not value) is value


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda e: knobs.number(e, "K", 1), "K='x' is not a number"),
        (lambda e: knobs.whole(e, "K", 1), "K='x' is not a whole number"),
        (lambda e: knobs.flag(e, "K", False), "K='x' is not a flag (1 or 0, true or false, "),
        (lambda e: knobs.choice(e, "K", "a", ("a", "b")), "K='x' is not one of a, b"),
        (lambda e: knobs.size(e, "K", "1g"), "K='x' is not a size like 512m or 4g"),
        (lambda e: knobs.duration(e, "K", "5s"), "K='x' is not a duration like 10s, 5m or 1h30m"),
        (lambda e: knobs.url(e, "K", "", ("http",)), "K='x' is not a URL starting with http://"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_knob(call, message):
    with pytest.raises(KnobError) as caught:
        call({"K": "x"})
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_numbers_are_bounded_and_finite():
    assert knobs.number({"N": "0.25"}, "N", 1, lo=0, hi=1) == 0.25
    assert knobs.number({}, "N", 200) == 200.0 and isinstance(knobs.number({}, "N", 200), float)
    with pytest.raises(KnobError, match=r"^N='2' is out of range: from 0 to 1$"):
        knobs.number({"N": "2"}, "N", 1, lo=0, hi=1)
    with pytest.raises(KnobError, match=r"^N='0' must be a positive number$"):
        knobs.number({"N": "0"}, "N", 1, positive=True)
    with pytest.raises(KnobError, match=r"^N='inf' is not a finite number$"):
        knobs.number({"N": "inf"}, "N", 1)
    with pytest.raises(KnobError, match=r"^W='-1' is out of range: at least 0$"):
        knobs.whole({"W": "-1"}, "W", 1)
    with pytest.raises(KnobError, match=r"^W='2.5' is not a whole number$"):
        knobs.whole({"W": "2.5"}, "W", 1)


def test_sizes_durations_and_urls():
    assert knobs.size({"S": "512m"}, "S", "1g") == 512 * 1024**2
    assert knobs.size({}, "S", "4g") == 4 * 1024**3
    assert knobs.duration({"D": "1h30m"}, "D", "5s") == 5400
    assert knobs.url({"U": "http://127.0.0.1:9090/"}, "U", "", ("http",)) == "http://127.0.0.1:9090"
    with pytest.raises(KnobError):
        knobs.url({"U": "ftp://x"}, "U", "", ("http", "https"))

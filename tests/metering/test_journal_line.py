"""The C module's `journal_line` (what the journal writes a record's line with, metering/journal.py)
against `UsageRecord.to_json`, the Python and orjson it stands in for: for arbitrary records, the same
bytes; for a record holding anything a record does not hold, None, and the journal's line is then
the Python's (or its exception, as before). And `journal_write`, the same line written straight into
the journal's map: there where it fits, given back where it does not."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relaygate.metering import journal
from relaygate.metering.journal import line_of
from relaygate.metering.usage import Attempt, UsageRecord
from relaygate.speedups import native

from .records import outcome, record_strategy

TEXT = st.one_of(st.text(max_size=12), st.text(st.characters(max_codepoint=0x7F), max_size=40),
                 st.sampled_from(['"', "\\", "\x00\x1f\x7f", "é\u2028😀", "\ud800", "a\tb\nc\rd\x08\x0c"]))
COUNT = st.one_of(st.integers(0, 5000), st.integers(-(2**63), 2**63 - 1), st.integers(2**63, 2**64 + 5),
                  st.sampled_from([2**30 - 1, 2**30, -(2**30), 2**31, -1]))
COSTS = st.one_of(st.just(Decimal(0)), st.integers(0, 10**14).map(lambda units: Decimal(units).scaleb(-10)),
                  st.decimals(allow_nan=True, allow_infinity=True), st.just(0), st.just("0.1"))
RECORDS = st.one_of(record_strategy(TEXT, COUNT, COSTS, st.one_of(st.booleans(), st.just(1))),
                    record_strategy(TEXT, COUNT, COSTS, st.booleans()).map(  # naive times: to_json's
                        lambda r: dataclasses.replace(r, created_at=r.created_at.replace(tzinfo=None))))


def python_line(record):
    return record.to_json(orjson.OPT_APPEND_NEWLINE)


def journaled(record):
    """What the journal writes: the C line, or the Python's where the C answers None."""
    return line_of(record) or python_line(record)


@settings(max_examples=2000, deadline=None)
@given(RECORDS)
def test_the_journal_line_is_the_python_line(record) -> None:
    assert outcome(journaled, record) == outcome(python_line, record)


def test_a_record_of_the_gateway_is_written_by_the_c_module() -> None:
    """A record as the request path makes one (plain values, UTC time, Decimal cost, attempts) is not
    left to the Python, and its line reads back as the record."""
    record = UsageRecord(
        request_id="req_0001", key='team "a"', model="gpt-4o", created_at=datetime.now(timezone.utc),
        provider="openai", upstream_model="gpt-4o-2024", prompt_tokens=23, completion_tokens=20,
        cost=Decimal("0.0000405"), latency_ms=2, ttft_ms=None, stream=True,
        attempts=(Attempt("openai", "gpt-4o", 500, 1, "server_error"),
                  Attempt("openai", "gpt-4o", 200, 2, None, 23, 20)),
    )
    line = line_of(record)
    if native is None:  # RELAYGATE_PURE=1, or no compiler: the Python line is the one used
        assert line_of is journal._line
    else:
        assert line_of.func is native.journal_line
    assert line == python_line(record) and line.endswith(b"\n")
    assert UsageRecord.from_json(line) == record


@pytest.mark.parametrize("change", [
    {"created_at": datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=2)))},  # another zone: to_json's
    {"created_at": datetime(2026, 1, 1, 12)},  # naive
    {"cost": 0.5},  # a float: orjson's own text of it, whatever that is
    {"prompt_tokens": 2**64},  # beyond what orjson writes: its error
    {"attempts": ({"provider": "x"},)},  # not an Attempt
    {"attempts": [Attempt("p", "m", 200, 1)]},  # a list, not the tuple a record holds
    {"key": "\ud800"},  # not UTF-8: orjson's error
])
def test_anything_unusual_is_left_to_the_python(change) -> None:
    record = dataclasses.replace(UsageRecord("r", "k", "m", datetime.now(timezone.utc)), **change)
    if native is not None:
        assert native.journal_line(Attempt, record) is None
    assert outcome(journaled, record) == outcome(python_line, record)


def test_an_attempt_with_a_private_or_extra_field_is_written_as_orjson_writes_it() -> None:
    attempt = Attempt("p", "m", 200, 1)
    attempt.__dict__["_note"] = "left out"
    attempt.__dict__["extra"] = 7
    record = UsageRecord("r", "k", "m", datetime.now(timezone.utc), attempts=(attempt,))
    assert journaled(record) == python_line(record)
    assert b'"extra":7' in journaled(record) and b"_note" not in journaled(record)


def test_a_long_line_grows_its_buffer() -> None:
    record = UsageRecord("r" * 3000, "k\n" * 500, "m", datetime.now(timezone.utc),
                         attempts=tuple(Attempt("p" * 100, "m", 200, n) for n in range(40)))
    assert journaled(record) == python_line(record) and len(python_line(record)) > 10_000


def written(record, room: int, start: int):
    """What `journal_write` gives for `record` at `start` of a map of `room` bytes, and the map."""
    space = bytearray(room)
    return native.journal_write(Attempt, space, start, record), space


@pytest.mark.skipif(native is None, reason="the C module is not built (RELAYGATE_PURE)")
@settings(max_examples=500, deadline=None)
@given(RECORDS, st.integers(0, 1200), st.integers(0, 1200))
def test_the_line_written_into_the_map_is_the_journal_line(record, room, start) -> None:
    line = outcome(lambda r: native.journal_line(Attempt, r), record)
    result = outcome(lambda r: written(r, room, start), record)
    if not isinstance(line, bytes):  # None (the Python writes it) or an exception: the same
        assert (result[0] if isinstance(result, tuple) else result) == line
        return
    answer, space = result
    if start + len(line) <= room:
        assert answer == start + len(line)
        assert space[start:answer] == line and not space[:start].strip(b"\0") and not space[answer:].strip(b"\0")
    else:
        assert answer == line and not space.strip(b"\0")  # nothing written where it does not fit


@pytest.mark.skipif(native is None, reason="the C module is not built (RELAYGATE_PURE)")
def test_without_a_map_or_into_a_read_only_one() -> None:
    record = UsageRecord("r", "k", "m", datetime.now(timezone.utc))
    line = native.journal_line(Attempt, record)
    assert native.journal_write(Attempt, None, 0, record) == line
    answer, space = written(record, 10 + len(line), 10)  # exactly the room it needs
    assert answer == 10 + len(line) and space[10:] == line
    assert written(record, 9 + len(line), 10)[0] == line  # a byte short
    with pytest.raises(BufferError):
        native.journal_write(Attempt, bytes(4096), 0, record)
    with pytest.raises(ValueError):
        native.journal_write(Attempt, bytearray(4096), -1, record)


@pytest.mark.parametrize("escaped", ['"', "\\", "\x00", "\x1f", "\n", "\x7f", "é", "京"])
def test_a_character_to_escape_is_found_at_every_place_of_a_string(escaped) -> None:
    """The C module looks eight bytes at a time for a byte to escape: each place in and across them."""
    for at in range(26):
        text = "abcdefghijklmnopqrstuvwxy"[:at] + escaped + "z" * (25 - at)
        record = UsageRecord(text, "k", "m", datetime.now(timezone.utc), attempts=(Attempt(text, "m", 200, 1),))
        assert journaled(record) == python_line(record)

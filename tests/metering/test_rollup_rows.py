"""The C module's rollup of SQLite rows against metering/sink.py's `rollup_rows`, the Python it
stands in for: the same rollup rows, in the same order, for arbitrary rows (days, keys and models
repeated and not, times shorter than a day, texts beyond ASCII, counts at 64 bits' edges), the same
kind of error for rows it cannot sum, and a sum past 64 bits refused (SQLite would refuse it too)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relaygate.metering.sink import _DIALECTS, COST, RECORD_COLUMNS, SQLITE_ROLLUP_SHAPE, rollup_rows
from relaygate.speedups import native

from .records import mixed, outcome

pytestmark = pytest.mark.skipif(native is None, reason="the C module is not built (RELAYGATE_PURE)")

SQLITE = _DIALECTS["sqlite"]
SIXTY_FOUR = 2**63
DAYS = st.sampled_from(["2026-11-23 21:51:35.485490", "2026-11-24 00:00:00.000000", "2026-11-23", "2026-1",
                        "", "2026-11-23\u00e9 10:00", "\u4eac\u90fd-11-23 01:02:03"])
NAMES = st.sampled_from(["team-a", "team-b", "\u00e9quipe", "gpt-4o", "qwen-plus", ""])


def python(rows):
    return rollup_rows(SQLITE, rows)


def c(rows):
    return native.rollup_rows(SQLITE_ROLLUP_SHAPE, rows)


def row(created, key, model, counts, cost):
    values = [None] * len(RECORD_COLUMNS)
    values[1], values[2], values[17] = key, model, created
    values[5:9] = counts
    values[COST] = cost
    return tuple(values)


ROWS = st.lists(st.builds(row, DAYS, NAMES, NAMES, st.lists(st.integers(-(10**12), 10**12), min_size=4, max_size=4),
                          st.integers(-(10**15), 10**15)), max_size=40)


@settings(max_examples=300, deadline=None)
@given(rows=ROWS)
def test_the_c_rollup_is_the_pythons(rows) -> None:
    assert c(rows) == python(rows)


def test_the_rollup_of_a_writers_rows() -> None:
    rows = [SQLITE.row_of(record) for record in mixed(500)]
    assert c(rows) == python(rows)
    assert len(c(rows)) > 1  # several days, keys and models, sorted


@pytest.mark.parametrize("odd", [
    row("2026-11-23", "k", "m", [1, 2, 3, None], 5),  # a count missing
    row("2026-11-23", "k", "m", [1, 2, 3, 4], None),  # no cost
    row("2026-11-23", "k", "m", [1, 2, 3, "4"], 5),  # a count as text
    row("2026-11-23", ["k"], "m", [1, 2, 3, 4], 5),  # an unhashable key
])
def test_rows_it_cannot_sum_raise_as_in_python(odd) -> None:
    rows = [row("2026-11-23", "k", "m", [1, 2, 3, 4], 5), odd]
    assert outcome(c, rows) is outcome(python, rows) is TypeError


def test_a_sum_past_64_bits_is_refused() -> None:
    rows = [row("2026-11-23", "k", "m", [SIXTY_FOUR - 1, 0, 0, 0], 0), row("2026-11-23", "k", "m", [1, 0, 0, 0], 0)]
    with pytest.raises(OverflowError):
        c(rows)
    assert c(rows[:1])[0][4] == SIXTY_FOUR - 1


def test_a_shape_or_rows_it_cannot_read_are_refused() -> None:
    with pytest.raises(TypeError):
        c([("too", "short")])
    with pytest.raises(TypeError):
        native.rollup_rows(SQLITE_ROLLUP_SHAPE, tuple())
    with pytest.raises(ValueError):
        native.rollup_rows((10, 17, 1, 2, 5, 9, 9), [])  # more counts than it sums
    with pytest.raises(TypeError):
        c([row(b"2026-11-23", "k", "m", [1, 2, 3, 4], 5)])  # a time not as text

"""The C module's `record_row` (what the writer makes a record's row with, metering/sink.py) against
`_Dialect.record_row`, the Python it stands in for: for arbitrary records, the same values, of the
same types, on both databases, and the same exceptions."""

from datetime import datetime, timezone
from decimal import Decimal

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relaygate.metering.sink import _DIALECTS
from relaygate.metering.usage import UsageRecord
from relaygate.speedups import native

from .records import outcome, record_strategy

COUNT = st.one_of(st.integers(0, 5000), st.integers(0, 2**31 - 1))
COSTS = st.one_of(st.just(Decimal(0)), st.integers(0, 10**14).map(lambda units: Decimal(units).scaleb(-10)),
                  st.decimals(0, 10**6, allow_nan=False, allow_infinity=False, places=14))
RECORDS = record_strategy(st.text(max_size=12), COUNT, COSTS, st.booleans())


def typed(row):
    return row if isinstance(row, type) else [(type(value), value) for value in row]


@settings(max_examples=1500, deadline=None)
@given(st.sampled_from(sorted(_DIALECTS)), RECORDS)
def test_the_c_row_is_the_python_row(dialect, record) -> None:
    rows = _DIALECTS[dialect]
    if native is None:  # RELAYGATE_PURE=1, or no compiler: the Python one is the one used
        assert rows.row_of == rows.record_row
        return
    assert typed(outcome(rows.row_of, record)) == typed(outcome(rows.record_row, record))


def test_a_record_that_cannot_be_written_fails_alike() -> None:
    """A time orjson cannot write (a subclass: SQLite's form is cut from orjson's text), an attempt that
    is no dataclass, a cost that is no Decimal."""
    class Moment(datetime):
        pass

    good = UsageRecord("req_1", "k", "m", datetime(2026, 12, 7, 17, 0, 0, 5, tzinfo=timezone.utc), cost=Decimal("0.5"))
    broken = [UsageRecord("req_2", "k", "m", Moment(2026, 12, 7, tzinfo=timezone.utc)),
              UsageRecord("req_3", "k", "m", good.created_at, attempts=(object(),)),
              UsageRecord("req_4", "k", "m", good.created_at, cost="0.5")]
    for dialect, rows in _DIALECTS.items():
        assert rows.row_of(good) == rows.record_row(good)
        assert rows.row_of(good)[17] == ("2026-12-07 17:00:00.000005" if dialect == "sqlite" else good.created_at)
        for record in broken:
            assert typed(outcome(rows.row_of, record)) == typed(outcome(rows.record_row, record)), (dialect, record)
            assert dialect == "postgresql" or isinstance(outcome(rows.row_of, record), type)  # SQLite's all fail
    with pytest.raises(orjson.JSONEncodeError):
        _DIALECTS["sqlite"].row_of(broken[1])


def test_fields_are_read_as_python_reads_them() -> None:
    """The C function reads a record's slots directly once it has seen its class; a class whose field
    is a property, one that reads attributes its own way, and a slot never set read as Python reads them."""
    class Renamed(UsageRecord):
        __slots__ = ()

        @property
        def provider(self) -> str:
            return "renamed"

        @provider.setter
        def provider(self, value) -> None:
            pass

    class Logged(UsageRecord):
        __slots__ = ()

        def __getattribute__(self, name):
            value = super().__getattribute__(name)
            return value.upper() if name == "model" else value

    moment = datetime(2026, 12, 7, 18, 0, tzinfo=timezone.utc)
    records = [UsageRecord("req_1", "k", "m", moment), Renamed("req_2", "k", "m", moment),
               Logged("req_3", "k", "m", moment), UsageRecord("req_4", "k", "m", moment)]
    unset = UsageRecord("req_5", "k", "m", moment)
    del unset.key
    for rows in _DIALECTS.values():
        for record in records:
            assert rows.row_of(record) == rows.record_row(record)
        assert rows.row_of(records[1])[3] == "renamed" and rows.row_of(records[2])[2] == "M"
        assert outcome(rows.row_of, unset) is AttributeError is outcome(rows.record_row, unset)


@pytest.mark.parametrize("text", ["0", "-0", "0.0000405000", "0E-10", "1E-7", "1E+3", "12", "-0.5", "0.00000000005",
                                  "0.00000000015", "99999999.9999999999", "123456789.5", "1.000000000000", "NaN"])
def test_a_cost_is_stored_as_the_python_stores_it(text) -> None:
    """SQLite's money is read off the cost's text in C where it is plain digits; exponents, digits past
    the money scale (rounded half to even by the Python), large amounts and NaN go to the Python."""
    record = UsageRecord("req_1", "k", "m", datetime(2026, 12, 7, 19, 0, tzinfo=timezone.utc), cost=Decimal(text))
    rows = _DIALECTS["sqlite"]
    assert typed(outcome(rows.row_of, record)) == typed(outcome(rows.record_row, record))

"""The C module's budget pieces against the Python code they stand in for: `Account` against
governance/budgets.py's PyAccount over arbitrary runs of reservations, settlements, bookings and
days (the same answers, the same counts, the same exceptions), `Hold` and `Verdict` against the
dataclasses PyHold and PyVerdict (made, compared and printed alike), and `utc_today` against the
clock and against `_UtcDay` at the same instants."""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relaygate.governance import budgets as budgets_module
from relaygate.governance.budgets import Account, PyAccount, _UtcDay, utc_today
from relaygate.governance.limits import PyVerdict, Verdict
from relaygate.governance.shared_budgets import Hold, PyHold
from relaygate.speedups import PURE_ENV, native


AMOUNTS = st.one_of(
    st.decimals(min_value=Decimal("-5"), max_value=Decimal("5"), places=4, allow_nan=False),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.integers(-3, 10**20),
)
PERIODS = st.sampled_from([None, "daily", "monthly", "weekly", "".join(["dai", "ly"])])  # an equal str, not the same one
DAYS = st.dates(min_value=date(2026, 10, 28), max_value=date(2027, 1, 3))


@st.composite
def operations(draw):
    return draw(st.lists(st.one_of(
        st.tuples(st.just("reserve"), AMOUNTS, PERIODS, AMOUNTS, DAYS),
        st.tuples(st.just("settle"), AMOUNTS, AMOUNTS, DAYS),
        st.tuples(st.just("book"), AMOUNTS),
        st.tuples(st.just("roll"), DAYS),
        st.tuples(st.just("spent"), PERIODS),
    ), max_size=40))


def state(account) -> tuple:
    return account.day, account.month, account.today, account.this_month, account.total, account.reserved


def outcome(call):
    """What a call answered, or the exception it raised (by type: both raise the same ones)."""
    try:
        return ("ok", call())
    except (ArithmeticError, InvalidOperation, TypeError) as exc:
        return ("raised", type(exc))


def same(a, b) -> bool:
    """Equal, or both NaN (a NaN count is what both keep after booking one)."""
    return a == b or (str(a) == str(b) and "NaN" in str(a))


@settings(max_examples=1500, deadline=None)
@given(DAYS, operations())
def test_the_c_account_answers_as_the_python_one(first, ops) -> None:
    if native is None:  # RELAYGATE_PURE=1, or no compiler: the Python pieces are the ones used
        return
    c, py = native.Account(first), PyAccount(first)
    for op, *args in ops:
        answers = outcome(lambda: getattr(c, op)(*args)), outcome(lambda: getattr(py, op)(*args))
        assert answers[0][0] == answers[1][0] and (
            answers[0][1] == answers[1][1] or same(answers[0][1], answers[1][1])), (op, args, answers)
        assert all(same(x, y) for x, y in zip(state(c), state(py))), (op, args, state(c), state(py))


def test_the_c_account_counts_in_whatever_numbers_it_is_given() -> None:
    if native is None:  # RELAYGATE_PURE=1, or no compiler: the Python pieces are the ones used
        return
    account = native.Account(date(2026, 11, 30))
    assert (account.today, account.total, account.reserved, account.month) == (0, 0, 0, (2026, 11))
    assert type(account.total) is Decimal
    assert account.reserve(Decimal("1.00"), "monthly", Decimal("0.60"), date(2026, 11, 30))
    assert not account.reserve(Decimal("1.00"), "monthly", Decimal("0.60"), date(2026, 11, 30))
    account.settle(Decimal("0.60"), Decimal("0.25"), date(2026, 12, 1))  # booked on the next day, in a new month
    assert (account.today, account.this_month, account.total, account.reserved) == (
        Decimal("0.25"), Decimal("0.25"), Decimal("0.25"), 0)
    assert account.spent("daily") == account.spent("monthly") == Decimal("0.25") and account.month == (2026, 12)
    account.total += Decimal(2)  # loaded from the rollup, as BudgetLedger.load adds it
    assert account.spent(None) == Decimal("2.25")
    with pytest.raises(TypeError):
        native.Account("2026-11-30")
    with pytest.raises(TypeError):
        account.roll("2026-12-02")
    with pytest.raises(AttributeError):
        account.day = date(2026, 12, 2)


HOLD_CALLS = [((Decimal("0.5"),), {}), ((Decimal(0), "share"), {}), ((1,), {"shared": None}),
              ((), {"amount": 2, "shared": 3})]
VERDICT_CALLS = [((True,), {}), ((True, [(b"a", b"1")], 0.0, "", None, 30), {}),
                 ((False, [], 1.5, "requests"), {}), ((True, []), {"shared": "redis"}), ((False,), {"reserved": 7})]


@pytest.mark.parametrize(("c_type", "py_type", "calls"), [
    ("Hold", PyHold, HOLD_CALLS), ("Verdict", PyVerdict, VERDICT_CALLS)])
def test_the_c_records_are_made_as_the_dataclasses_are(c_type, py_type, calls) -> None:
    if native is None:  # RELAYGATE_PURE=1, or no compiler: the Python pieces are the ones used
        return
    made = getattr(native, c_type)
    for args, kwargs in calls:
        c, py = made(*args, **kwargs), py_type(*args, **kwargs)
        fields = py_type.__slots__
        assert [getattr(c, f) for f in fields] == [getattr(py, f) for f in fields]
        assert repr(c) == repr(py).replace(py_type.__name__, c_type, 1)
        assert c == made(*args, **kwargs) and not c != made(*args, **kwargs)
        setattr(c, fields[-1], "changed")  # mutable, as the dataclasses are
        assert getattr(c, fields[-1]) == "changed" and c != made(*args, **kwargs)
    assert made(True).headers is not made(True).headers if c_type == "Verdict" else True
    for wrong in ([], [1, 2, 3, 4, 5, 6, 7], ["x"]):
        with pytest.raises(TypeError):
            made(*wrong, nope=1) if wrong == ["x"] else made(*wrong)


def test_the_c_pieces_are_used_where_the_module_is_built() -> None:
    pure = bool(os.environ.get(PURE_ENV))
    assert (Account is PyAccount, Hold is PyHold, Verdict is PyVerdict) == (pure, pure, pure)
    assert isinstance(utc_today, _UtcDay) == pure


def test_today_is_the_utc_date_now() -> None:
    before = datetime.now(timezone.utc).date()
    today = utc_today()
    assert today in (before, datetime.now(timezone.utc).date())
    again = utc_today()
    assert again is today or again != today  # worked out once per day (unless midnight just passed)


INSTANTS = [datetime(2026, 11, 23, 23, 59, 59, 900000, tzinfo=timezone.utc).timestamp()]
INSTANTS += [INSTANTS[0] + 0.2, INSTANTS[0], INSTANTS[0] + 40 * 86400, 0.0, -0.5, 951782400.0 - 1e-6, 951782400.0]
EXPECTED = [date(2026, 11, 23), date(2026, 11, 24), date(2026, 11, 23), date(2027, 1, 2), date(1970, 1, 1),
            date(1969, 12, 31), date(2000, 2, 28), date(2000, 2, 29)]


def test_the_utc_day_follows_the_clock_across_midnight_and_back(monkeypatch) -> None:
    """The Python day, its clock set to each instant: the day before and after midnight, a clock
    stepped back, a leap day."""
    clock = [0.0]
    monkeypatch.setattr(budgets_module.time, "time", lambda: clock[0])
    day = _UtcDay()
    for instant, expected in zip(INSTANTS, EXPECTED):
        clock[0] = instant
        assert day() == expected, instant


@settings(max_examples=500, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(INSTANTS), st.floats(-1e10, 1e11, allow_nan=False)), max_size=20))
def test_the_c_day_is_the_python_day_at_every_instant(instants) -> None:
    if native is None:  # RELAYGATE_PURE=1, or no compiler: the Python pieces are the ones used
        return
    for instant in [*INSTANTS, *instants]:
        expected = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=instant - instant % 86400)
        assert native.utc_today_at(instant) == expected.date(), instant
    for bad in (float("nan"), float("inf"), 1e20):
        with pytest.raises(OverflowError):
            native.utc_today_at(bad)
    assert utc_today() == datetime.now(timezone.utc).date()  # the day of the clock again, after any other

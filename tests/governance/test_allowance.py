"""governance/limits.py's Allowance: the C module's (`_speedups.Allowance`) against PyAllowance, the
Python code it stands in for, over arbitrary runs of admissions and settlements: the same verdicts,
the same header bytes, the same state, to the bit."""

import math
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relaygate.governance.limits import Allowance, KeyLimits, MemoryLimiter, PyAllowance, given_headers, py_given_headers
from relaygate.speedups import PURE_ENV, native

LIMITS = st.one_of(st.none(), st.integers(1, 13), st.integers(1, 10**12))  # 60 / 7 s: sums that round
COUNTS = st.one_of(st.integers(0, 5000), st.integers(-10**4, 10**13), st.integers(-2**70, 2**70))
STEPS = st.one_of(st.just(0.0), st.just(0.0), st.floats(0, 0.01), st.floats(0, 120), st.just(1e-10))

KEY_LIMITS = st.builds(KeyLimits, LIMITS, LIMITS, st.one_of(st.none(), st.integers(0, 4)))


@st.composite
def operations(draw):
    """Admissions and settlements under one or two sets of limits (a key's limits changed), often at
    one instant, so that bursts fill an allowance to its last unit."""
    limits = draw(st.lists(KEY_LIMITS, min_size=1, max_size=2))
    return draw(st.lists(st.tuples(
        st.sampled_from(["admit", "admit", "settle"]), st.sampled_from(limits),
        COUNTS, st.one_of(st.none(), COUNTS), STEPS,
    ), max_size=60))


def state(allowance) -> tuple:
    return allowance.rpm, allowance.tpm, allowance.requests, allowance.tokens, allowance.at, allowance.in_flight


def outcome(call):
    """What a call answered, or the exception it raised (by type: both raise the same ones)."""
    try:
        return call()
    except (OverflowError, ValueError) as exc:
        return type(exc)


@settings(max_examples=1500, deadline=None)
@given(operations(), st.one_of(st.floats(0, 1e9), st.integers(10**6, 10**10).map(lambda n: n / 7)))
def test_the_c_allowance_answers_as_the_python_one(ops, start) -> None:
    if native is None:  # RELAYGATE_PURE=1, or no compiler: the Python one is the one used
        assert Allowance is PyAllowance
        return
    c, py, now = native.Allowance(), PyAllowance(), start
    for op, limits, count, used, step in ops:
        now += step
        if op == "admit":
            assert outcome(lambda: c.admit(limits.packed, count, now)) == outcome(
                lambda: py.admit(limits.packed, count, now))
        else:
            assert outcome(lambda: c.settle(limits.packed, count, used, now)) == outcome(
                lambda: py.settle(limits.packed, count, used, now))
        assert state(c) == state(py) or (math.isnan(c.tokens) and math.isnan(py.tokens))


@settings(max_examples=600, deadline=None)
@given(st.integers(1, 60), st.floats(1e3, 1e10), st.booleans())
def test_a_burst_takes_the_whole_allowance_at_any_time(limit, now, tokens) -> None:
    """A minute's allowance taken at one instant: exactly N of N + 1 admitted, however long the clock
    has run (as arrival times, `now + k * 60 / N` rounded to the clock's precision: a quarter of the
    limits lost their last unit at 1e6 s), by both, alike."""
    limits = KeyLimits(tpm=limit) if tokens else KeyLimits(rpm=limit)
    c, py = Allowance(), PyAllowance()
    answers = []
    for _ in range(limit + 1):
        answers.append(c.admit(limits.packed, 1, now))
        assert answers[-1] == py.admit(limits.packed, 1, now)
        assert state(c) == state(py)
    assert [allowed for allowed, *_ in answers] == [True] * limit + [False]


def test_the_c_allowance_is_used_where_the_module_is_built() -> None:
    assert (Allowance is PyAllowance) == bool(os.environ.get(PURE_ENV))
    limiter = MemoryLimiter()
    assert limiter.admit("k", KeyLimits(rpm=2), 1, now=0.0).allowed
    assert isinstance(limiter.keys["k"], Allowance)


@pytest.mark.parametrize("make", [PyAllowance, Allowance])
def test_headers_of_both(make) -> None:
    limits = KeyLimits(rpm=60, tpm=1000, max_concurrency=1)
    allowance = make()
    allowed, headers, wait, reason = allowance.admit(limits.packed, 250, 10.0)
    assert (allowed, wait, reason) == (True, 0.0, "")
    assert dict(headers) == {
        b"x-ratelimit-limit-requests": b"60", b"x-ratelimit-remaining-requests": b"59",
        b"x-ratelimit-reset-requests": b"1s", b"x-ratelimit-limit-tokens": b"1000",
        b"x-ratelimit-remaining-tokens": b"750", b"x-ratelimit-reset-tokens": b"15s",
    }
    assert allowance.admit(limits.packed, 1, 10.0)[2:] == (1.0, "concurrency")
    allowance.settle(limits.packed, 250, 50, 10.0)  # 200 tokens come back
    allowed, headers, _, _ = allowance.admit(limits.packed, 10, 10.5)
    assert allowed and dict(headers)[b"x-ratelimit-remaining-tokens"] == b"948"  # (50 + 10) x 0.06 s, less 0.5 s gone
    assert dict(headers)[b"x-ratelimit-reset-requests"] == b"2s"  # 1.5 s, rounded up to whole seconds


@settings(max_examples=800, deadline=None)
@given(KEY_LIMITS, st.one_of(st.integers(0, 10**6), st.integers(0, 2**70)), st.floats(0, 1e12),
       st.one_of(st.integers(0, 10**6), st.integers(0, 2**70)), st.floats(0, 1e12))
def test_the_c_headers_of_shared_limits_are_the_python_ones(limits, left_requests, reset_requests, left_tokens,
                                                             reset_tokens) -> None:
    """The headers a Redis block shows (leases.py): the C module's `rate_headers` against `py_given_headers`."""
    if native is None:
        assert given_headers is py_given_headers
        return
    args = (limits.packed, left_requests, reset_requests, left_tokens, reset_tokens)
    assert outcome(lambda: native.rate_headers(*args)) == outcome(lambda: py_given_headers(*args))

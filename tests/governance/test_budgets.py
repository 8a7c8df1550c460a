"""Budgets: reservation at admission, settlement with the real cost, periods in UTC."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from relaygate.errors import QuotaExceeded
from relaygate.governance.budgets import Budget, BudgetLedger, max_cost, output_allowance
from relaygate.metering.price_table import ModelPrice

NOV_23 = date(2026, 11, 23)  # budgets are counted per UTC day
D = Decimal


def test_reservations_in_flight_count_against_the_budget():
    ledger = BudgetLedger()
    budget = Budget(D("0.01"))
    held = [ledger.reserve("k", budget, D("0.003"), NOV_23) for _ in range(3)]
    with pytest.raises(QuotaExceeded) as refused:
        ledger.reserve("k", budget, D("0.003"), NOV_23)
    assert refused.value.status == 429 and refused.value.code == "insufficient_quota"
    assert refused.value.type == "insufficient_quota"
    assert "could cost up to $0.003" in refused.value.message and "$0.001 left" in refused.value.message
    ledger.settle("k", held[0], D("0.0001"), NOV_23)  # the real cost was far below the reservation
    ledger.reserve("k", budget, D("0.003"), NOV_23)
    assert ledger.spent("k", None, NOV_23) == D("0.0001")


def test_fifty_concurrent_requests_cannot_spend_past_the_budget():
    ledger = BudgetLedger()
    budget = Budget(D("0.01"))
    admitted = []
    for _ in range(50):
        try:
            admitted.append(ledger.reserve("k", budget, D("0.0015"), NOV_23))
        except QuotaExceeded:
            pass
    assert len(admitted) == 6
    for reserved in admitted:  # each costs its whole reservation
        ledger.settle("k", reserved, reserved, NOV_23)
    assert ledger.spent("k", None, NOV_23) == D("0.0090")
    with pytest.raises(QuotaExceeded, match="up to \\$0.0015, more than the \\$0.001 left .* budget of \\$0.01"):
        ledger.reserve("k", budget, D("0.0015"), NOV_23)


def test_an_exhausted_key_is_refused_even_for_a_request_priced_at_nothing():
    ledger = BudgetLedger()
    ledger.settle("k", D(0), D("1.00"), NOV_23)
    with pytest.raises(QuotaExceeded, match="used up its daily budget of \\$1.00 .* resets at 00:00 UTC"):
        ledger.reserve("k", Budget(D("1.00"), "daily"), D(0), NOV_23)


def test_daily_and_monthly_spend_start_again_with_their_period():
    ledger = BudgetLedger()
    ledger.settle("k", D(0), D("2"), NOV_23)
    next_day, next_month = date(2026, 11, 24), date(2026, 12, 1)
    assert ledger.spent("k", "daily", NOV_23) == 2
    assert ledger.spent("k", "daily", next_day) == 0
    assert ledger.spent("k", "monthly", next_day) == 2
    assert ledger.spent("k", "monthly", next_month) == 0
    assert ledger.spent("k", None, next_month) == 2
    ledger.reserve("k", Budget(D("2"), "daily"), D("1.5"), next_month)


def test_spend_is_loaded_from_the_rollup():
    ledger = BudgetLedger()
    ledger.load(
        totals=[("a", D("10")), ("b", D("1"))],
        days=[("a", date(2026, 11, 23), D("3")), ("a", date(2026, 11, 2), D("4")), ("b", date(2026, 11, 1), D("1"))],
        now=datetime(2026, 11, 23, 12, tzinfo=timezone.utc),
    )
    assert [ledger.spent("a", p, NOV_23) for p in ("daily", "monthly", None)] == [3, 7, 10]
    assert [ledger.spent("b", p, NOV_23) for p in ("daily", "monthly", None)] == [0, 1, 1]


def test_the_most_a_request_can_cost_is_taken_at_the_dearest_deployment():
    cheap, dear = ModelPrice(D("0.4"), D("1.2")), ModelPrice(D("3"), D("15"))
    assert max_cost([cheap, None, dear], 1000, 2000) == D("0.033")
    assert max_cost([None], 1000, 2000) == 0
    caching = ModelPrice(D("3"), D("15"), D("0.3"), D("3.75"), D("6"))  # a prompt may all be written to the cache
    assert max_cost([caching], 1000, 2000) == D("0.036") and max_cost([caching._replace(cache_write_1h=None)],
                                                                    1000, 2000) == D("0.03375")
    assert output_allowance({"max_tokens": 50}) == 50
    assert output_allowance({"max_completion_tokens": 70, "max_tokens": 50}) == 70
    assert output_allowance({}, lambda: [777]) == 777
    assert output_allowance({}, lambda: [None, 300, 777]) == 777  # the largest of the deployments' defaults
    assert output_allowance({"max_tokens": 50}, lambda: []) == 50
    assert output_allowance({"max_tokens": True}) == 4096
    assert output_allowance({"max_tokens": 50}, lambda: 1 / 0) == 50  # the defaults are not made for a request with a cap

"""governance/redis_budgets.py and store/lua/budgets.lua against a real redis-server: BudgetLedger's
rules, shared by instances, exact to 1e-10 USD."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date
from decimal import Decimal

import pytest
from _budgets import fronts, spend

from relaygate.governance.budgets import Budget
from relaygate.governance.redis_budgets import BUDGETS, RedisBudgets
from relaygate.governance.redis_limits import LIMITS, new_instance
from relaygate.store.redis import connect
from relaygate.store.redis_batch import ScriptBatch

TODAY = date(2026, 11, 23)
D = Decimal


def run(redis_server, body):
    """`await body(make, key)`: `make(alive=5.0)` gives one more instance's RedisBudgets."""
    async def main():
        client = connect(redis_server.url)

        def make(alive: float = 5.0) -> RedisBudgets:
            return RedisBudgets(ScriptBatch(client, [LIMITS, BUDGETS], on_error=print), new_instance(),
                                str(int(alive * 1_000_000)))
        try:
            return await body(make, f"key-{uuid.uuid4().hex[:8]}")
        finally:
            await client.aclose()
    return asyncio.run(main())


def test_reservations_count_against_the_budget_until_settled_with_the_real_cost(redis_server):
    budget = Budget(D("1.00"))
    async def body(make, key):
        one = make()
        steps = [await one.reserve(key, budget, D("0.40"), TODAY), await one.reserve(key, budget, D("0.40"), TODAY),
                 await one.reserve(key, budget, D("0.40"), TODAY)]  # 0.80 held: 0.40 more would pass 1.00
        await one.settle(key, D("0.40"), D("0.10"), TODAY)  # a request that cost 0.10 of its 0.40
        steps.append(await one.reserve(key, budget, D("0.40"), TODAY))  # 0.10 spent + 0.40 held + 0.40
        return steps
    steps = run(redis_server, body)
    assert [ok for ok, _, _ in steps] == [True, True, False, True]
    assert steps[2][1:] == (D(0), D("0.80")) and steps[3][1:] == (D("0.10"), D("0.40"))


def test_periods_count_their_own_spend(redis_server):
    async def body(make, key):
        one = make()
        await one.settle(key, D(0), D("3"), TODAY.replace(day=1))
        await one.settle(key, D(0), D("2"), TODAY)
        await one.settle(key, D(0), D("5"), date(2026, 10, 31))  # last month
        return [(await one.reserve(key, Budget(D("100"), period), D("1"), TODAY))[1]
                for period in ("daily", "monthly", None)]
    assert run(redis_server, body) == [D("2"), D("5"), D("10")]


def test_money_adds_up_exactly(redis_server):
    price = D("0.0000000375")  # one cached token at $0.0375 per 1M
    async def body(make, key):
        one = make()
        await asyncio.gather(*(one.settle(key, D(0), price, TODAY) for _ in range(1000)))
        return (await one.reserve(key, Budget(D("1")), D(0), TODAY))[1]
    assert run(redis_server, body) == price * 1000


def test_instances_share_what_is_held_and_a_dead_ones_hold_is_released(redis_server):
    budget = Budget(D("1.00"))
    async def body(make, key):
        survivor, dying = make(), make(alive=0.3)
        assert (await dying.reserve(key, budget, D("0.70"), TODAY))[0]
        refused = await survivor.reserve(key, budget, D("0.70"), TODAY)
        await asyncio.sleep(0.5)  # the dying instance stopped beating
        return refused, await survivor.reserve(key, budget, D("0.70"), TODAY)
    refused, after = run(redis_server, body)
    assert refused == (False, D(0), D("0.70")) and after[0]


def test_seeding_raises_counts_to_the_databases_figures_and_never_lowers_them(redis_server):
    async def body(make, key):
        one = make()
        await one.settle(key, D(0), D("2"), TODAY)  # settled here, not yet in the database
        await one.seed(key, TODAY, total=D("7"), month=D("1"), today=D("1"))
        return [(await one.reserve(key, Budget(D("100"), period), D("1"), TODAY))[1]
                for period in ("daily", "monthly", None)]
    assert run(redis_server, body) == [D("2"), D("2"), D("7")]


def test_fifty_concurrent_requests_on_two_instances_spend_at_most_the_budget(redis_server):
    """The front (shared_budgets.Budgets) of two gateways on one Redis, fifty requests at once."""
    now = TODAY
    key, budget = f"key-{uuid.uuid4().hex[:8]}", Budget(D("0.10"))

    async def main():
        instances = await fronts(redis_server.url, 2)
        admitted = await asyncio.gather(*(spend(instances[i % 2], key, budget, D("0.03"), D("0.02"), now, 0.05)
                                          for i in range(50)))
        await asyncio.sleep(0.2)  # the settlements went out in the background
        shared = (await instances[0].limiter.budgets.reserve(key, budget, D(0), now))[1:]
        for front in instances:
            await front.limiter.stop()
        return sum(admitted), shared, [front.ledger.spent(key, None, now) for front in instances]

    admitted, (spent, held), local_spend = asyncio.run(main())
    # each request holds 0.03 and spends 0.02: one instance alone would let 3 in at once, two 6
    assert 3 <= admitted <= 5 and spent == D("0.02") * admitted <= budget.amount and held == 0
    assert sum(local_spend) == spent  # each instance also booked its own spend locally


@pytest.mark.parametrize("amount", [D("0"), D("0.0000000001"), D("123456.7890123456")])
def test_units_round_trip(amount):
    from relaygate.governance.redis_budgets import usd
    from relaygate.metering.money import units_of
    assert usd(str(units_of(amount)).encode()) == amount  # as Redis answers: the count's digits

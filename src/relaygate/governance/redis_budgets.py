"""Per-key budgets shared by every instance through Redis: BudgetLedger's rules, one atomic script
(store/lua/budgets.lua) per step.

- Spend is three counters per key (in total, this UTC month, today), in whole units of 1e-10 USD
  added by Redis's INCRBY, so they stay exact; a month's and a day's counter expire after the
  period. The period's name comes from the instance's clock, as every request's cost date does.
- What requests in flight reserved is a hash per key with one field per instance, and counts only
  while that instance beats (the same heartbeat as the shared rate limits), so the reservations of
  an instance that died are released by the next admission after its heartbeat ran out.
- The database is the authority: on start, and whenever an instance reconnects to Redis, each count
  is raised to at least the database's figure (`seed`). Raised, never lowered, because the database
  lags the journal by its batch interval while the counters in Redis are up to the last settlement;
  a Redis that lost its data gets the database's figures back.
"""

from __future__ import annotations

import asyncio
from datetime import date
from functools import lru_cache
from decimal import Decimal
from typing import Any

from relaygate.governance.budgets import Budget
from relaygate.governance.redis_limits import INSTANCES
from relaygate.metering import money
from relaygate.metering.money import units_of
from relaygate.store.redis_batch import Script, ScriptBatch

PREFIX = "relaygate:budgets:"
PERIODS = {None: "1", "monthly": "2", "daily": "3"}  # which counter a budget counts
BUDGETS = Script.named("budgets")


def usd(count: int | bytes | str) -> Decimal:
    """A count of Redis's (units of 1e-10 USD) as the amount."""
    return money.usd(int(count))


class RedisBudgets:
    def __init__(self, batch: ScriptBatch, instance: str, alive_us: str) -> None:
        self.batch = batch
        self.instance = instance
        self.alive_us = alive_us

    async def reserve(self, key: str, budget: Budget, amount: Decimal, day: date) -> tuple[bool, Decimal, Decimal]:
        """(reserved?, spent in the budget's period, held by requests in flight) as they were."""
        ok, spent, held = await self.batch.call(BUDGETS, budget_keys(key, day), [
            "reserve", self.instance, self.alive_us, PERIODS[budget.period], units_of(budget.amount), units_of(amount)])
        return bool(ok), usd(spent), usd(held)

    def settle(self, key: str, reserved: Decimal, cost: Decimal, day: date) -> asyncio.Future[Any]:
        """Release a reservation and book the real cost; sent with the next batch, nobody waits for it."""
        return self.batch.send(BUDGETS, budget_keys(key, day), ["settle", self.instance, self.alive_us,
                                                               units_of(reserved), units_of(cost)])

    async def seed(self, key: str, day: date, total: Decimal, month: Decimal, today: Decimal) -> None:
        await self.batch.call(BUDGETS, budget_keys(key, day), ["seed", self.instance, self.alive_us, units_of(total), units_of(month),
                                                 units_of(today)])


@lru_cache(maxsize=4096)
def budget_keys(key: str, day: date) -> list[str]:
    """A key's counters for a day, made once a day rather than twice a request (formatting a date
    costs microseconds). Callers only read the list."""
    base = PREFIX + key
    return [base + ":total", base + f":month:{day:%Y-%m}", base + f":day:{day:%Y-%m-%d}", base + ":held", INSTANCES]

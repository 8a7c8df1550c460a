"""The budgets' front (shared_budgets.Budgets) of gateways sharing one redis-server, for the tests."""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal

from relaygate.errors import QuotaExceeded
from relaygate.governance.budgets import Budget, BudgetLedger
from relaygate.governance.limiter import Limiter
from relaygate.governance.shared_budgets import Budgets


async def fronts(redis_url: str, count: int) -> list[Budgets]:
    """`count` instances' budgets on the Redis at `redis_url`, connected."""
    made = [Budgets(BudgetLedger(), Limiter(redis_url), engine=None) for _ in range(count)]
    for front in made:
        front.limiter.on_connect.clear()  # no database here to reconcile with
        await front.limiter.start()
    return made


async def spend(front: Budgets, key: str, budget: Budget, hold: Decimal, cost: Decimal, day: date,
                pause: float) -> bool:
    """One request: reserve `hold`, take `pause` seconds, settle at `cost`; False when refused."""
    try:
        held = await front.reserve(key, budget, hold, day)
    except QuotaExceeded:
        return False
    await asyncio.sleep(pause)
    front.settle(key, held, cost, day)
    return True

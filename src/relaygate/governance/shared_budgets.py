"""The request path's budgets: Redis's shared counters while the limiter's Redis answers, else this
process's BudgetLedger (the same rules; governance/budgets.py and governance/redis_budgets.py).

A reservation is settled where it was made. Every cost is booked in the local ledger as well, so
that if Redis goes away this instance carries on from its own spend (and what the database said at
start); the other instances' spend since then is not seen until Redis is back.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from relaygate.errors import QuotaExceeded
from relaygate.governance.budgets import ZERO, Budget, BudgetLedger, refusal

if TYPE_CHECKING:
    from relaygate.governance.limiter import Limiter
    from relaygate.governance.redis_budgets import RedisBudgets

log = logging.getLogger("relaygate.budgets")


@dataclass(frozen=True, slots=True)
class Hold:
    """A request's reservation: how much, and the RedisBudgets holding it (None: this process's ledger)."""

    amount: Decimal
    shared: RedisBudgets | None = None


class Budgets:
    def __init__(self, ledger: BudgetLedger, limiter: Limiter, engine: Any) -> None:
        self.ledger = ledger
        self.limiter = limiter
        self.engine = engine
        limiter.on_connect.append(self.reconcile)

    async def reserve(self, key: str, budget: Budget, amount: Decimal, now: datetime) -> Hold:
        """Reserve `amount` USD for a request, or raise QuotaExceeded."""
        shared = self.limiter.budgets if self.limiter.redis_up else None
        if shared is not None:
            try:
                ok, spent, held = await shared.reserve(key, budget, amount, now.date())
            except self.limiter.errors as exc:
                self.limiter.lost(exc)
            else:
                if not ok:
                    raise QuotaExceeded(refusal(budget, spent, held, amount))
                return Hold(amount, shared)
        return Hold(self.ledger.reserve(key, budget, amount, now))

    def settle(self, key: str, hold: Hold | None, cost: Decimal, now: datetime) -> None:
        """The request is over: its reservation is released and its real cost booked (in Redis in the
        background: the request does not wait)."""
        if hold is not None and hold.shared is not None:
            shared, release = hold.shared, hold.amount
            self.ledger.settle(key, ZERO, cost, now)
        else:
            shared, release = self.limiter.budgets if self.limiter.redis_up else None, ZERO
            self.ledger.settle(key, hold.amount if hold is not None else ZERO, cost, now)
        if shared is not None and (release or cost):
            shared.settle(key, release, cost, now.date())

    async def reconcile(self, shared: RedisBudgets) -> None:
        """Bring Redis's counters up to the database's figures (the authority) before sharing them."""
        from relaygate.metering.report import spend_so_far

        today = datetime.now(UTC).date()
        try:
            totals, days = await spend_so_far(self.engine, today)
        except Exception as exc:  # noqa: BLE001 - the database is away: Redis's counters are all there is
            log.warning("cannot read spend from the database (%s); budgets go on from Redis's counters",
                        type(exc).__name__)
            return
        month: dict[str, Decimal] = defaultdict(Decimal)
        day: dict[str, Decimal] = defaultdict(Decimal)
        for key, when, spent in days:
            month[key] += spent
            if when == today:
                day[key] += spent
        for key, total in totals:
            await shared.seed(key, today, total, month[key], day[key])

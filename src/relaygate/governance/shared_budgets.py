"""The request path's budgets: Redis's shared counters while the limiter's Redis answers, else this
process's BudgetLedger (the same rules; governance/budgets.py and governance/redis_budgets.py).

A reservation is settled where it was made. Every cost is booked in the local ledger as well, so
that if Redis goes away this instance carries on from its own spend (and what the database said at
start); the other instances' spend since then is not seen until Redis is back.

Small requests against a large budget (at most BUDGET_PARTS-th of it, as most are) are reserved in
blocks, as governance/leases.py does for large rate limits: the instance holds a block of the budget
in Redis (held, like any reservation: the other instances cannot spend it) and reserves against it
locally; costs are booked into Redis's counters on the watcher's round, once a second, and a key idle
for IDLE seconds gives its block back. So a key may be refused while another instance holds an unused
block, by at most one block each; the budget itself is never passed.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from relaygate import speedups
from relaygate.errors import QuotaExceeded
from relaygate.governance.budgets import ZERO, Budget, BudgetLedger, refusal, utc_today
from relaygate.governance.leases import IDLE
from relaygate.metering.money import MONEY_QUANTUM

if TYPE_CHECKING:
    from relaygate.governance.limiter import Limiter
    from relaygate.governance.redis_budgets import RedisBudgets

log = logging.getLogger("relaygate.budgets")

BUDGET_PARTS = 1000  # a block of budget is this fraction of it


@lru_cache(maxsize=4096)
def block_of(budget: Budget) -> Decimal:
    """A block of this budget, worked out once per budget rather than per request."""
    return (budget.amount / BUDGET_PARTS).quantize(MONEY_QUANTUM)


class BudgetShare:
    """This instance's block of one key's budget: `granted` is held in Redis for this instance."""

    __slots__ = ("shared", "granted", "reserved", "owed", "last", "budget", "block")

    def __init__(self, shared: RedisBudgets) -> None:
        self.shared = shared  # the connection the block was taken on
        self.granted = ZERO  # held in Redis for this instance
        self.reserved = ZERO  # of which requests in flight reserved
        self.owed = ZERO  # of which settled requests spent, not booked in Redis yet
        self.last = 0.0  # when it last reserved (monotonic)
        self.budget: Budget | None = None  # the key's budget as last seen, and a block of it
        self.block = ZERO

    @property
    def free(self) -> Decimal:
        return self.granted - self.reserved - self.owed

    def block_of(self, budget: Budget) -> Decimal:
        """`block_of(budget)`, kept while the key's budget is the same object (hashing it costs more)."""
        if budget is not self.budget:
            self.budget, self.block = budget, block_of(budget)
        return self.block


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ sets each field through object.__setattr__
class PyHold:
    """A request's reservation: how much, and the RedisBudgets holding it (None: this process's
    ledger). The C module's `Hold` is the same, made without a call into Python's __init__ (a tenth
    of the cost: one is made per request)."""

    amount: Decimal
    shared: RedisBudgets | BudgetShare | None = None


Hold: Any = speedups.native.Hold if speedups.native is not None else PyHold


class Budgets:
    def __init__(self, ledger: BudgetLedger, limiter: Limiter, engine: Any) -> None:
        self.ledger = ledger
        self.limiter = limiter
        self.engine = engine
        self.shares: dict[str, BudgetShare] = {}
        limiter.on_connect.append(self.reconcile)
        limiter.on_beat.append(self.book)

    async def reserve(self, key: str, budget: Budget, amount: Decimal, day: date) -> Hold:
        """Reserve `amount` USD for a request on the UTC `day`, or raise QuotaExceeded."""
        shared = self.limiter.budgets if self.limiter.redis_up else None
        if shared is not None:
            try:
                block = block_of(budget)
                if ZERO < block and amount <= block:
                    hold = await self._from_block(key, budget, amount, block, shared, day)
                    if hold is not None:
                        return hold
                ok, spent, held = await shared.reserve(key, budget, amount, day)
            except self.limiter.errors as exc:
                self.limiter.lost(exc)
            else:
                if not ok:
                    raise QuotaExceeded(refusal(budget, spent, held, amount))
                return Hold(amount, shared)
        return self.reserve_here(key, budget, amount, day)

    def reserve_held(self, key: str, budget: Budget, amount: Decimal) -> Hold | None:
        """`reserve` without a wait when this instance's block of the key's budget covers the amount
        (most requests, Redis answering); None when that takes Redis or this process's ledger."""
        share = self.shares.get(key)
        if share is None or share.shared is not self.limiter.budgets or not self.limiter.redis_up:
            return None
        free = share.free
        if free <= 0 or free < amount:
            return None
        block = share.block_of(budget)
        if not (ZERO < block and amount <= block):
            return None
        return _held(share, amount)

    def reserve_here(self, key: str, budget: Budget, amount: Decimal, day: date) -> Hold:
        """A reservation in this process's ledger (no Redis configured, or Redis away)."""
        return Hold(self.ledger.reserve(key, budget, amount, day))

    async def _from_block(self, key: str, budget: Budget, amount: Decimal, block: Decimal, shared: RedisBudgets,
                          day: date) -> Hold | None:
        """A hold on this instance's block of the key's budget, topped up by a block when short; None
        when Redis has no block left to give (the request then asks for its own amount)."""
        share = self.shares.get(key)
        if share is None or share.shared is not shared:
            share = self.shares[key] = BudgetShare(shared)
        while share.free <= 0 or share.free < amount:
            ok, _, _ = await shared.reserve(key, budget, block, day)
            if not ok:
                return None
            share.granted += block
        return _held(share, amount)

    def settle(self, key: str, hold: Hold | None, cost: Decimal, day: date) -> None:
        """The request is over: its reservation is released and its real cost booked (in Redis in the
        background: the request does not wait)."""
        if hold is not None and isinstance(hold.shared, BudgetShare):
            hold.shared.reserved -= hold.amount
            hold.shared.owed += cost
            self.ledger.settle(key, ZERO, cost, day)
            return
        if hold is not None and hold.shared is not None:
            shared, release = hold.shared, hold.amount
            self.ledger.settle(key, ZERO, cost, day)
        else:
            shared, release = self.limiter.budgets if self.limiter.redis_up else None, ZERO
            self.ledger.settle(key, hold.amount if hold is not None else ZERO, cost, day)
        if shared is not None and (release or cost):
            shared.settle(key, release, cost, day)

    def book(self) -> None:
        """The watcher's round: what blocks' requests spent goes into Redis's counters; the blocks of
        keys idle for IDLE seconds, with nothing in flight, go back."""
        now, today = time.monotonic(), utc_today()
        for key, share in list(self.shares.items()):
            if share.shared is not self.limiter.budgets:  # taken on a connection since lost: held no more
                del self.shares[key]
                continue
            release = share.owed
            if now - share.last >= IDLE and not share.reserved:
                release = share.granted
                del self.shares[key]
            if release or share.owed:
                share.shared.settle(key, release, share.owed, today)
                share.granted -= release
                share.owed = ZERO

    async def reconcile(self, shared: RedisBudgets) -> None:
        """Bring Redis's counters up to the database's figures (the authority) before sharing them."""
        from relaygate.metering.report import spend_so_far

        today = utc_today()
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


def _held(share: BudgetShare, amount: Decimal) -> Hold:
    """A request's hold on the block: `amount` of its free part reserved."""
    share.reserved += amount
    share.last = time.monotonic()
    return Hold(amount, share)

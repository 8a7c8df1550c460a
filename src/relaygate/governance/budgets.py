"""Per-key budgets in USD that hold under concurrency: reserve at admission, book at settlement.

Admission reserves the most a request can cost (its prompt estimate at the input price, or at the
price of writing to the provider's prompt cache where that is dearer, plus its `max_tokens`, or a
cap, at the output price, at the dearest deployment it may reach). A request is
refused with 429 `insufficient_quota` when what the key has spent in its period, plus what requests
in flight have reserved, plus this reservation, would pass the budget. Settlement releases the
reservation and books the real cost. So fifty concurrent requests on a key with one cent left spend
at most that cent, give or take the prompt estimate's error.

Spend is counted per key for the current UTC day, the current UTC month and in total, so a budget
period can be changed at any time. The counts start from the database's daily rollup (every
instance starts from what all have written) and then follow this process's own settlements.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Callable, Iterable, Sequence

from relaygate import speedups
from relaygate.errors import QuotaExceeded
from relaygate.metering.money import MONEY_QUANTUM, PER_TOKENS, per_million, usd
from relaygate.metering.price_table import ModelPrice
from relaygate.metering.prices import dearest_prompt, rates_of

DEFAULT_OUTPUT_CAP = 4096  # output tokens reserved for a request that sets no max_tokens
ZERO = Decimal(0)
DAY = 86_400  # seconds in a UTC day: Unix time counts none for leap seconds


class _UtcDay:
    """Today's UTC date, worked out again only when the clock leaves the day it was worked out for:
    `datetime.now(timezone.utc).date()` per request cost more than a microsecond in the serving process."""

    __slots__ = ("day", "start", "end")

    def __init__(self) -> None:
        self.day, self.start, self.end = date(1970, 1, 1), 0.0, 0.0

    def __call__(self) -> date:
        now = time.time()
        if not self.start <= now < self.end:
            self.start = now - now % DAY
            self.end = self.start + DAY
            self.day = datetime.fromtimestamp(self.start, timezone.utc).date()
        return self.day


utc_today: Callable[[], date] = speedups.native.utc_today if speedups.native is not None else _UtcDay()


@dataclass(frozen=True, slots=True)
class Budget:
    amount: Decimal  # USD per period, or in total without a period
    period: str | None = None  # "daily", "monthly" or None


def max_cost(prices: Sequence[ModelPrice | None], prompt_tokens: int, output_tokens: int) -> Decimal:
    """The most a request can cost on any of the deployments it may reach (0 where none is priced):
    its prompt at the dearest prompt price. Summed in units (prices.py's Rates), or in Decimal
    where a price has digits beyond the money scale."""
    worst = -1
    for price in prices:
        if price is not None:
            rates = rates_of(price)
            if rates is None:
                return _most_in_decimal(prices, prompt_tokens, output_tokens)
            most = prompt_tokens * rates.dearest_prompt + output_tokens * rates.output
            if most > worst:
                worst = most
    return usd(per_million(worst)) if worst >= 0 else ZERO


def _most_in_decimal(prices: Sequence[ModelPrice | None], prompt_tokens: int, output_tokens: int) -> Decimal:
    worst = max(prompt_tokens * dearest_prompt(p) + output_tokens * p.output for p in prices if p is not None)
    return (worst / PER_TOKENS).quantize(MONEY_QUANTUM)


def output_allowance(body: dict, defaults: Callable[[], Iterable[int | None]] = tuple) -> int:
    """The output tokens a request may produce: its own cap, else the largest of its deployments'
    defaults, else ours. `defaults` gives them, and is only called when the request set no cap."""
    value = body.get("max_completion_tokens")
    if value.__class__ is int and value > 0:  # JSON's ints (a bool is not one)
        return value
    value = body.get("max_tokens")
    if value.__class__ is int and value > 0:
        return value
    return max((d for d in defaults() if isinstance(d, int)), default=None) or DEFAULT_OUTPUT_CAP


class PyAccount:
    """One key's spend in the current day, month and in total, and what is reserved in flight. The C
    module's `Account` is the same (tests hold the two together), one call per admission and settlement."""

    __slots__ = ("day", "today", "month", "this_month", "total", "reserved")

    def __init__(self, day: date) -> None:
        self.day, self.today = day, ZERO
        self.month, self.this_month = (day.year, day.month), ZERO
        self.total = ZERO
        self.reserved = ZERO

    def roll(self, day: date) -> None:
        if day != self.day:
            self.day, self.today = day, ZERO
            if (day.year, day.month) != self.month:
                self.month, self.this_month = (day.year, day.month), ZERO

    def spent(self, period: str | None) -> Decimal:
        return self.today if period == "daily" else self.this_month if period == "monthly" else self.total

    def book(self, amount: Decimal) -> None:
        self.today += amount
        self.this_month += amount
        self.total += amount

    def reserve(self, limit: Decimal, period: str | None, amount: Decimal, day: date) -> bool:
        """On the UTC `day`: whether `amount` fits in what is left of `limit` for `period` after the
        spend and the reservations in flight; if it does, it is reserved."""
        self.roll(day)
        left = limit - self.spent(period) - self.reserved
        if left <= 0 or amount > left:
            return False
        self.reserved += amount
        return True

    def settle(self, reserved: Decimal, cost: Decimal, day: date) -> None:
        """A request is over on the UTC `day`: its reservation released, its cost booked."""
        self.roll(day)
        self.reserved = max(self.reserved - reserved, ZERO)
        self.book(cost)


Account: Any = speedups.native.Account if speedups.native is not None else PyAccount


class BudgetLedger:
    """The budgets of one process (several instances share theirs through Redis)."""

    def __init__(self) -> None:
        self.accounts: dict[str, Any] = {}  # key name → its Account

    def _account(self, key: str, day: date) -> Any:
        account = self.accounts.get(key) or self._opened(key, day)
        account.roll(day)
        return account

    def _opened(self, key: str, day: date) -> Any:
        account = self.accounts[key] = Account(day)
        return account

    def load(self, totals: Iterable[tuple[str, Decimal]], days: Iterable[tuple[str, date, Decimal]],
             now: datetime | None = None) -> None:
        """Spend so far, from the daily rollup: each key's total, and its spend per day this month."""
        today = (now or datetime.now(timezone.utc)).date()
        for key, spent in totals:
            self._account(key, today).total += spent
        for key, day, spent in days:
            if (day.year, day.month) == (today.year, today.month):
                account = self._account(key, today)
                account.this_month += spent
                if day == today:
                    account.today += spent

    def reserve(self, key: str, budget: Budget, amount: Decimal, day: date) -> Decimal:
        """Reserve `amount` USD on the UTC `day`, or raise QuotaExceeded. Returns the amount to settle later."""
        account = self.accounts.get(key) or self._opened(key, day)  # an Account is always true
        if account.reserve(budget.amount, budget.period, amount, day):
            return amount
        raise QuotaExceeded(refusal(budget, account.spent(budget.period), account.reserved, amount))

    def settle(self, key: str, reserved: Decimal, cost: Decimal, day: date) -> None:
        """The request is over: its reservation is released and its real cost booked on the UTC `day`."""
        if not reserved and not cost:
            return  # an unpriced request: nothing held, nothing spent
        account = self.accounts.get(key) or self._opened(key, day)
        account.settle(reserved, cost, day)

    def spent(self, key: str, period: str | None, day: date | None = None) -> Decimal:
        account = self._account(key, day or utc_today())
        return account.spent(period)


def refusal(budget: Budget, spent: Decimal, reserved: Decimal, amount: Decimal) -> str:
    """What the client reads: which budget, how much is gone, and what would help."""
    period = f"{budget.period} budget" if budget.period else "budget"
    left = budget.amount - spent - reserved
    if left <= 0:
        held = f", ${_usd(reserved)} held by requests in flight" if reserved else ""
        resets = {"daily": " It resets at 00:00 UTC.", "monthly": " It resets on the 1st of the month, 00:00 UTC."}
        return (f"This key has used up its {period} of ${_usd(budget.amount)} (${_usd(spent)} spent{held})."
                + resets.get(budget.period or "", ""))
    return (f"This request could cost up to ${_usd(amount)}, more than the ${_usd(left)} left in this key's "
            f"{period} of ${_usd(budget.amount)}. Lower max_tokens, or raise the budget.")


def _usd(amount: Decimal) -> str:
    """Short but exact enough to read: cents for large amounts, significant digits for small ones."""
    if abs(amount) >= 1:
        return f"{amount:.2f}"
    return f"{amount.normalize():f}" if amount else "0"

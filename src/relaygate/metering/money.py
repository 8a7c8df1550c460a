"""How exactly money is kept: USD to ten decimal places (a tenth of a nano-dollar), everywhere.

Amounts are Decimals at that scale. An answer's cost (prices.py) is summed in whole units of the
scale, as ints, and made a Decimal once: `usd(units)` has the very digits that quantizing the
Decimal sum to MONEY_QUANTUM gives.
"""

from decimal import ROUND_HALF_EVEN, Decimal

MONEY_SCALE = 10  # a token at $0.0375 per 1M costs 3.75e-8: exact at this scale
MONEY_QUANTUM = Decimal(1).scaleb(-MONEY_SCALE)
PER_TOKENS = 1_000_000  # prices are per 1M tokens


def usd(units: int) -> Decimal:
    """Whole units of 1e-10 USD as the Decimal amount, exponent -10 (as quantized amounts have)."""
    return MONEY_QUANTUM * units  # the quantum's exponent, the units as digits; a third of scaleb's cost


def units_of(amount: Decimal) -> int:
    """An amount in whole units of 1e-10 USD, rounded half to even when it has more digits."""
    return int((amount / MONEY_QUANTUM).to_integral_value(ROUND_HALF_EVEN))


def per_million(total: int) -> int:
    """`total / PER_TOKENS` rounded half to even (as Decimal's quantize rounds): a sum of tokens
    times prices per 1M tokens in units, made units."""
    units, rest = divmod(total, PER_TOKENS)
    if rest > PER_TOKENS // 2 or (rest == PER_TOKENS // 2 and units & 1):
        units += 1
    return units

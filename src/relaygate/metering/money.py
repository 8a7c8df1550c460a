"""How exactly money is kept: USD to ten decimal places (a tenth of a nano-dollar), everywhere."""

from decimal import Decimal

MONEY_SCALE = 10  # a token at $0.0375 per 1M costs 3.75e-8: exact at this scale
MONEY_QUANTUM = Decimal(1).scaleb(-MONEY_SCALE)

"""Prices and cost: which price applies to a deployment, and what a request's tokens cost.

Cost is exact, rounded once to the money scale of the store (1e-10 USD). It is summed in whole
units of that scale (`Rates`: a price made units per 1M tokens, ints) and made a Decimal at the end;
a price with digits beyond the scale per 1M tokens, which no provider has, is summed in Decimal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import ROUND_HALF_EVEN, Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any, NamedTuple

from relaygate.metering.price_table import PRICES, PRICE_TABLE_VERSION, ModelPrice
from relaygate.metering.usage import Tokens, tokens_of
from relaygate.metering.money import MONEY_QUANTUM, PER_TOKENS, per_million, units_of, usd

if TYPE_CHECKING:
    from relaygate.config import Price

__all__ = ["ModelPrice", "PRICE_TABLE_VERSION", "Rates", "configured_price", "cost", "cost_of_tokens", "dearest_prompt",
           "price_for", "rates_of"]

# Snapshot suffixes that name a dated release of a listed model: -2024-08-06, -20250929, -250828, -latest
_SNAPSHOT = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8}|\d{6}|latest)$")


def configured_price(price: Price) -> ModelPrice:
    """A deployment's configured price; YAML gives floats, so they go through their shortest text
    (0.3 → Decimal("0.3"), never 0.29999999999999998889776975)."""
    def exact(value: float | None) -> Decimal | None:
        return Decimal(repr(value)) if value is not None else None

    return ModelPrice(Decimal(repr(price.input)), Decimal(repr(price.output)), exact(price.cached_input),
                      exact(price.cache_write), exact(price.cache_write_1h), exact(price.cached_explicit))


def table_price(model: str, table: Mapping[str, ModelPrice] = PRICES) -> ModelPrice | None:
    """The bundled price of an upstream model name, or of the model it is a dated snapshot of."""
    name = model.lower()
    if name in table:
        return table[name]
    undated = _SNAPSHOT.sub("", name)
    return table.get(undated)


def price_for(upstream_model: str, configured: Price | None = None) -> ModelPrice | None:
    """The configured price wins over the table; None when neither knows the model."""
    return configured_price(configured) if configured is not None else table_price(upstream_model)


class Rates(NamedTuple):
    """A ModelPrice in whole units of 1e-10 USD per 1M tokens (the same fields, and the dearest
    price of a prompt token)."""

    input: int
    output: int
    cached_input: int | None = None
    cache_write: int | None = None
    cache_write_1h: int | None = None
    cached_explicit: int | None = None
    dearest_prompt: int = 0


def dearest_prompt(price: ModelPrice) -> Decimal:
    """The most a prompt token can cost: writing it to a provider's cache costs more than input."""
    return price.input if price.cache_write is None else max(price.input, price.cache_write,
                                                             price.cache_write_1h or price.input)


@lru_cache(maxsize=4096)
def rates_of(price: ModelPrice) -> Rates | None:
    """The price in units, worked out once per price; None when a price has digits beyond the money
    scale (finer than 1e-10 USD per 1M tokens), which units would round."""
    rates = [None if p is None else units_of(p) for p in price]
    if any(r is not None and usd(r) != p for r, p in zip(rates, price)):
        return None
    return Rates(*rates, units_of(dearest_prompt(price)))


def _priced(price: ModelPrice | Rates, tokens: Tokens) -> Any:
    """Prompt tokens read from the cache at the cached-input price (an explicit cache's at its own)
    and those written to it at the cache-write prices, where the price has them; the rest at input.
    Reasoning tokens are part of completion tokens and so priced as output. In the price's terms:
    units (an int) or USD (a Decimal), times 1M."""
    read = price.cached_explicit if tokens.explicit and price.cached_explicit is not None else price.cached_input
    cached = min(tokens.cached, tokens.prompt) if read is not None else 0
    written = min(tokens.cache_write, tokens.prompt - cached) if price.cache_write is not None else 0
    long = min(tokens.cache_write_1h, written) if price.cache_write_1h is not None else 0
    return (
        (tokens.prompt - cached - written) * price.input
        + cached * (read or 0)
        + (written - long) * (price.cache_write or 0)
        + long * (price.cache_write_1h or 0)
        + tokens.completion * price.output
    )


def cost_of_tokens(price: ModelPrice, tokens: Tokens) -> Decimal:
    """What `tokens` cost at `price` (see `_priced`), in USD at the money scale."""
    rates = rates_of(price)
    if rates is not None:
        return usd(per_million(_priced(rates, tokens)))
    return (_priced(price, tokens) / PER_TOKENS).quantize(MONEY_QUANTUM, rounding=ROUND_HALF_EVEN)


def cost(price: ModelPrice | None, usage: Mapping[str, Any] | None) -> Decimal:
    """USD for an OpenAI-shaped `usage`; 0 for a model without a price (reported, not guessed)."""
    if price is None:
        return Decimal(0)
    return cost_of_tokens(price, tokens_of(usage))

"""Candidate deployments → the order in which to try them, by the request's preferences.

Within one model: `sort` (price, live latency or live throughput) when asked; else weighted random
order when the catalog gives weights (the first pick follows the weights, the rest are fallbacks);
else the catalog's order. `provider.order` then moves the named providers to the front. Models of
the `models` array follow the request's own model, each group in its own order.
"""

from __future__ import annotations

import math
import random
from typing import Any

from relaygate.errors import NoMatchingDeployment
from relaygate.routing.capabilities import supports
from relaygate.routing.health import HealthBook
from relaygate.routing.preferences import NO_PREFERENCES, Preferences
from relaygate.routing.resolve import Target


def plan_attempts(
    groups: list[list[Target]], prefs: Preferences, request: dict[str, Any], health: HealthBook, rng: random.Random
) -> list[Target]:
    if prefs is NO_PREFERENCES and len(groups) == 1 and not any(t.weight is not None for t in groups[0]):
        return groups[0]  # the common case: the catalog's own order, nothing to filter
    ordered: list[Target] = []
    seen: set[tuple[str, str]] = set()
    for targets in groups:
        pool = [t for t in targets if _allowed(t, prefs, request) and t.key not in seen]
        seen.update(t.key for t in pool)
        ordered += _by_provider_order(_order(pool, prefs, health, rng), prefs.order)
    if not ordered:
        raise NoMatchingDeployment("No deployment of this model satisfies the request's provider preferences.",
                                   param="provider")
    if not prefs.allow_fallbacks:
        return [t for t in ordered if t.upstream.name in prefs.order] if prefs.order else ordered[:1]
    return ordered


def _allowed(target: Target, prefs: Preferences, request: dict[str, Any]) -> bool:
    name = target.upstream.name
    if (prefs.only is not None and name not in prefs.only) or name in prefs.ignore:
        return False
    if prefs.require_parameters and not supports(target.upstream.adapter_type, request):
        return False
    return prefs.max_price is None or _within_price(target, prefs)


def _within_price(target: Target, prefs: Preferences) -> bool:
    """A deployment without a known price is never taken to be within a price limit."""
    limit, price = prefs.max_price, target.price
    if price is None or limit is None:
        return False
    return (limit.prompt is None or price.input <= limit.prompt) and (
        limit.completion is None or price.output <= limit.completion
    )


def _order(pool: list[Target], prefs: Preferences, health: HealthBook, rng: random.Random) -> list[Target]:
    if prefs.sort == "price":
        return sorted(pool, key=lambda t: t.price.input + t.price.output if t.price else math.inf)
    if prefs.sort == "latency":
        return sorted(pool, key=lambda t: _or(health.of(t.key).ttft, math.inf))
    if prefs.sort == "throughput":
        return sorted(pool, key=lambda t: -_or(health.of(t.key).throughput, 0.0))
    if any(t.weight is not None for t in pool):
        return weighted_order(pool, rng)
    return pool


def weighted_order(pool: list[Target], rng: random.Random) -> list[Target]:
    """A random order in which each deployment comes first with a chance proportional to its
    weight (Efraimidis–Spirakis keys: u ** (1 / w), largest first)."""
    return sorted(pool, key=lambda t: rng.random() ** (1.0 / (t.weight or 1.0)), reverse=True)


def _by_provider_order(pool: list[Target], order: tuple[str, ...]) -> list[Target]:
    if not order:
        return pool
    rank = {name: i for i, name in enumerate(order)}
    return sorted(pool, key=lambda t: rank.get(t.upstream.name, len(order)))


def _or(value: float | None, default: float) -> float:
    return default if value is None else value

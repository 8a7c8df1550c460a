"""Reading an answer's `usage` and writing its `cost` into it, without parsing the whole answer.

A chat.completion (or the usage chunk of a stream) carries `"usage": {...}` near its end. Only that
object is found, parsed and, when the deployment has a price, rewritten with a `cost` field in USD
(as OpenRouter does); every other byte of the answer stays as the upstream sent it.

`"usage"` cannot match inside a JSON string, where every quote is escaped, so the last match in
the text is the answer's own field (a nested object named `usage` would come before it).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson

_KEY = b'"usage"'


def usage_bounds(data: bytes) -> tuple[int, int] | None:
    """Start and end (exclusive) of the answer's `usage` object, or None (absent, null, broken)."""
    at = data.rfind(_KEY)
    if at < 0:
        return None
    start = data.find(b"{", at)
    if start < 0 or data[at + len(_KEY) : start].strip() != b":":
        return None
    depth, i = 1, start + 1
    while depth:
        close = data.find(b"}", i)
        if close < 0:
            return None
        opened = data.find(b"{", i, close)
        if opened >= 0:
            depth, i = depth + 1, opened + 1
        else:
            depth, i = depth - 1, close + 1
    return start, i


def read_usage(data: bytes) -> tuple[dict[str, Any] | None, tuple[int, int] | None]:
    """The answer's usage object and where it is."""
    bounds = usage_bounds(data)
    if bounds is None:
        return None, None
    try:
        usage = orjson.loads(data[bounds[0] : bounds[1]])
    except orjson.JSONDecodeError:
        return None, None
    return (usage, bounds) if isinstance(usage, dict) else (None, None)


def cost_text(cost: Decimal) -> bytes:
    """A JSON number in plain notation, exact to the money scale: 0.0000123, never 1.23E-5."""
    return format(cost.normalize(), "f").encode()


def usage_with_cost(usage: dict[str, Any], cost: Decimal | None) -> dict[str, Any]:
    """A usage object to serialise with `cost` as its last field, written as `cost_text` writes it
    (orjson would write a float); the usage as it is without a cost."""
    return usage if cost is None else {**usage, "cost": orjson.Fragment(cost_text(cost))}


def with_cost(data: bytes, usage: dict[str, Any], bounds: tuple[int, int], cost: Decimal) -> bytes:
    """The answer with `cost` as the usage object's last field (an upstream's own `cost` replaced).
    The usage object's own bytes are kept unless it already had a cost or was empty."""
    start, end = bounds
    if usage and "cost" not in usage:
        return data[: end - 1] + b',"cost":' + cost_text(cost) + data[end - 1 :]
    rest = {k: v for k, v in usage.items() if k != "cost"}
    replaced = orjson.dumps(rest)[:-1] + (b',"cost":' if rest else b'"cost":') + cost_text(cost) + b"}"
    return data[:start] + replaced + data[end:]

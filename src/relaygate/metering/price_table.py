"""The bundled price table: USD per 1M tokens (input, output, cached input, cache writes) for
well-known models.

Configured `price:` on a deployment always wins over this table. Prices change; the date and the
page each block was read from are given with it. Where a provider bills by prompt-length tier,
the table holds the lowest tier (prompts up to the first threshold) — configure a price for
long-context deployments. Anthropic bills prompt-cache writes above the input price (1.25x for the
default five-minute cache, 2x for the one-hour cache): those two prices are here for its models,
and Model Studio's for its explicit cache (writes at 1.25x input, reads at 0.1x) for Qwen's.
"""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple

PRICE_TABLE_VERSION = "2026-11-23"


class ModelPrice(NamedTuple):
    """USD per 1M tokens. `cached_input` None bills cached prompt tokens (cache reads) at the input
    price; `cache_write` None bills prompt tokens written to the cache at the input price, and
    `cache_write_1h` None those written to a one-hour cache at `cache_write`; `cached_explicit`
    None bills reads of a cache the client asked for (DashScope's explicit cache) at `cached_input`."""

    input: Decimal
    output: Decimal
    cached_input: Decimal | None = None
    cache_write: Decimal | None = None
    cache_write_1h: Decimal | None = None
    cached_explicit: Decimal | None = None


def _p(input: str, output: str, cached: str | None = None) -> ModelPrice:
    return ModelPrice(Decimal(input), Decimal(output), Decimal(cached) if cached is not None else None)


def _claude(input: str, output: str, cached: str) -> ModelPrice:
    """Anthropic's cache writes: 1.25x the input price for five minutes, 2x for one hour (the
    "Prompt caching" multipliers of the pricing page)."""
    base = Decimal(input)
    return ModelPrice(base, Decimal(output), Decimal(cached), base * Decimal("1.25"), base * 2)


def _qwen(input: str, output: str, cached: str) -> ModelPrice:
    """Model Studio's caches ("Context cache"): implicit hits at the `cached` price (20% of input);
    the explicit cache's writes at 125% of input and its hits at 10%."""
    base = Decimal(input)
    return ModelPrice(base, Decimal(output), Decimal(cached), base * Decimal("1.25"), None, base * Decimal("0.1"))


# OpenAI — developers.openai.com/api/docs/pricing (Standard tier, text tokens), read 2026-11-23.
OPENAI = {
    "gpt-4o": _p("2.50", "10.00", "1.25"),
    "gpt-4o-mini": _p("0.15", "0.60", "0.075"),
    "gpt-4.1": _p("2.00", "8.00", "0.50"),
    "gpt-4.1-mini": _p("0.40", "1.60", "0.10"),
    "gpt-4.1-nano": _p("0.10", "0.40", "0.025"),
    "o3": _p("2.00", "8.00", "0.50"),
    "o4-mini": _p("1.10", "4.40", "0.275"),
    "gpt-5": _p("1.25", "10.00", "0.125"),
    "gpt-5-mini": _p("0.25", "2.00", "0.025"),
    "gpt-5-nano": _p("0.05", "0.40", "0.005"),
}

# Anthropic — platform.claude.com/docs/en/about-claude/pricing ("Model pricing": base input,
# cache hits and refreshes, output; cache writes from "Prompt caching"), read 2026-11-23. Dated ids resolve by dropping the date.
ANTHROPIC = {
    "claude-opus-4-5": _claude("5", "25", "0.50"),
    "claude-opus-4-1": _claude("15", "75", "1.50"),
    "claude-opus-4": _claude("15", "75", "1.50"),
    "claude-opus-4-0": _claude("15", "75", "1.50"),
    "claude-sonnet-4-5": _claude("3", "15", "0.30"),
    "claude-sonnet-4": _claude("3", "15", "0.30"),
    "claude-sonnet-4-0": _claude("3", "15", "0.30"),
    "claude-3-7-sonnet": _claude("3", "15", "0.30"),
    "claude-haiku-4-5": _claude("1", "5", "0.10"),
    "claude-3-5-haiku": _claude("0.80", "4", "0.08"),
    "claude-3-haiku": _claude("0.25", "1.25", "0.03"),
}

# Google Gemini — ai.google.dev/gemini-api/docs/pricing (paid tier; prompts up to 200K tokens;
# output includes thinking tokens; "context caching price" as cached input), read 2026-11-23.
GEMINI = {
    "gemini-2.5-pro": _p("1.25", "10.00", "0.125"),
    "gemini-2.5-flash": _p("0.30", "2.50", "0.03"),
    "gemini-2.5-flash-lite": _p("0.10", "0.40", "0.01"),
    "gemini-2.0-flash": _p("0.10", "0.40", "0.025"),
}

# DeepSeek — api-docs.deepseek.com/quick_start/pricing-details-usd ("input (cache hit)",
# "input (cache miss)", output), the page version stored for reading on 2026-11-23.
DEEPSEEK = {
    "deepseek-chat": _p("0.27", "1.10", "0.07"),
    "deepseek-reasoner": _p("0.55", "2.19", "0.14"),
}

# Alibaba Qwen — alibabacloud.com/help/en/model-studio/models (International deployment,
# Singapore; lowest input-length tier), read 2026-11-23; cache prices from
# alibabacloud.com/help/en/model-studio/context-cache (see _qwen).
QWEN = {
    "qwen-turbo": _qwen("0.05", "0.20", "0.01"),
    "qwen-flash": _qwen("0.05", "0.40", "0.01"),
    "qwen-plus": _qwen("0.40", "1.20", "0.08"),
    "qwen-max": _qwen("1.60", "6.40", "0.32"),
    "qwen3-max": _qwen("1.20", "6.00", "0.24"),
}

# Doubao (ByteDance Seed) — docs.byteplus.com ModelArk "Large model billing" in USD (prompts up to
# 128K), read 2026-11-23. Volcengine's mainland Ark bills in CNY: configure a price there.
DOUBAO = {
    "doubao-seed-1-6": _p("0.25", "2.00"),
    "doubao-seed-1-8": _p("0.25", "2.00", "0.05"),
}

PRICES: dict[str, ModelPrice] = {**OPENAI, **ANTHROPIC, **GEMINI, **DEEPSEEK, **QWEN, **DOUBAO}

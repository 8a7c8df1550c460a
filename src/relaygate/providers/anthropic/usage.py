"""Anthropic `usage` → OpenAI `usage`.

Anthropic counts `input_tokens` *after* the last cache breakpoint only; cache reads and writes are
reported beside it (https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching,
"Tracking cache performance"). OpenAI's `prompt_tokens` is the whole prompt, so it is the sum of the
three, and `prompt_tokens_details.cached_tokens` is the cache reads. The cache writes are
`prompt_tokens_details.cache_write_tokens` (OpenRouter's name), and those written to a one-hour
cache (`usage.cache_creation.ephemeral_1h_input_tokens`) also `cache_write_1h_tokens`: they are
billed above the input price, 1.25x and 2x, so the cost needs them.
"""

from __future__ import annotations

from typing import Any

from relaygate.errors import UpstreamProtocolError

COUNTS = ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens", "output_tokens")
LONG_WRITES = "ephemeral_1h_input_tokens"  # in usage.cache_creation; counts kept under this name


def counts_of(usage: Any) -> dict[str, int]:
    """The four counts of an Anthropic usage object and its one-hour cache writes; absent or null ones are 0."""
    if usage is None:
        return dict.fromkeys((*COUNTS, LONG_WRITES), 0)
    if not isinstance(usage, dict):
        raise UpstreamProtocolError("Anthropic sent a `usage` that is not an object.")
    get = usage.get
    inputs, reads = get("input_tokens"), get("cache_read_input_tokens")
    writes, output = get("cache_creation_input_tokens"), get("output_tokens")
    if (inputs.__class__ is int and reads.__class__ is int and writes.__class__ is int and output.__class__ is int
            and inputs >= 0 and reads >= 0 and writes >= 0 and output >= 0):
        counts = {"input_tokens": inputs, "cache_read_input_tokens": reads, "cache_creation_input_tokens": writes,
                  "output_tokens": output}
    else:  # absent, or checked one by one for the message
        counts = {name: _count(usage, name) for name in COUNTS}
    counts[LONG_WRITES] = _long_writes(usage)
    return counts


def _long_writes(usage: dict[str, Any]) -> int:
    creation = usage.get("cache_creation")
    if creation is None:
        return 0
    if not isinstance(creation, dict):
        raise UpstreamProtocolError("Anthropic sent a `usage.cache_creation` that is not an object.")
    return _count(creation, LONG_WRITES)


def merged_counts(counts: dict[str, int], update: Any) -> dict[str, int]:
    """`message_delta` usage is cumulative; fields it leaves out keep their `message_start` values."""
    if not isinstance(update, dict):
        return counts
    present = {name: _count(update, name) for name in COUNTS if update.get(name) is not None}
    if update.get("cache_creation") is not None:
        present[LONG_WRITES] = _long_writes(update)
    return {**counts, **present}


def chat_usage(counts: dict[str, int]) -> dict[str, Any]:
    reads, writes = counts["cache_read_input_tokens"], counts["cache_creation_input_tokens"]
    prompt = counts["input_tokens"] + reads + writes
    completion = counts["output_tokens"]
    details = {"cached_tokens": reads, "cache_write_tokens": writes}
    if counts.get(LONG_WRITES):
        details["cache_write_1h_tokens"] = counts[LONG_WRITES]
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": details,
    }


def _count(usage: dict[str, Any], name: str) -> int:
    value = usage.get(name)
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise UpstreamProtocolError(f"Anthropic sent usage.{name} = {value!r}, not a token count.")
    return value

"""Anthropic `usage` → OpenAI `usage`.

Anthropic counts `input_tokens` *after* the last cache breakpoint only; cache reads and writes are
reported beside it (https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching,
"Tracking cache performance"). OpenAI's `prompt_tokens` is the whole prompt, so it is the sum of the
three, and `prompt_tokens_details.cached_tokens` is the cache reads.
"""

from __future__ import annotations

from typing import Any

from relaygate.errors import UpstreamProtocolError

COUNTS = ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens", "output_tokens")


def counts_of(usage: Any) -> dict[str, int]:
    """The four counts of an Anthropic usage object; absent or null ones are 0."""
    if usage is None:
        return dict.fromkeys(COUNTS, 0)
    if not isinstance(usage, dict):
        raise UpstreamProtocolError("Anthropic sent a `usage` that is not an object.")
    get = usage.get
    inputs, reads, writes, output = get("input_tokens"), get(COUNTS[1]), get(COUNTS[2]), get("output_tokens")
    if (inputs.__class__ is int and reads.__class__ is int and writes.__class__ is int and output.__class__ is int
            and inputs >= 0 and reads >= 0 and writes >= 0 and output >= 0):
        return {"input_tokens": inputs, COUNTS[1]: reads, COUNTS[2]: writes, "output_tokens": output}
    return {name: _count(usage, name) for name in COUNTS}  # absent, or checked one by one for the message


def merged_counts(counts: dict[str, int], update: Any) -> dict[str, int]:
    """`message_delta` usage is cumulative; fields it leaves out keep their `message_start` values."""
    if not isinstance(update, dict):
        return counts
    present = {name: _count(update, name) for name in COUNTS if update.get(name) is not None}
    return {**counts, **present}


def chat_usage(counts: dict[str, int]) -> dict[str, Any]:
    reads = counts["cache_read_input_tokens"]
    prompt = counts["input_tokens"] + reads + counts["cache_creation_input_tokens"]
    completion = counts["output_tokens"]
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": reads},
    }


def _count(usage: dict[str, Any], name: str) -> int:
    value = usage.get(name)
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise UpstreamProtocolError(f"Anthropic sent usage.{name} = {value!r}, not a token count.")
    return value

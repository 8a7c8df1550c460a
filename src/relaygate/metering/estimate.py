"""Usage counted from text, for a stream that ended without the upstream's usage: cut off by the
upstream, or left by its client. Such a record is marked `estimated`.

The stream's client-side bytes are not parsed as they go out: the relay keeps the first
`SAMPLE_BYTES` of them (references to pieces it sends anyway) and counts the rest. Only when the
usage never came is the sample parsed, its text counted at about four bytes a token (the rule TPM
admission uses for prompts), and the count scaled to every byte sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from relaygate.wire.sse import SSEDecoder

SAMPLE_BYTES = 64 << 10  # per stream; about 350 chunks of one token each
_TEXT_FIELDS = ("content", "reasoning_content", "reasoning", "refusal")


def tokens_in(text_bytes: int) -> int:
    """About four bytes of UTF-8 a token; any text at all is at least one."""
    return (text_bytes + 3) // 4


def _delta_text(delta: Mapping[str, Any]) -> int:
    """Bytes of generated text in one chunk's delta: content, reasoning and tool call arguments."""
    size = sum(len(value.encode()) for name in _TEXT_FIELDS if isinstance(value := delta.get(name), str))
    for call in delta.get("tool_calls") or ():
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict):
            size += sum(len(v.encode()) for v in (function.get("name"), function.get("arguments")) if isinstance(v, str))
    for block in delta.get("thinking_blocks") or ():
        if isinstance(block, dict) and isinstance(block.get("thinking"), str):
            size += len(block["thinking"].encode())
    return size


def streamed_text_bytes(pieces: Iterable[bytes]) -> int:
    """Bytes of generated text in chat-completion chunks as sent to the client (SSE framed)."""
    size = 0
    for event in SSEDecoder().feed(b"".join(pieces)):
        if event.data[:1] != b"{":
            continue
        try:
            chunk = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            continue
        for choice in chunk.get("choices") or () if isinstance(chunk, dict) else ():
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if isinstance(delta, dict):
                size += _delta_text(delta)
    return size


def completion_estimate(sample: list[bytes], sent: int) -> int:
    """Completion tokens of a stream whose first bytes are `sample` and which sent `sent` in all."""
    sampled = sum(map(len, sample))
    if not sampled:
        return 0
    return tokens_in(streamed_text_bytes(sample) * sent // sampled)


def usage_so_far(
    upstream: Mapping[str, Any] | None, completion: int, prompt: int
) -> tuple[dict[str, Any], bool]:
    """The usage to record for a stream that did not finish, and whether any of it is estimated.
    The upstream's counts win where it gave them, but a completion count below what was already
    sent (an Anthropic stream's opening usage says 1) is replaced by the estimate."""
    usage = dict(upstream or {})
    estimated = False
    if not isinstance(usage.get("prompt_tokens"), int):
        usage["prompt_tokens"], estimated = prompt, True
    if not isinstance(usage.get("completion_tokens"), int) or usage["completion_tokens"] < completion:
        usage["completion_tokens"], estimated = completion, True
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    return usage, estimated

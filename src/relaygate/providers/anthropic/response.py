"""Anthropic Messages response → OpenAI chat.completion (https://docs.anthropic.com/en/api/messages).

    content[].text                    message.content (joined)
    content[].tool_use                message.tool_calls (ids kept; input serialised as arguments)
    content[].thinking                message.reasoning_content (joined), and in thinking_blocks
    content[].redacted_thinking       thinking_blocks only
    tool_use of the JSON-mode tool    message.content (json_mode.py)
    other blocks (server tools, …)    dropped: the chat format has nothing to carry them
    stop_reason                       finish_reason, by FINISH_REASONS
    usage                             usage (usage.py)

`thinking_blocks` keep each block as Anthropic signed it, so a client that sends the assistant
message back unchanged lets relaygate rebuild the blocks upstream (messages.py). A body that is not
a Messages response is an UpstreamProtocolError (502), never a crash.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import orjson

from relaygate.errors import UpstreamProtocolError
from relaygate.providers.anthropic.json_mode import JSON_TOOL
from relaygate.providers.anthropic.usage import chat_usage, counts_of

# Stop reasons: https://docs.anthropic.com/en/api/handling-stop-reasons
FINISH_REASONS: dict[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


@dataclass
class AssistantParts:
    """What the content blocks of one answer add up to, in chat terms."""

    json_mode: bool
    texts: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    thinking_blocks: list[dict[str, str]] = field(default_factory=list)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)


def messages_response_to_chat(raw: bytes, json_mode: bool, model: str, created: int) -> dict[str, Any]:
    message = parse_message(raw)
    blocks = message["content"]
    text = blocks[0].get("text") if len(blocks) == 1 and blocks[0].__class__ is dict else None
    if text.__class__ is str and blocks[0].get("type") == "text":  # the usual answer: one text block
        answer: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
        called_tools = False
    else:
        parts = AssistantParts(json_mode)
        for i, block in enumerate(blocks):
            add_block(parts, block, i)
        answer, called_tools = assistant_message(parts), bool(parts.tool_calls)
    return {
        "id": message.get("id") or "",
        "object": "chat.completion",
        "created": created,
        "model": message.get("model") or model,
        "choices": [{
            "index": 0,
            "message": answer,
            "logprobs": None,
            "finish_reason": finish_reason(message.get("stop_reason"), called_tools),
        }],
        "usage": chat_usage(counts_of(message.get("usage"))),
    }


def parse_message(raw: bytes) -> dict[str, Any]:
    try:
        message = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise UpstreamProtocolError("Anthropic answered with something other than JSON.") from None
    if not isinstance(message, dict) or message.get("type") != "message":
        raise UpstreamProtocolError("Anthropic answered with JSON that is not a Messages response.")
    if not isinstance(message.get("content"), list):
        raise UpstreamProtocolError("Anthropic answered with a message whose `content` is not a list.")
    return message


def finish_reason(stop_reason: Any, called_tools: bool) -> str:
    """`tool_use` that only answered through the JSON-mode tool is a plain stop for the client."""
    reason = FINISH_REASONS.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"
    return "stop" if reason == "tool_calls" and not called_tools else reason


def assistant_message(parts: AssistantParts) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": "".join(parts.texts) if parts.texts else None}
    if parts.reasoning:
        message["reasoning_content"] = "".join(parts.reasoning)
    if parts.thinking_blocks:
        message["thinking_blocks"] = parts.thinking_blocks
    if parts.tool_calls:
        message["tool_calls"] = parts.tool_calls
    message["refusal"] = None
    return message


def add_block(parts: AssistantParts, block: Any, index: int) -> None:
    kind = block.get("type") if isinstance(block, dict) else None
    if not isinstance(kind, str):
        raise UpstreamProtocolError(f"Anthropic sent content[{index}] without a type.")
    handler = BLOCKS.get(kind)
    if handler is not None:
        handler(parts, block, f"content[{index}]")


def _text(parts: AssistantParts, block: dict[str, Any], where: str) -> None:
    parts.texts.append(field_of(block, "text", str, where))


def _thinking(parts: AssistantParts, block: dict[str, Any], where: str) -> None:
    thinking = field_of(block, "thinking", str, where)
    parts.reasoning.append(thinking)
    signature = field_of(block, "signature", str, where)
    parts.thinking_blocks.append({"type": "thinking", "thinking": thinking, "signature": signature})


def _redacted_thinking(parts: AssistantParts, block: dict[str, Any], where: str) -> None:
    parts.thinking_blocks.append({"type": "redacted_thinking", "data": field_of(block, "data", str, where)})


def _tool_use(parts: AssistantParts, block: dict[str, Any], where: str) -> None:
    name = field_of(block, "name", str, where)
    arguments = orjson.dumps(field_of(block, "input", dict, where)).decode()
    if parts.json_mode and name == JSON_TOOL:
        parts.texts.append(arguments)
        return
    parts.tool_calls.append({
        "id": field_of(block, "id", str, where),
        "type": "function",
        "function": {"name": name, "arguments": arguments},
    })


BLOCKS: dict[str, Callable[[AssistantParts, dict[str, Any], str], None]] = {
    "text": _text,
    "thinking": _thinking,
    "redacted_thinking": _redacted_thinking,
    "tool_use": _tool_use,
}


def field_of(block: dict[str, Any], name: str, kind: type, where: str) -> Any:
    value = block.get(name)
    if not isinstance(value, kind):
        raise UpstreamProtocolError(f"Anthropic sent {where}.{name} that is not a {kind.__name__}.")
    return value

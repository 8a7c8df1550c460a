"""Anthropic Messages wire shapes: the message body, the SSE event sequence, the error body.

Shaped like the recordings of api.anthropic.com (anthropic-sdk-python's inline snapshots): a
`caller` on tool_use blocks, `cache_creation` and `service_tier` in usage, `ping` right after the
first `content_block_start`, an empty `input_json_delta` opening each tool input, an empty
`thinking_delta` before the `signature_delta`, and cumulative usage on `message_delta`
(https://docs.anthropic.com/en/docs/build-with-claude/streaming, "Event types").
"""

from __future__ import annotations

import os
from typing import Any

import orjson

from ..flavours import CALL, ID
from .answer import Block, Reply

Body = dict[str, Any]
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
DIRECT = {"type": "direct"}


def token(length: int) -> str:
    """Random base62 characters, as Anthropic ids use after their prefix."""
    return "".join(ALPHABET[b % 62] for b in os.urandom(length))


def message_id() -> str:
    return "msg_01" + token(22)


def request_id() -> str:
    return "req_011C" + token(20)


def tool_id(index: int) -> str:
    return f"toolu_01{CALL}{index:02d}"


def usage(reply: Reply, output_tokens: int | None = None) -> Body:
    return {
        "input_tokens": reply.input_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "output_tokens": reply.output_tokens if output_tokens is None else output_tokens,
        "service_tier": "standard",
    }


def block_body(block: Block) -> Body:
    if block.type == "text":
        return {"type": "text", "text": block.text}
    if block.type == "thinking":
        return {"type": "thinking", "thinking": block.text, "signature": block.signature}
    if block.type == "redacted_thinking":
        return {"type": "redacted_thinking", "data": block.signature}
    return {"type": "tool_use", "id": tool_id(block.index), "name": block.name, "input": orjson.loads(block.text),
            "caller": DIRECT}


def message(reply: Reply, model: str) -> Body:
    return {
        "model": model,
        "id": ID,
        "type": "message",
        "role": "assistant",
        "content": [block_body(b) for b in reply.blocks],
        "stop_reason": reply.stop_reason,
        "stop_sequence": reply.stop_sequence,
        "usage": usage(reply),
    }


def block_opening(block: Block) -> Body:
    """A block as `content_block_start` shows it, before any delta."""
    if block.type == "text":
        return {"type": "text", "text": ""}
    if block.type == "thinking":
        return {"type": "thinking", "thinking": "", "signature": ""}
    if block.type == "redacted_thinking":
        return block_body(block)
    return {"type": "tool_use", "id": tool_id(block.index), "name": block.name, "input": {}, "caller": DIRECT}


def block_deltas(block: Block) -> list[Body]:
    if block.type == "text":
        return [{"type": "text_delta", "text": piece} for piece in block.pieces]
    if block.type == "thinking":
        pieces = [*block.pieces, ""]
        return [{"type": "thinking_delta", "thinking": p} for p in pieces] + [
            {"type": "signature_delta", "signature": block.signature}
        ]
    if block.type == "tool_use":
        return [{"type": "input_json_delta", "partial_json": p} for p in ("", *block.pieces)]
    return []


PING = {"type": "ping"}
PING_DATA = b'{"type": "ping"}'  # as the API writes it (the recorded streams), a space after the colon


def events(reply: Reply, model: str) -> list[tuple[str, Body]]:
    """The stream, as (event name, data) pairs in the order the API sends them."""
    start = {**message(reply, model), "content": [], "stop_reason": None, "stop_sequence": None,
             "usage": usage(reply, output_tokens=1)}
    out: list[tuple[str, Body]] = [("message_start", {"type": "message_start", "message": start})]
    for index, block in enumerate(reply.blocks):
        out.append(("content_block_start", {"type": "content_block_start", "index": index,
                                            "content_block": block_opening(block)}))
        if index == 0:
            out.append(("ping", PING))
        out += [("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d})
                for d in block_deltas(block)]
        out.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    final_usage = {k: v for k, v in usage(reply).items() if k not in ("cache_creation", "service_tier")}
    stop = {"stop_reason": reply.stop_reason, "stop_sequence": reply.stop_sequence}
    out.append(("message_delta", {"type": "message_delta", "delta": stop, "usage": final_usage}))
    out.append(("message_stop", {"type": "message_stop"}))
    return out


def encode_event(name: str, data: Body) -> bytes:
    payload = PING_DATA if data == PING else orjson.dumps(data)
    return b"event: " + name.encode() + b"\ndata: " + payload + b"\n\n"


def error_body(kind: str, message_text: str, request: str) -> bytes:
    return orjson.dumps({"type": "error", "error": {"type": kind, "message": message_text}, "request_id": request})

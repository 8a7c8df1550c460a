"""DeepSeek (api.deepseek.com), shaped like `deepseek/*.json`.

Quirks kept: UUID ids, usage with `prompt_cache_hit_tokens`/`prompt_cache_miss_tokens`, and no
separate usage chunk: the last chunk (the finish chunk) always carries usage, with or without
`include_usage` (DeepSeek API docs, "stream_options"; also the recorded streams quoted in
brainlid/langchain#288 and neuron-core/neuron-ai#223).
"""

from __future__ import annotations

import os
from typing import Any

from ..answers import Answer, Choice, Usage
from ..errors import BAD_JSON, EMPTY_MESSAGES, INVALID_KEY, MISSING_KEY, MISSING_MESSAGES, ErrorSpec, openai_shape
from .base import CALL, CREATED, ID, Body, Flavour, Meta, interleave, tool_call_fragment, tool_call_header
from .base import tool_call_in_message, uuid_like

FINGERPRINT = "fp_7e73fd9a08"
REASONER = "deepseek-reasoner"

# DeepSeek's auth errors come back as type authentication_error, code invalid_request_error
# (bodies quoted in deepseek-ai/DeepSeek-R1#82 and droidrun/mobilerun#28).
ERRORS: dict[str | int, ErrorSpec] = {
    BAD_JSON: ErrorSpec(400, "Failed to deserialize the JSON body into the target type", "invalid_request_error",
                        "invalid_request_error"),
    MISSING_MESSAGES: ErrorSpec(400, "Failed to deserialize the JSON body into the target type: missing field "
                                "`messages`", "invalid_request_error", "invalid_request_error"),
    EMPTY_MESSAGES: ErrorSpec(400, "Empty input messages", "invalid_request_error", "invalid_request_error"),
    MISSING_KEY: ErrorSpec(401, "Authentication Fails (auth header format should be Bearer sk-...)",
                           "authentication_error", "invalid_request_error"),
    INVALID_KEY: ErrorSpec(401, "Authentication Fails, Your api key: {key} is invalid", "authentication_error",
                           "invalid_request_error"),
    400: ErrorSpec(400, "Invalid request (scripted by the emulator).", "invalid_request_error",
                   "invalid_request_error"),
    401: ErrorSpec(401, "Authentication Fails (no such user)", "authentication_error", "invalid_request_error"),
    402: ErrorSpec(402, "Insufficient Balance", "unknown_error", "invalid_request_error"),
    404: ErrorSpec(404, "Model Not Exist", "invalid_request_error", "invalid_request_error"),
    429: ErrorSpec(429, "Rate Limit Reached", "rate_limit_error", "rate_limit_exceeded"),
    500: ErrorSpec(500, "Server Error", "server_error", "server_error"),
    503: ErrorSpec(503, "Server Overloaded", "server_error", "overloaded"),
}


def thinks(body: Body) -> bool:
    thinking = body.get("thinking")
    enabled = isinstance(thinking, dict) and thinking.get("type") == "enabled"
    return body.get("model") == REASONER or enabled


def call_id(index: int) -> str:
    return f"call_{index}_{CALL}"


def usage(u: Usage) -> Body:
    body: Body = {
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "total_tokens": u.total_tokens,
        "prompt_tokens_details": {"cached_tokens": 0},
    }
    if u.reasoning_tokens:
        body["completion_tokens_details"] = {"reasoning_tokens": u.reasoning_tokens}
    body["prompt_cache_hit_tokens"] = 0
    body["prompt_cache_miss_tokens"] = u.prompt_tokens
    return body


def message(choice: Choice) -> Body:
    body: Body = {"role": "assistant", "content": choice.content}
    if choice.reasoning is not None:
        body["reasoning_content"] = choice.reasoning
    if choice.tool_calls:
        body["tool_calls"] = [tool_call_in_message(c, call_id(c.index)) for c in choice.tool_calls]
    return body


def completion(answer: Answer, meta: Meta) -> Body:
    return {
        "id": ID,
        "object": "chat.completion",
        "created": CREATED,
        "model": meta.model,
        "choices": [
            {"index": c.index, "message": message(c), "logprobs": None, "finish_reason": c.finish_reason}
            for c in answer.choices
        ],
        "usage": usage(answer.usage),
        "system_fingerprint": FINGERPRINT,
    }


def deltas(choice: Choice) -> list[Body]:
    # stream_chunk__deepseek_reasoner_first.json: reasoning opens with content null, reasoning "".
    thinking = choice.reasoning is not None
    opening: Body = {"role": "assistant", "content": None if thinking else ""}
    if thinking:
        opening["reasoning_content"] = ""
    out = [opening] + [{"content": None, "reasoning_content": p} for p in choice.reasoning_pieces]
    after = {"reasoning_content": None} if thinking else {}
    out += [{"content": p, **after} for p in choice.pieces]
    for call in choice.tool_calls:
        out.append({"tool_calls": [tool_call_header(call, call_id(call.index))]})
        out += [{"tool_calls": [tool_call_fragment(call, f)]} for f in call.fragments]
    return out


def finish_delta(choice: Choice) -> Body:
    return {"content": "", "reasoning_content": None} if choice.reasoning is not None else {"content": ""}


def chunk(meta: Meta, choices: list[Body], usage_body: Any = None, final: bool = False) -> Body:
    body: Body = {
        "id": ID,
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": meta.model,
        "system_fingerprint": FINGERPRINT,
        "choices": choices,
    }
    if meta.include_usage or final:
        body["usage"] = usage_body
    return body


def chunks(answer: Answer, meta: Meta) -> list[Body]:
    steps = interleave([deltas(c) for c in answer.choices])
    out = [chunk(meta, [_item(i, d, None)]) for i, d in steps]
    *rest, last = answer.choices
    out += [chunk(meta, [_item(c.index, finish_delta(c), c.finish_reason)]) for c in rest]
    out.append(chunk(meta, [_item(last.index, finish_delta(last), last.finish_reason)], usage(answer.usage), True))
    return out


def _item(index: int, delta: Body, finish_reason: str | None) -> Body:
    return {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}


def new_id() -> str:
    return uuid_like(os.urandom(16))


def new_call_token() -> str:
    return uuid_like(os.urandom(16))


FLAVOUR = Flavour(
    name="deepseek",
    prefixes=("/deepseek/v1", "/deepseek"),
    models=("deepseek-chat", REASONER),
    owned_by="deepseek",
    new_id=new_id,
    new_call_token=new_call_token,
    thinks=thinks,
    completion=completion,
    chunks=chunks,
    errors=ERRORS,
    error_body=openai_shape,
)

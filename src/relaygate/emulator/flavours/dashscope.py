"""Alibaba Model Studio (DashScope) compatible-mode, shaped like `dashscope/*` and seed 003.

Quirks kept: field order choices, object, usage, created, system_fingerprint (null), model, id;
`usage: null` on every stream chunk whether or not usage was asked for; an empty-content final
chunk carrying finish_reason; tool-call continuation deltas that repeat `"id": ""` and
`"type": "function"` (stream__qwen_plus_tool_call__first_two_chunks.jsonl).
"""

from __future__ import annotations

import os

from ..answers import Answer, Choice, ToolCall, Usage
from ..errors import BAD_JSON, EMPTY_MESSAGES, INVALID_KEY, MISSING_KEY, MISSING_MESSAGES, ErrorSpec, openai_shape
from .base import CALL, CREATED, ID, Body, Flavour, Meta, interleave, tool_call_header, tool_call_in_message
from .base import uuid_like

# Seed 003 (error body and status table); codes other than invalid_api_key are assumptions.
ERRORS: dict[str | int, ErrorSpec] = {
    BAD_JSON: ErrorSpec(400, "Request body is not valid JSON.", "invalid_request_error", "invalid_parameter_error"),
    MISSING_MESSAGES: ErrorSpec(400, "Required parameter 'messages' missing.", "invalid_request_error",
                                "invalid_parameter_error", "messages"),
    EMPTY_MESSAGES: ErrorSpec(400, "Required parameter 'messages' must not be empty.", "invalid_request_error",
                              "invalid_parameter_error", "messages"),
    MISSING_KEY: ErrorSpec(401, "Incorrect API key provided. ", "invalid_request_error", "invalid_api_key"),
    INVALID_KEY: ErrorSpec(401, "Incorrect API key provided. ", "invalid_request_error", "invalid_api_key"),
    400: ErrorSpec(400, "Invalid request (scripted by the emulator).", "invalid_request_error",
                   "invalid_parameter_error"),
    401: ErrorSpec(401, "Incorrect API key provided. ", "invalid_request_error", "invalid_api_key"),
    404: ErrorSpec(404, "The model `{model}` does not exist or you do not have access to it.",
                   "invalid_request_error", "model_not_found"),
    429: ErrorSpec(429, "Requests rate limit exceeded, please try again later.", "limit_requests", "limit_requests"),
    500: ErrorSpec(500, "The server had an error while processing your request.", "internal_error", "internal_error"),
    503: ErrorSpec(503, "The engine is currently overloaded, please try again later.", "server_error", "overloaded"),
}


def thinks(body: Body) -> bool:
    return body.get("enable_thinking") is True


def call_id(index: int) -> str:
    return f"call_{CALL}{index:02d}"


def usage(u: Usage, cached_details: bool) -> Body:
    body: Body = {
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "total_tokens": u.total_tokens,
    }
    if u.reasoning_tokens:
        body["completion_tokens_details"] = {"reasoning_tokens": u.reasoning_tokens}
    if cached_details:
        body["prompt_tokens_details"] = {"cached_tokens": 0}
    return body


def message(choice: Choice) -> Body:
    body: Body = {"role": "assistant", "content": choice.content}
    if choice.reasoning is not None:
        body["reasoning_content"] = choice.reasoning
    if choice.tool_calls:
        body["tool_calls"] = [tool_call_in_message(c, call_id(c.index)) for c in choice.tool_calls]
    return body


def completion(answer: Answer, meta: Meta) -> Body:
    # chat_completion__qwen_plus.json
    return {
        "choices": [
            {"message": message(c), "finish_reason": c.finish_reason, "index": c.index, "logprobs": None}
            for c in answer.choices
        ],
        "object": "chat.completion",
        "usage": usage(answer.usage, cached_details=True),
        "created": CREATED,
        "system_fingerprint": None,
        "model": meta.model,
        "id": ID,
    }


def deltas(choice: Choice) -> list[Body]:
    thinking = choice.reasoning is not None
    out: list[Body] = []
    if thinking:
        out.append({"content": None, "role": "assistant", "reasoning_content": ""})
        out += [{"content": None, "reasoning_content": p} for p in choice.reasoning_pieces]
    if choice.tool_calls:
        return out + _tool_deltas(choice, with_role=not thinking)
    if not thinking:
        out.append({"content": "", "role": "assistant"})
    after = {"reasoning_content": None} if thinking else {}
    return out + [{"content": p, **after} for p in choice.pieces]


def _tool_deltas(choice: Choice, with_role: bool) -> list[Body]:
    out: list[Body] = []
    for call in choice.tool_calls:
        first, *rest = call.fragments or ("",)
        out.append({"content": None, "tool_calls": [tool_call_header(call, call_id(call.index), first)]})
        out += [{"content": None, "tool_calls": [_continuation(call, f)]} for f in rest]
    if with_role:
        out[0]["role"] = "assistant"
    return out


def _continuation(call: ToolCall, fragment: str) -> Body:
    return {"index": call.index, "id": "", "type": "function", "function": {"arguments": fragment}}


def finish_delta(choice: Choice) -> Body:
    # stream__qwen_plus_thinking_include_usage__head_and_tail.sse
    return {"content": "", "reasoning_content": None} if choice.reasoning is not None else {"content": ""}


def chunk(meta: Meta, choices: list[Body], usage_body: Body | None = None) -> Body:
    return {
        "choices": choices,
        "object": "chat.completion.chunk",
        "usage": usage_body,
        "created": CREATED,
        "system_fingerprint": None,
        "model": meta.model,
        "id": ID,
    }


def chunks(answer: Answer, meta: Meta) -> list[Body]:
    steps = interleave([deltas(c) for c in answer.choices])
    out = [chunk(meta, [_item(i, d, None)]) for i, d in steps]
    out += [chunk(meta, [_item(c.index, finish_delta(c), c.finish_reason)]) for c in answer.choices]
    if meta.include_usage:
        out.append(chunk(meta, [], usage(answer.usage, cached_details=False)))
    return out


def _item(index: int, delta: Body, finish_reason: str | None) -> Body:
    return {"delta": delta, "finish_reason": finish_reason, "index": index, "logprobs": None}


def new_id() -> str:
    return "chatcmpl-" + uuid_like(os.urandom(16))


def new_call_token() -> str:
    return os.urandom(10).hex()


FLAVOUR = Flavour(
    name="dashscope",
    prefixes=("/dashscope/compatible-mode/v1",),
    models=("qwen-plus", "qwen-max", "qwen-turbo", "qwen-vl-plus", "qwen3-omni-flash"),
    owned_by="system",
    new_id=new_id,
    new_call_token=new_call_token,
    thinks=thinks,
    completion=completion,
    chunks=chunks,
    errors=ERRORS,
    error_body=openai_shape,
)

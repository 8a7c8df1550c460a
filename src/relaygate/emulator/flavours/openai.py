"""OpenAI Chat Completions, shaped like the api.openai.com recordings.

Streams follow `openai/stream__*.sse` (openai-python snapshots) and the 2025 cassettes
`chat-streaming*.yaml` (service_tier, `usage: null` on every chunk with include_usage, obfuscation).
"""

from __future__ import annotations

import os

from ..answers import Answer, Choice, Usage
from ..errors import BAD_JSON, EMPTY_MESSAGES, INVALID_KEY, MISSING_KEY, MISSING_MESSAGES, ErrorSpec, openai_shape
from .base import CALL, CREATED, ID, Body, Flavour, Meta, interleave, tool_call_fragment, tool_call_header
from .base import tool_call_in_message

FINGERPRINT = "fp_e7a1c3d9b2"
OBFUSCATION = "Xq7LmP2vRt9KwZs"

ERRORS: dict[str | int, ErrorSpec] = {
    BAD_JSON: ErrorSpec(
        400,
        "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
        "HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)",
        "invalid_request_error",
        None,
    ),
    MISSING_MESSAGES: ErrorSpec(
        400, "Missing required parameter: 'messages'.", "invalid_request_error", "missing_required_parameter",
        "messages",
    ),
    # chat-no-messages.yaml
    EMPTY_MESSAGES: ErrorSpec(
        400,
        "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
        "invalid_request_error",
        "empty_array",
        "messages",
    ),
    MISSING_KEY: ErrorSpec(
        401,
        "You didn't provide an API key. You need to provide your API key in an Authorization header using "
        "Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        "invalid_request_error",
        "invalid_api_key",
    ),
    INVALID_KEY: ErrorSpec(
        401,
        "Incorrect API key provided: {key}. You can find your API key at https://platform.openai.com/account/api-keys.",
        "invalid_request_error",
        "invalid_api_key",
    ),
    400: ErrorSpec(400, "Invalid request (scripted by the emulator).", "invalid_request_error", None),
    401: ErrorSpec(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
    # chat-unknown-model.yaml
    404: ErrorSpec(
        404, "The model `{model}` does not exist or you do not have access to it.", "invalid_request_error",
        "model_not_found",
    ),
    429: ErrorSpec(
        429, "Rate limit reached for requests. Please try again in 1s.", "requests", "rate_limit_exceeded"
    ),
    500: ErrorSpec(
        500, "The server had an error while processing your request. Sorry about that!", "server_error", None
    ),
    503: ErrorSpec(503, "The engine is currently overloaded, please try again later.", "server_error", "overloaded"),
}


def thinks(body: Body) -> bool:
    """OpenAI never returns reasoning text on Chat Completions."""
    return False


def call_id(index: int) -> str:
    return f"call_{CALL}{index:02d}"


def usage(u: Usage) -> Body:
    # chat-streaming-detailed-usage.yaml
    return {
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "total_tokens": u.total_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": u.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def message(choice: Choice) -> Body:
    body: Body = {"role": "assistant", "content": choice.content}
    if choice.tool_calls:
        body["tool_calls"] = [tool_call_in_message(c, call_id(c.index)) for c in choice.tool_calls]
    body["refusal"] = None
    body["annotations"] = []
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
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
    }


def deltas(choice: Choice) -> list[Body]:
    if not choice.tool_calls:
        opening = {"role": "assistant", "content": "", "refusal": None}
        return [opening] + [{"content": piece} for piece in choice.pieces]
    return _tool_deltas(choice)


def _tool_deltas(choice: Choice) -> list[Body]:
    # One call: role and the call's header share the first chunk (stream__pydantic_tool_call.sse);
    # several: a bare role chunk, then each header (stream__parallel_tool_calls.sse).
    out: list[Body] = [{"role": "assistant", "content": None}]
    for call in choice.tool_calls:
        out.append({"tool_calls": [tool_call_header(call, call_id(call.index))]})
        out += [{"tool_calls": [tool_call_fragment(call, f)]} for f in call.fragments]
    if len(choice.tool_calls) == 1:
        out[:2] = [{**out[0], **out[1], "refusal": None}]
    return out


def chunk(meta: Meta, choices: list[Body], usage_body: Body | None = None) -> Body:
    body: Body = {
        "id": ID,
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": meta.model,
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
        "choices": choices,
    }
    if meta.include_usage:
        body["usage"] = usage_body
    body["obfuscation"] = OBFUSCATION if choices else OBFUSCATION[:2]
    return body


def chunks(answer: Answer, meta: Meta) -> list[Body]:
    steps = interleave([deltas(c) for c in answer.choices])
    out = [chunk(meta, [_item(i, d, None)]) for i, d in steps]
    out += [chunk(meta, [_item(c.index, {}, c.finish_reason)]) for c in answer.choices]
    if meta.include_usage:
        out.append(chunk(meta, [], usage(answer.usage)))
    return out


def _item(index: int, delta: Body, finish_reason: str | None) -> Body:
    return {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}


def new_id() -> str:
    return "chatcmpl-" + os.urandom(15).hex()[:29]


def new_call_token() -> str:
    return os.urandom(11).hex()


FLAVOUR = Flavour(
    name="openai",
    prefixes=("/openai/v1", "/v1"),
    models=("gpt-4o", "gpt-4o-mini", "gpt-4.1-nano", "gpt-5-nano"),
    owned_by="system",
    new_id=new_id,
    new_call_token=new_call_token,
    thinks=thinks,
    completion=completion,
    chunks=chunks,
    errors=ERRORS,
    error_body=openai_shape,
)

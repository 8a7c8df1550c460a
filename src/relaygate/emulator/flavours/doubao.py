"""Volcengine Ark (Doubao) `/api/v3`, OpenAI-shaped with Ark's own field order.

No recording is bundled with the project; the stream shape follows a public capture of
doubao-1-5-pro-32k (CyanLeee/Rootie `volcano-stream_example.md`): every delta repeats
`"role": "assistant"`, choices carry no `logprobs`/`finish_reason` until the last chunk,
`service_tier` sits before `object`, and every chunk has `usage: null`. Ids are plain hex.
Error codes follow Ark's documented names (AuthenticationError, ...); treat them as assumptions.
"""

from __future__ import annotations

import os
import time

from ..answers import Answer, Choice, Usage
from ..errors import BAD_JSON, EMPTY_MESSAGES, INVALID_KEY, MISSING_KEY, MISSING_MESSAGES, ErrorSpec, ark_shape
from .base import CALL, CREATED, ID, Body, Flavour, Meta, interleave, tool_call_fragment, tool_call_header
from .base import tool_call_in_message

ERRORS: dict[str | int, ErrorSpec] = {
    BAD_JSON: ErrorSpec(400, "The request body is not valid JSON.", "BadRequest", "InvalidParameter"),
    MISSING_MESSAGES: ErrorSpec(400, "The parameter `messages` specified in the request is not valid.",
                                "BadRequest", "MissingParameter", "messages"),
    EMPTY_MESSAGES: ErrorSpec(400, "The parameter `messages` specified in the request is not valid.",
                              "BadRequest", "InvalidParameter", "messages"),
    MISSING_KEY: ErrorSpec(401, "The API key in the request is missing or invalid.", "Unauthorized",
                           "AuthenticationError"),
    INVALID_KEY: ErrorSpec(401, "The API key in the request is missing or invalid.", "Unauthorized",
                           "AuthenticationError"),
    400: ErrorSpec(400, "Invalid request (scripted by the emulator).", "BadRequest", "InvalidParameter"),
    401: ErrorSpec(401, "The API key in the request is missing or invalid.", "Unauthorized", "AuthenticationError"),
    404: ErrorSpec(404, "The model or endpoint {model} does not exist or you do not have access to it.", "NotFound",
                   "InvalidEndpointOrModel.NotFound"),
    429: ErrorSpec(429, "Your account has exceeded the rate limit (RPM). Please try again later.", "TooManyRequests",
                   "RateLimitExceeded.EndpointRPMExceeded"),
    500: ErrorSpec(500, "The service encountered an unexpected internal error.", "InternalServerError",
                   "InternalServiceError"),
    503: ErrorSpec(503, "The service is overloaded, please try again later.", "ServiceUnavailable",
                   "ServerOverloaded"),
}


def thinks(body: Body) -> bool:
    thinking = body.get("thinking")
    return isinstance(thinking, dict) and thinking.get("type") == "enabled"


def call_id(index: int) -> str:
    return f"call_{CALL}{index:02d}"


def usage(u: Usage) -> Body:
    return {
        "completion_tokens": u.completion_tokens,
        "prompt_tokens": u.prompt_tokens,
        "total_tokens": u.total_tokens,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
    }


def message(choice: Choice) -> Body:
    body: Body = {"content": choice.content}
    if choice.reasoning is not None:
        body["reasoning_content"] = choice.reasoning
    body["role"] = "assistant"
    if choice.tool_calls:
        body["tool_calls"] = [tool_call_in_message(c, call_id(c.index)) for c in choice.tool_calls]
    return body


def completion(answer: Answer, meta: Meta) -> Body:
    return {
        "choices": [
            {"finish_reason": c.finish_reason, "index": c.index, "logprobs": None, "message": message(c)}
            for c in answer.choices
        ],
        "created": CREATED,
        "id": ID,
        "model": meta.model,
        "service_tier": "default",
        "object": "chat.completion",
        "usage": usage(answer.usage),
    }


def deltas(choice: Choice) -> list[Body]:
    out = [{"content": "", "reasoning_content": p, "role": "assistant"} for p in choice.reasoning_pieces]
    out += [{"content": p, "role": "assistant"} for p in choice.pieces]
    for call in choice.tool_calls:
        out.append({"content": "", "role": "assistant", "tool_calls": [tool_call_header(call, call_id(call.index))]})
        out += [{"content": "", "role": "assistant", "tool_calls": [tool_call_fragment(call, f)]}
                for f in call.fragments]
    return out


def chunk(meta: Meta, choices: list[Body], usage_body: Body | None = None) -> Body:
    return {
        "choices": choices,
        "created": CREATED,
        "id": ID,
        "model": meta.model,
        "service_tier": "default",
        "object": "chat.completion.chunk",
        "usage": usage_body,
    }


def chunks(answer: Answer, meta: Meta) -> list[Body]:
    steps = interleave([deltas(c) for c in answer.choices])
    out = [chunk(meta, [{"delta": d, "index": i}]) for i, d in steps]
    out += [chunk(meta, [_finish_item(c)]) for c in answer.choices]
    if meta.include_usage:
        out.append(chunk(meta, [], usage(answer.usage)))
    return out


def _finish_item(choice: Choice) -> Body:
    delta = {"content": "", "role": "assistant"}
    return {"delta": delta, "finish_reason": choice.finish_reason, "index": choice.index}


def new_id() -> str:
    # e.g. "021742632435712396f12d018b5d576a7a55349c2eba0815061fc": "02", epoch millis, random hex
    return f"02{int(time.time() * 1000)}{os.urandom(19).hex()}"


def new_call_token() -> str:
    return os.urandom(12).hex()


FLAVOUR = Flavour(
    name="doubao",
    prefixes=("/doubao/api/v3",),
    models=("doubao-seed-1-6-251015", "doubao-1-5-pro-32k-250115", "doubao-seed-1-6-thinking-250715"),
    owned_by="volcengine",
    new_id=new_id,
    new_call_token=new_call_token,
    thinks=thinks,
    completion=completion,
    chunks=chunks,
    errors=ERRORS,
    error_body=ark_shape,
)

"""What the whole-answer and the streamed transforms share: finish reasons, usage, tool-call ids,
and where a thought signature travels on the OpenAI side."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from relaygate.providers.gemini.reading import Call

# Candidate.FinishReason (https://ai.google.dev/api/generate-content#FinishReason) → OpenAI.
# Anything else (OTHER, LANGUAGE, MALFORMED_FUNCTION_CALL, values added later) ends as "stop".
FINISH_REASONS: dict[str, str] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "IMAGE_RECITATION": "content_filter",
}
DEFAULT_FINISH = "stop"
BLOCKED_FINISH = "content_filter"  # promptFeedback.blockReason: the prompt was refused

# Where a thought signature rides on an OpenAI tool call or message, as Gemini's own
# OpenAI-compatible endpoint puts it (https://ai.google.dev/gemini-api/docs/thought-signatures):
# the client sends the assistant message back unchanged and the request transform restores it.
EXTRA = "extra_content"


def finish_reason(gemini: str | None, called: bool) -> str:
    """Gemini says STOP also after function calls; OpenAI clients look for "tool_calls"."""
    mapped = FINISH_REASONS.get(gemini or "STOP", DEFAULT_FINISH)
    return "tool_calls" if called and mapped == "stop" else mapped


def chat_usage(usage: dict[str, int]) -> dict[str, Any]:
    """UsageMetadata → OpenAI usage. Thoughts are output tokens (billed as such) and are also
    reported as reasoning tokens; tool-use prompt tokens count as prompt, as in totalTokenCount."""
    prompt = usage.get("promptTokenCount", 0) + usage.get("toolUsePromptTokenCount", 0)
    thoughts = usage.get("thoughtsTokenCount", 0)
    completion = usage.get("candidatesTokenCount", 0) + thoughts
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": usage.get("cachedContentTokenCount", 0)},
        "completion_tokens_details": {"reasoning_tokens": thoughts},
    }


def _digest(*parts: object) -> str:
    return hashlib.blake2b(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS), digest_size=12).hexdigest()


def completion_id(response_id: str | None, seed: bytes) -> str:
    """Gemini's responseId when it sent one, else a digest of the answer: the same answer, the same id."""
    return "chatcmpl-" + (response_id or _digest(seed.decode("utf-8", "replace")))


def tool_call_id(response_id: str | None, candidate: int, position: int, call: Call) -> str:
    """Gemini's function calls carry no id; one is derived from where the call sits in which answer,
    so a streamed and a whole answer with the same responseId give the same ids."""
    return "call_" + _digest(response_id, candidate, position, call.name, call.args)


def signature_extra(signature: str) -> dict[str, Any]:
    return {"google": {"thought_signature": signature}}


def signature_of(holder: dict[str, Any]) -> str | None:
    """The thought signature a client sent back on a message or tool call, if any."""
    extra = holder.get(EXTRA)
    google = extra.get("google") if isinstance(extra, dict) else None
    signature = google.get("thought_signature") if isinstance(google, dict) else None
    return signature if isinstance(signature, str) and signature else None


def tool_call(call: Call, call_id: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": call_id,
        "type": "function",
        "function": {"name": call.name, "arguments": orjson.dumps(call.args).decode()},
    }
    if call.signature:
        out[EXTRA] = signature_extra(call.signature)
    return out

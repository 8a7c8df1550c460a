"""Gemini's wire shapes for a composed answer, like the recordings (Firebase vertexai-sdk-test-data):
the `GenerateContentResponse`, the events of `streamGenerateContent?alt=sse` (`data:` lines ended
by CRLF CRLF, usageMetadata cumulative on every event, a function call whole in one event, the
finishReason on a candidate's last event) and the `google.rpc.Status` error body.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import orjson

from ..answers import Answer, Choice
from .checks import GeminiError
from .conversation import Thinking
from .signatures import Signer

FINISH = {"stop": "STOP", "length": "MAX_TOKENS", "tool_calls": "STOP"}
EVENT_END = b"\r\n\r\n"
Part = dict[str, Any]


@dataclass(frozen=True)
class Meta:
    model: str
    response_id: str
    thinking: Thinking


def response_id() -> str:
    return secrets.token_urlsafe(16)[:22]


def usage_metadata(prompt: int, candidates: int, thoughts: int) -> dict[str, Any]:
    usage: dict[str, Any] = {"promptTokenCount": prompt}
    if candidates:
        usage["candidatesTokenCount"] = candidates
    usage["totalTokenCount"] = prompt + candidates + thoughts
    usage["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": prompt}]
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    return usage


def _final_usage(answer: Answer) -> dict[str, Any]:
    usage = answer.usage
    return usage_metadata(usage.prompt_tokens, usage.completion_tokens - usage.reasoning_tokens, usage.reasoning_tokens)


def _calls(choice: Choice, meta: Meta, signer: Signer) -> list[Part]:
    """Function call parts; with thinking on the first one is signed, as Gemini signs parallel calls."""
    parts: list[Part] = []
    for call in choice.tool_calls:
        args = orjson.loads(call.arguments)
        part: Part = {"functionCall": {"name": call.name, "args": args}}
        if meta.thinking.on and not parts:
            part["thoughtSignature"] = signer.sign(call.name, args)
        parts.append(part)
    return parts


def _text(text: str, sign: bool, signer: Signer) -> Part:
    return {"text": text, "thoughtSignature": signer.sign("", {"text": text})} if sign else {"text": text}


def generate_content_response(answer: Answer, meta: Meta, signer: Signer) -> dict[str, Any]:
    return {
        "candidates": [_candidate(choice, _whole_parts(choice, meta, signer), True) for choice in answer.choices],
        "usageMetadata": _final_usage(answer),
        "modelVersion": meta.model,
        "responseId": meta.response_id,
    }


def _whole_parts(choice: Choice, meta: Meta, signer: Signer) -> list[Part]:
    parts: list[Part] = []
    if choice.reasoning and meta.thinking.thoughts:
        parts.append({"text": choice.reasoning, "thought": True})
    if choice.content is not None:
        parts.append(_text(choice.content, meta.thinking.on, signer))
    return parts + _calls(choice, meta, signer)


def _candidate(choice: Choice, parts: list[Part], last: bool) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
    if last:
        candidate["finishReason"] = FINISH.get(choice.finish_reason, "STOP")
    candidate["index"] = choice.index
    return candidate


def _steps(choice: Choice, meta: Meta, signer: Signer) -> list[list[Part]]:
    """A candidate's slices, one per event: thoughts, then text pieces, then all calls at once."""
    steps = [[{"text": piece, "thought": True}] for piece in choice.reasoning_pieces] if meta.thinking.thoughts else []
    texts = list(choice.pieces)
    for i, piece in enumerate(texts):
        steps.append([_text(piece, meta.thinking.on and i == len(texts) - 1, signer)])
    calls = _calls(choice, meta, signer)
    return steps + [calls] if calls else steps or [[{"text": ""}]]


def stream_events(answer: Answer, meta: Meta, signer: Signer) -> list[bytes]:
    per_choice = [_steps(choice, meta, signer) for choice in answer.choices]
    total = max(len(steps) for steps in per_choice)
    events, thoughts, spoken = [], 0, 0
    for position in range(total):
        candidates = []
        for choice, steps in zip(answer.choices, per_choice):
            if position < len(steps):
                candidates.append(_candidate(choice, steps[position], position == len(steps) - 1))
                thoughts += sum(1 for p in steps[position] if p.get("thought"))
                spoken += sum(1 for p in steps[position] if not p.get("thought"))
        usage = _final_usage(answer) if position == total - 1 else _partial_usage(answer, spoken, thoughts)
        event = {"candidates": candidates, "usageMetadata": usage, "modelVersion": meta.model,
                 "responseId": meta.response_id}
        events.append(b"data: " + orjson.dumps(event) + EVENT_END)
    return events


def _partial_usage(answer: Answer, spoken: int, thoughts: int) -> dict[str, Any]:
    """Totals so far, one token a slice, never above the final totals."""
    usage = answer.usage
    reasoning = min(thoughts, usage.reasoning_tokens)
    return usage_metadata(usage.prompt_tokens, min(spoken, usage.completion_tokens - usage.reasoning_tokens), reasoning)


def json_array(events: list[bytes]) -> bytes:
    """Without `alt=sse`, streamGenerateContent answers one JSON array of the same responses."""
    return b"[" + b",\r\n".join(event[len(b"data: "):-len(EVENT_END)] for event in events) + b"]"


def error_body(error: GeminiError) -> dict[str, Any]:
    details: list[dict[str, Any]] = []
    if error.reason:
        details.append({"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": error.reason,
                        "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}})
        details.append({"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US",
                        "message": error.message})
    if error.status == 429:
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"})
    body: dict[str, Any] = {"code": error.status, "message": error.message, "status": error.status_name}
    if details:
        body["details"] = details
    return {"error": body}


def error_trailer(error: GeminiError) -> bytes:
    """An error after the stream began: pretty-printed JSON with no `data:` prefix, as recorded."""
    return orjson.dumps(error_body(error), option=orjson.OPT_INDENT_2) + b"\n"

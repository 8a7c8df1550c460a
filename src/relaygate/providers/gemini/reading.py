"""A Gemini `GenerateContentResponse` (a whole answer, or one streamed event) → a checked, typed view.

This is the one place where a malformed upstream payload becomes `UpstreamProtocolError`; the
response and stream transforms only ever see the view. Shapes follow the API reference,
https://ai.google.dev/api/generate-content#generatecontentresponse (Candidate, Content, Part,
UsageMetadata, PromptFeedback).

Policy for parts with neither text nor a function call (`inlineData`, `executableCode`,
`codeExecutionResult`, `{}`): dropped, since a chat completion message has no place for them.
A `content` without `parts` is an empty answer, not an error: Gemini 2.5 sends
`{"role": "model"}` when thinking used up the whole `maxOutputTokens`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import orjson

from relaygate.errors import UpstreamProtocolError
from relaygate.speedups import native

# UsageMetadata fields the gateway reads; each, when present, must be a count.
USAGE_COUNTS = (
    "promptTokenCount", "candidatesTokenCount", "thoughtsTokenCount", "cachedContentTokenCount",
    "toolUsePromptTokenCount", "totalTokenCount",
)
COUNTED = frozenset(USAGE_COUNTS)


@dataclass(frozen=True, slots=True)
class Text:
    text: str
    thought: bool = False
    signature: str | None = None


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    args: dict[str, Any]
    signature: str | None = None


Piece = Text | Call


@dataclass(frozen=True, slots=True)
class Candidate:
    index: int
    pieces: tuple[Piece, ...]
    finish_reason: str | None  # Gemini's own enum value, unmapped


@dataclass(frozen=True, slots=True)
class GeminiResponse:
    candidates: tuple[Candidate, ...]
    usage: dict[str, int] | None
    block_reason: str | None  # promptFeedback.blockReason: the prompt itself was refused
    response_id: str | None
    model_version: str | None


def malformed(what: str) -> UpstreamProtocolError:
    return UpstreamProtocolError(f"Gemini answered with a malformed payload: {what}.")


def parse_json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise malformed("not JSON") from None


def read_response(body: Any) -> GeminiResponse:
    """The view of one response object; raises UpstreamProtocolError when it is not one."""
    if not isinstance(body, dict):
        raise malformed("not a JSON object")
    if not any(key in body for key in ("candidates", "usageMetadata", "promptFeedback")):
        raise malformed("no candidates, usageMetadata or promptFeedback")
    candidates = _typed(body, "candidates", list, "candidates") or []
    return GeminiResponse(
        candidates=tuple(_candidate(c, i) for i, c in enumerate(candidates)),
        usage=_usage(body.get("usageMetadata")),
        block_reason=_block_reason(body.get("promptFeedback")),
        response_id=_typed(body, "responseId", str, "responseId"),
        model_version=_typed(body, "modelVersion", str, "modelVersion"),
    )


PlainSlice = tuple[str, "str | None", "dict[str, int] | None"]  # text, finishReason, usageMetadata
_NONE_OR_STR = (type(None), str)


def python_plain_slice(body: Any) -> PlainSlice | None:
    """Most streamed events, checked as `read_response` checks them but without building the view:
    one candidate, at index 0, whose parts are all bare text; a finishReason and usage or not. None
    for anything else, which the full reading then reads, or rejects with its own message.
    `plain_slice` is this, in C where relaygate's C module is built (speedups.py)."""
    if body.__class__ is not dict or "promptFeedback" in body or "error" in body:
        return None
    candidates, usage = body.get("candidates"), body.get("usageMetadata")
    if candidates.__class__ is not list or len(candidates) != 1 or not _plain_usage(usage) \
            or body.get("responseId").__class__ not in _NONE_OR_STR \
            or body.get("modelVersion").__class__ not in _NONE_OR_STR:
        return None
    candidate = candidates[0]
    index = candidate.get("index") if candidate.__class__ is dict else -1
    if index is not None and (index.__class__ is not int or index != 0):
        return None
    content, finish = candidate.get("content"), candidate.get("finishReason")
    parts = content.get("parts") if content.__class__ is dict else None
    if parts.__class__ is not list or finish.__class__ not in _NONE_OR_STR:
        return None
    for part in parts:
        if part.__class__ is not dict or len(part) != 1 or part.get("text").__class__ is not str:
            return None
    return (parts[0]["text"] if len(parts) == 1 else "".join([part["text"] for part in parts])), finish, usage


plain_slice: Callable[[Any], PlainSlice | None] = (
    python_plain_slice if native is None else partial(native.plain_slice, COUNTED))


def python_event_slice(piece: bytes, end: int) -> PlainSlice | None:
    """A whole event as it came, `piece[:end]` (its blank line not counted): the plain slice of its one
    `data:` line; None for anything else (more lines, not JSON, not a plain slice). `event_slice` is
    this, in C where relaygate's C module is built."""
    if not piece.startswith(b"data: ") or piece.find(b"\n", 0, end) >= 0 or piece.find(b"\r", 0, end) >= 0:
        return None
    try:
        return python_plain_slice(orjson.loads(piece[6:end]))
    except orjson.JSONDecodeError:
        return None


event_slice: Callable[[bytes, int], PlainSlice | None] = (
    python_event_slice if native is None
    else partial(native.event_slice, COUNTED, orjson.loads, orjson.JSONDecodeError))


def _plain_usage(usage: Any) -> bool:
    """No usage, or counts that are integers where present (a null one is left to `_usage`)."""
    if usage is None:
        return True
    if usage.__class__ is not dict:
        return False
    for key, value in usage.items():
        if value.__class__ is not int and key in COUNTED:
            return False
    return True


def _typed(obj: dict[str, Any], key: str, kind: type, what: str) -> Any:
    """obj[key] when present and of `kind`; None when absent or null; else a protocol error."""
    value = obj.get(key)
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool) and kind is not bool):
        raise malformed(f"{what} has the wrong type")
    return value


def _candidate(candidate: Any, position: int) -> Candidate:
    if not isinstance(candidate, dict):
        raise malformed("a candidate is not an object")
    index = _typed(candidate, "index", int, "candidate.index")
    content = _typed(candidate, "content", dict, "candidate.content") or {}
    parts = _typed(content, "parts", list, "content.parts") or []
    pieces = tuple(piece for piece in (_piece(part) for part in parts) if piece is not None)
    finish = _typed(candidate, "finishReason", str, "candidate.finishReason")
    return Candidate(position if index is None else index, pieces, finish)


def _piece(part: Any) -> Piece | None:
    if not isinstance(part, dict):
        raise malformed("a part is not an object")
    signature = _typed(part, "thoughtSignature", str, "part.thoughtSignature")
    if "functionCall" in part:
        return _call(part["functionCall"], signature)
    text = _typed(part, "text", str, "part.text")
    if text is None:
        return Text("", signature=signature) if signature else None
    return Text(text, thought=_typed(part, "thought", bool, "part.thought") is True, signature=signature)


def _call(call: Any, signature: str | None) -> Call:
    if not isinstance(call, dict) or not isinstance(call.get("name"), str) or not call["name"]:
        raise malformed("a functionCall has no name")
    args = _typed(call, "args", dict, "functionCall.args") or {}
    return Call(call["name"], args, signature)


def _usage(usage: Any) -> dict[str, int] | None:
    if usage is None:
        return None
    if not isinstance(usage, dict):
        raise malformed("usageMetadata is not an object")
    counts = {key: _typed(usage, key, int, f"usageMetadata.{key}") for key in USAGE_COUNTS}
    return {key: value for key, value in counts.items() if value is not None}


def _block_reason(feedback: Any) -> str | None:
    if feedback is None:
        return None
    if not isinstance(feedback, dict):
        raise malformed("promptFeedback is not an object")
    return _typed(feedback, "blockReason", str, "promptFeedback.blockReason")

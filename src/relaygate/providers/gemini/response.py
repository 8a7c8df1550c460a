"""A whole `generateContent` answer → an OpenAI `chat.completion` object.

Per candidate: text parts become `content`, thought parts (`thought: true`, sent when
`includeThoughts` is on) become `reasoning_content`, function calls become `tool_calls` with
derived ids, and a thought signature on a text part rides on the message's `extra_content`
(https://ai.google.dev/gemini-api/docs/thought-signatures). An answer that is one candidate's
plain text (`plain_slice`) is read without the typed view; the completion is the same.
"""

from __future__ import annotations

from typing import Any

from relaygate.providers.gemini.mapping import (
    BLOCKED_FINISH, EXTRA, chat_usage, completion_id, finish_reason, signature_extra, tool_call, tool_call_id,
)
from relaygate.providers.gemini.reading import (
    Call, Candidate, GeminiResponse, PlainSlice, Text, malformed, parse_json, plain_slice, read_response,
)


def generate_content_to_chat(raw: bytes, model: str, created: int) -> dict[str, Any]:
    """`model` is the upstream model asked for, used when Gemini does not name its modelVersion."""
    body = parse_json(raw)
    plain = plain_slice(body)
    if plain is not None and plain[0]:
        return _plain_completion(body, plain, raw, model, created)
    response = read_response(body)
    if not response.candidates and response.block_reason is None:
        raise malformed("no candidates")
    choices = [_choice(response, candidate) for candidate in response.candidates] or [_blocked_choice()]
    return {
        "id": completion_id(response.response_id, raw[:4096]),
        "object": "chat.completion",
        "created": created,
        "model": response.model_version or model,
        "choices": choices,
        "usage": chat_usage(response.usage) if response.usage is not None else None,
    }


def _plain_completion(body: dict[str, Any], plain: PlainSlice, raw: bytes, model: str, created: int) -> dict[str, Any]:
    text, finish, usage = plain
    return {
        "id": completion_id(body.get("responseId"), raw[:4096]),
        "object": "chat.completion",
        "created": created,
        "model": body.get("modelVersion") or model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "logprobs": None,
            "finish_reason": finish_reason(finish, False),
        }],
        "usage": chat_usage(usage) if usage is not None else None,
    }


def _choice(response: GeminiResponse, candidate: Candidate) -> dict[str, Any]:
    calls = [piece for piece in candidate.pieces if isinstance(piece, Call)]
    return {
        "index": candidate.index,
        "message": candidate_message(response.response_id, candidate),
        "logprobs": None,
        "finish_reason": finish_reason(candidate.finish_reason, bool(calls)),
    }


def candidate_message(response_id: str | None, candidate: Candidate) -> dict[str, Any]:
    texts = [piece for piece in candidate.pieces if isinstance(piece, Text)]
    answer = [piece.text for piece in texts if not piece.thought]
    thoughts = [piece.text for piece in texts if piece.thought]
    calls = [piece for piece in candidate.pieces if isinstance(piece, Call)]
    message: dict[str, Any] = {"role": "assistant", "content": "".join(answer) if answer else None}
    if thoughts:
        message["reasoning_content"] = "".join(thoughts)
    if calls:
        message["tool_calls"] = [
            tool_call(call, tool_call_id(response_id, candidate.index, i, call)) for i, call in enumerate(calls)
        ]
    signatures = [piece.signature for piece in texts if piece.signature]
    if signatures:
        message[EXTRA] = signature_extra(signatures[-1])
    return message


def _blocked_choice() -> dict[str, Any]:
    message = {"role": "assistant", "content": None}
    return {"index": 0, "message": message, "logprobs": None, "finish_reason": BLOCKED_FINISH}

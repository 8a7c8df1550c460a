"""OpenAI chat chunks → one chat.completion, for upstream models that answer only when streamed
(DashScope's QwQ/QVQ family, Qwen3 open-source models with thinking on) and a client that did not
ask for a stream. Pure: chunks in, a completion dict out."""

from __future__ import annotations

from typing import Any, Iterable

import orjson

from relaygate.errors import UpstreamError, UpstreamProtocolError
from relaygate.wire.sse import SSEDecoder

TEXT_FIELDS = ("content", "reasoning_content", "refusal")


class CompletionBuilder:
    def __init__(self) -> None:
        self.completion: dict[str, Any] = {"id": None, "object": "chat.completion", "created": None, "model": None}
        self.choices: dict[int, dict[str, Any]] = {}
        self.calls: dict[tuple[int, int], dict[str, Any]] = {}
        self.usage: dict[str, Any] | None = None

    def add(self, chunk: dict[str, Any]) -> None:
        for key in ("id", "created", "model", "system_fingerprint"):
            if chunk.get(key) is not None and self.completion.get(key) is None:
                self.completion[key] = chunk[key]
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        for part in chunk.get("choices") or []:
            self._add_choice(part)

    def _add_choice(self, part: dict[str, Any]) -> None:
        index = part.get("index", 0)
        choice = self.choices.setdefault(index, {
            "index": index, "message": {"role": "assistant", "content": None}, "logprobs": None, "finish_reason": None,
        })
        delta = part.get("delta") or {}
        message = choice["message"]
        for name in TEXT_FIELDS:
            if delta.get(name):
                message[name] = (message.get(name) or "") + delta[name]
        for call in delta.get("tool_calls") or []:
            self._add_call(index, message, call)
        if part.get("finish_reason"):
            choice["finish_reason"] = part["finish_reason"]

    def _add_call(self, choice: int, message: dict[str, Any], delta: dict[str, Any]) -> None:
        key = (choice, delta.get("index", 0))
        call = self.calls.get(key)
        if call is None:
            call = self.calls[key] = {"id": "", "type": "function", "function": {"name": "", "arguments": ""}}
            message.setdefault("tool_calls", []).append(call)
        call["id"] = call["id"] or delta.get("id") or ""
        function = delta.get("function") or {}
        call["function"]["name"] = call["function"]["name"] or function.get("name") or ""
        call["function"]["arguments"] += function.get("arguments") or ""

    def build(self) -> dict[str, Any]:
        completion = dict(self.completion)
        completion["choices"] = [self.choices[i] for i in sorted(self.choices)]
        if self.usage is not None:
            completion["usage"] = self.usage
        return completion


def chunks_to_completion(chunks: Iterable[dict[str, Any]]) -> dict[str, Any]:
    builder = CompletionBuilder()
    for chunk in chunks:
        builder.add(chunk)
    return builder.build()


def merged_choices(answers: list[dict[str, Any]]) -> dict[str, Any]:
    """Whole answers of one choice each, made by as many calls for one request's `n`, as one answer:
    the first's id and fields, every answer's choice (numbered in order), and their usage added up
    (each call was billed its prompt)."""
    merged = answers[0]
    merged["choices"] = [{**answer["choices"][0], "index": i} for i, answer in enumerate(answers)]
    usages = [answer.get("usage") for answer in answers]
    if all(isinstance(usage, dict) for usage in usages):
        merged["usage"] = summed(usages)
    return merged


def summed(counts: list[dict[str, Any]]) -> dict[str, Any]:
    """Usage objects added up, key by key and inside their details; what is not a count is the first's."""
    total: dict[str, Any] = {}
    for usage in counts:
        for name, value in usage.items():
            if value.__class__ is int:
                total[name] = total.get(name, 0) + value
            elif isinstance(value, dict):
                before = total.get(name)
                total[name] = summed([before, value]) if isinstance(before, dict) else dict(value)
            else:
                total.setdefault(name, value)
    return total


def gather_stream(provider: str, data: bytes) -> dict[str, Any]:
    """A whole OpenAI-wire SSE body → one chat.completion; errors in it are the upstream's."""
    decoder = SSEDecoder()
    events = decoder.feed(data) + decoder.flush()
    if not events or events[-1].data != b"[DONE]":
        raise UpstreamProtocolError(f"Provider '{provider}' ended the stream before [DONE].")
    try:
        chunks = [orjson.loads(event.data) for event in events[:-1]]
    except orjson.JSONDecodeError:
        raise UpstreamProtocolError(f"Provider '{provider}' sent a chunk that is not JSON.") from None
    for chunk in chunks:
        if not isinstance(chunk, dict):
            raise UpstreamProtocolError(f"Provider '{provider}' sent a chunk that is not an object.")
        if isinstance(chunk.get("error"), dict):
            raise UpstreamError(f"Provider '{provider}' failed: {str(chunk['error'].get('message'))[:300]}")
    return chunks_to_completion(chunks)

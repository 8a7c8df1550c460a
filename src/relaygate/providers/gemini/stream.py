"""`streamGenerateContent?alt=sse` events → OpenAI `chat.completion.chunk` objects.

Each event is a whole `GenerateContentResponse` holding the next slice of every candidate
(https://ai.google.dev/api/generate-content#method:-models.streamgeneratecontent). State is kept
per candidate index, the way Gemini keys it. Specifics:

- Function calls arrive whole, never in fragments: each becomes one tool-call delta with its id,
  name and complete arguments, indexed by its position among that candidate's calls.
- `usageMetadata` is cumulative: every event repeats the totals so far, so the last one is the
  answer's usage. It replaces, never adds to, what came before.
- The finish chunk waits for the end of the stream: Vertex AI repeats `finishReason: STOP` on
  events that still carry text, so the last reason seen is the one that counts.
- An error object in the stream raises; a stream that ends without a finish reason is not done.

Most events are one candidate's next piece of text: those skip the typed view (`plain_slice`) and
their text is written between chunk bytes made once per stream, the same bytes `_chunk` makes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable

import orjson

from relaygate.providers.gemini.errors import error_from_body
from relaygate.providers.gemini.framing import GeminiEventDecoder
from relaygate.providers.gemini.mapping import (
    BLOCKED_FINISH, EXTRA, chat_usage, completion_id, finish_reason, signature_extra, tool_call, tool_call_id,
)
from relaygate.providers.gemini.reading import (
    Call, Candidate, GeminiResponse, Text, event_slice, parse_json, plain_slice, read_response,
)
from relaygate.providers.openai_stream import StreamEnd
from relaygate.wire.sse import Event


class Phase(Enum):
    WAITING = "waiting"  # nothing sent for this candidate yet: its first delta carries the role
    STREAMING = "streaming"
    FINISHED = "finished"  # a finishReason came; more slices may still follow it


@dataclass(slots=True)
class CandidateStream:
    index: int
    phase: Phase = Phase.WAITING
    calls: int = 0  # tool calls sent so far, so the next one's OpenAI index
    finish: str | None = None  # Gemini's last finishReason


class MetadataEnd(StreamEnd):
    """A StreamEnd whose `usage` is converted from the last usageMetadata only when it is read
    (by metering, once the stream is over or cut), not on every event that repeats the counts."""

    __slots__ = ("_usage", "metadata")

    def __init__(self) -> None:
        self.metadata: dict[str, int] | None = None
        super().__init__()

    @property  # type: ignore[override]
    def usage(self) -> dict[str, Any] | None:
        if self.metadata is not None:
            self._usage, self.metadata = chat_usage(self.metadata), None
        return self._usage

    @usage.setter
    def usage(self, value: dict[str, Any] | None) -> None:
        self._usage, self.metadata = value, None


@dataclass(slots=True)
class StreamIdentity:
    """What every chunk repeats; fixed by the first event."""

    id: str
    model: str
    created: int
    response_id: str | None
    # A text chunk of the first candidate up to its text, as `_chunk` writes it, with the role (for
    # its first) or without, and each framed for SSE (for `chunk`) or not (for `translate`).
    text_head: bytes = b""
    role_head: bytes = b""
    framed_text_head: bytes = b""
    framed_role_head: bytes = b""

    def __post_init__(self) -> None:
        head = (
            b'{"id":' + orjson.dumps(self.id) + b',"object":"chat.completion.chunk","created":'
            + str(self.created).encode() + b',"model":' + orjson.dumps(self.model)
            + b',"choices":[{"index":0,"delta":{'
        )
        self.text_head, self.role_head = head + b'"content":', head + b'"role":"assistant","content":'
        self.framed_text_head, self.framed_role_head = b"data: " + self.text_head, b"data: " + self.role_head


TEXT_TAIL = b'},"logprobs":null,"finish_reason":null}]}'
FRAMED_TEXT_TAIL = TEXT_TAIL + b"\n\n"


@dataclass(slots=True)
class GeminiStreamTranslator:
    model: str
    created: int
    include_usage: bool
    end: MetadataEnd = field(default_factory=MetadataEnd)
    decoder: GeminiEventDecoder = field(default_factory=GeminiEventDecoder)
    identity: StreamIdentity | None = None
    candidates: dict[int, CandidateStream] = field(default_factory=dict)
    blocked: bool = False
    fast: Callable[[bytes, int], bytes | None] | None = None
    run: None = None  # no stretch of events in one call

    def translate(self, event: Event) -> list[bytes]:
        body = parse_json(event.data)
        plain = plain_slice(body) if self.identity is not None else None
        if plain is not None:
            chunk = self._plain(*plain)
            return [chunk] if chunk else []
        if isinstance(body, dict) and "error" in body:
            raise error_from_body("gemini", body)
        response = read_response(body)
        identity = self._identify(response, event.data)
        self.fast = self.chunk
        if response.usage is not None:
            self.end.usage = chat_usage(response.usage)
        if response.block_reason is not None:
            self.blocked = True
        deltas = [(c.index, self._delta(c, identity.response_id)) for c in response.candidates]
        return [_chunk(identity, [_choice(i, delta, None)]) for i, delta in deltas if delta]

    def chunk(self, piece: bytes, end: int) -> bytes | None:
        """`fast`, once the first event is read: a whole event as it came, `piece[:end]` (one `data:`
        line, without the blank line), that is a plain slice becomes its framed chunk (b"" for
        none); anything else None, and nothing changed."""
        plain = event_slice(piece, end)
        return None if plain is None else self._plain(*plain, framed=True)

    def close(self) -> list[bytes]:
        """At the upstream's end of stream: finish chunks, then usage if the client asked for it."""
        if self.identity is None or not self._complete():
            return []
        chunks = [_chunk(self.identity, [_choice(s.index, {}, self._finish(s))]) for s in self._streams()]
        if self.include_usage and self.end.usage is not None:
            chunks.append(_chunk(self.identity, [], self.end.usage))
        self.end.done = True
        return chunks

    def _plain(self, text: str, finish: str | None, usage: dict[str, int] | None, framed: bool = False) -> bytes:
        """`translate` for a `plain_slice`: the same state changes and chunk bytes, fewer steps
        (`framed`: the chunk framed for SSE, as `chunk` sends it)."""
        identity = self.identity
        assert identity is not None
        if usage is not None:
            self.end.metadata = usage
        state = self.candidates.get(0) or self.candidates.setdefault(0, CandidateStream(0))
        if finish is not None:
            state.finish = finish
        waiting = state.phase is Phase.WAITING
        if state.finish is not None:
            state.phase = Phase.FINISHED
        elif text:
            state.phase = Phase.STREAMING
        if not text:
            return b""
        if framed:
            return (identity.framed_role_head if waiting else identity.framed_text_head) + orjson.dumps(text) \
                + FRAMED_TEXT_TAIL
        return (identity.role_head if waiting else identity.text_head) + orjson.dumps(text) + TEXT_TAIL

    def _identify(self, response: GeminiResponse, data: bytes) -> StreamIdentity:
        if self.identity is None:
            self.identity = StreamIdentity(
                completion_id(response.response_id, data[:4096]), response.model_version or self.model,
                self.created, response.response_id,
            )
        return self.identity

    def _delta(self, candidate: Candidate, response_id: str | None) -> dict[str, Any]:
        state = self.candidates.setdefault(candidate.index, CandidateStream(candidate.index))
        delta = _pieces_delta(candidate, state, response_id)
        if candidate.finish_reason is not None:
            state.finish = candidate.finish_reason
        if delta and state.phase is Phase.WAITING:
            delta = {"role": "assistant", **delta}
        if state.finish is not None:
            state.phase = Phase.FINISHED
        elif delta:
            state.phase = Phase.STREAMING
        return delta

    def _complete(self) -> bool:
        if self.blocked:
            return True
        return bool(self.candidates) and all(s.phase is Phase.FINISHED for s in self.candidates.values())

    def _streams(self) -> list[CandidateStream]:
        return sorted(self.candidates.values(), key=lambda s: s.index) or [CandidateStream(0)]

    def _finish(self, state: CandidateStream) -> str:
        if self.blocked and state.finish is None:
            return BLOCKED_FINISH
        return finish_reason(state.finish, state.calls > 0)


def _pieces_delta(candidate: Candidate, state: CandidateStream, response_id: str | None) -> dict[str, Any]:
    """One delta for this event's slice of a candidate: its thoughts, text and whole calls."""
    texts = [piece for piece in candidate.pieces if isinstance(piece, Text)]
    delta: dict[str, Any] = {}
    thoughts = "".join(piece.text for piece in texts if piece.thought)
    answer = "".join(piece.text for piece in texts if not piece.thought)
    if thoughts:
        delta["reasoning_content"] = thoughts
    if answer:
        delta["content"] = answer
    calls = [_call_delta(piece, state, response_id) for piece in candidate.pieces if isinstance(piece, Call)]
    if calls:
        delta["tool_calls"] = calls
    signature = next((piece.signature for piece in reversed(texts) if piece.signature), None)
    if signature:
        delta[EXTRA] = signature_extra(signature)
    return delta


def _call_delta(call: Call, state: CandidateStream, response_id: str | None) -> dict[str, Any]:
    index = state.calls
    state.calls += 1
    return {"index": index, **tool_call(call, tool_call_id(response_id, state.index, index, call))}


def _choice(index: int, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    return {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}


def _chunk(identity: StreamIdentity, choices: list[dict[str, Any]], usage: dict[str, Any] | None = None) -> bytes:
    chunk: dict[str, Any] = {
        "id": identity.id,
        "object": "chat.completion.chunk",
        "created": identity.created,
        "model": identity.model,
        "choices": choices,
    }
    if usage is not None:
        chunk["usage"] = usage
    return orjson.dumps(chunk)

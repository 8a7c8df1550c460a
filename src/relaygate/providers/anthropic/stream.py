"""Anthropic Messages event stream → OpenAI chat.completion.chunk data, one event at a time.

The event grammar (https://docs.anthropic.com/en/docs/build-with-claude/streaming, "Event types"):
`message_start`, then per content block `content_block_start`, `content_block_delta`s and
`content_block_stop`, then `message_delta` (stop reason, cumulative usage) and `message_stop`;
`ping` anywhere, and `error` when the upstream fails after answering 200.

    event / delta                  chunks sent
    message_start                  none yet: the role chunk waits for the first content, so an
                                   `error` that comes before any content is still a clean 502
                                   the router can retry elsewhere (the stream is not committed)
    content_block_start tool_use   a tool call header: its own index (counted apart from the block
                                   index, which thinking and text blocks also use), id, name
    content_block_start redacted   `thinking_blocks: [{index, type: redacted_thinking, data}]`
    text_delta                     `content`
    input_json_delta               the call's `arguments`, piece by piece (`content` for JSON mode)
    thinking_delta                 `reasoning_content`
    signature_delta                none: kept until the block stops
    content_block_stop thinking    `thinking_blocks: [{index, type: thinking, thinking, signature}]`, whole
    message_delta                  none: the stop reason and usage are kept
    message_stop                   the finish chunk, then the usage chunk (`choices: []`) when the
                                   client asked for it; `end.done`
    ping                           none
    error                          raises UpstreamError
    anything else                  ignored, as Anthropic's versioning policy asks of clients
                                   ("Other events"); so are block and delta types it adds later

Each `thinking_blocks` entry is sent once, whole, with its position among the answer's thinking
blocks as `index`: the openai SDK's stream accumulator (`ChatCompletionStreamState`) merges list
entries of a delta by `index` and fails on entries without one.

`end.usage` follows every usage update, so metering has the counts even of a stream cut short.
The deltas of the block being streamed take a shortcut that parses only their string (shortcut.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable

import orjson

from relaygate.errors import UpstreamProtocolError
from relaygate.providers.anthropic.errors import error_from_event
from relaygate.providers.anthropic.json_mode import JSON_TOOL
from relaygate.providers.anthropic.response import finish_reason
from relaygate.providers.anthropic.shortcut import DeltaShortcut, Fast, Run
from relaygate.providers.anthropic.usage import chat_usage, counts_of, merged_counts
from relaygate.providers.openai_stream import StreamEnd
from relaygate.wire.sse import Event

Delta = dict[str, Any]
DeltaHandler = Callable[["Block", dict[str, Any]], "Delta | None"]


class Phase(Enum):
    AWAITING_START = "awaiting message_start"
    IN_MESSAGE = "in the message"
    FINISHED = "after message_stop"


class BlockKind(Enum):
    TEXT = "text"
    TOOL = "tool_use"
    JSON = "json-mode tool_use"
    THINKING = "thinking"
    OTHER = "other"  # redacted thinking (sent whole at its start) and block types relaygate does not map


@dataclass(slots=True)
class Block:
    kind: BlockKind
    deltas: dict[str, DeltaHandler]  # the delta types this kind of block maps, by `delta.type`
    tool_index: int = -1
    thinking: list[str] = field(default_factory=list)
    signature: list[str] = field(default_factory=list)


DELTA_TAIL = b',"logprobs":null,"finish_reason":null}]}'
# A ping's data as Anthropic writes it (and compact): known by its bytes, sends nothing, changes nothing
PINGS = frozenset({b'{"type": "ping"}', b'{"type":"ping"}'})
NO_CALLS = (None, None)  # no `fast`, no `run`


class ChunkWriter:
    """Chat chunk bytes for one answer; the id, model and created parts are serialised once."""

    __slots__ = ("head", "id", "model", "created")

    def __init__(self, id: str, model: str, created: int, choice: int = 0) -> None:
        self.id, self.model, self.created = id, model, created
        self.head = (
            b'{"id":' + orjson.dumps(id) + b',"object":"chat.completion.chunk","created":' + str(created).encode()
            + b',"model":' + orjson.dumps(model) + b',"choices":[{"index":' + str(choice).encode() + b',"delta":'
        )

    def delta(self, delta: Delta) -> bytes:
        return self.head + orjson.dumps(delta) + DELTA_TAIL

    def finish(self, reason: str) -> bytes:
        return self.head + b'{},"logprobs":null,"finish_reason":' + orjson.dumps(reason) + b"}]}"

    def usage(self, usage: dict[str, Any]) -> bytes:
        return orjson.dumps({
            "id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
            "choices": [], "usage": usage,
        })


class MessagesStreamTranslator:
    """The StreamTranslator for one Anthropic stream (see the module docstring for the mapping)."""

    decoder = None  # Anthropic frames events as plain SSE: the pump's own decoder reads them

    def __init__(self, model: str, created: int, client_wants_usage: bool, json_mode: bool) -> None:
        self.model, self.created = model, created
        self.client_wants_usage, self.json_mode = client_wants_usage, json_mode
        self.end = StreamEnd()
        self.phase = Phase.AWAITING_START
        self.writer = ChunkWriter("", model, created)
        self.opened = False  # the role chunk went out
        self.blocks: dict[int, Block] = {}
        self.shortcut: DeltaShortcut | None = None  # for the deltas of the block started last
        self.shortcut_calls: tuple[Fast, Run | None] | None = None  # its `fast()`
        self.fast: Fast | None = None  # those, once the role chunk is out
        self.run: Run | None = None
        self.tool_calls = 0
        self.thinking_blocks = 0
        self.stop_reason: str | None = None
        self.counts = counts_of(None)
        self.choice = 0  # the index of its choice, and the id its chunks carry (the message's, unless set)
        self.id: str | None = None

    def as_choice(self, index: int, id: str, created: int) -> None:
        """One of several streams answering one request's `n`: its chunks are choice `index` of an
        answer whose chunks all carry `id` and `created`."""
        self.choice, self.id, self.created = index, id, created
        self.writer = ChunkWriter(id, self.model, created, index)

    def translate(self, event: Event) -> list[bytes]:
        if self.phase is Phase.FINISHED or event.data in PINGS:
            return []
        if self.shortcut is not None:
            chunks = self.shortcut.chunks(event.data)
            if chunks is not None:
                return chunks if self.opened or not chunks else self._open() + chunks
        chunks = self._translate(event)
        calls = self.shortcut_calls
        self.fast, self.run = calls if calls is not None and self.opened and self.phase is Phase.IN_MESSAGE else NO_CALLS
        return chunks

    def _translate(self, event: Event) -> list[bytes]:
        payload = decode(event)
        kind = payload.get("type") or event.event or ""
        if kind == "content_block_delta" and self.phase is Phase.IN_MESSAGE:
            return self._block_delta(payload)  # most events: the shortest way through
        handler = EVENTS.get(kind)
        if handler is None:
            return []
        if self.phase is Phase.AWAITING_START and handler not in BEFORE_START:
            raise UpstreamProtocolError(f"Anthropic sent {payload.get('type')!r} before message_start.")
        return handler(self, payload)

    def close(self) -> list[bytes]:
        """At the upstream's end of stream: nothing to add. Without `message_stop` the answer is
        incomplete; `end.done` stays False and the caller reports it."""
        return []

    def _message_start(self, payload: dict[str, Any]) -> list[bytes]:
        message = payload.get("message")
        if not isinstance(message, dict):
            raise UpstreamProtocolError("Anthropic sent message_start without a message.")
        self.writer = ChunkWriter(self.id or str(message.get("id") or ""), str(message.get("model") or self.model),
                                  self.created, self.choice)
        self.shortcut = self.shortcut_calls = None  # it wrote the previous writer's bytes
        self._count(counts_of(message.get("usage")))
        self.phase = Phase.IN_MESSAGE
        return []

    def _block_start(self, payload: dict[str, Any]) -> list[bytes]:
        index, block = payload.get("index"), payload.get("content_block")
        if not isinstance(index, int) or not isinstance(block, dict):
            raise UpstreamProtocolError("Anthropic sent content_block_start without an index and a block.")
        starter = BLOCK_STARTS.get(block.get("type") or "", _other_start)
        kind, delta = starter(self, block)
        self.blocks[index] = Block(kind, DELTAS[kind], self.tool_calls - 1 if kind is BlockKind.TOOL else -1)
        self.shortcut = self._shortcut(index, self.blocks[index])
        self.shortcut_calls = self.shortcut.fast() if self.shortcut is not None else None
        return self._send(delta) if delta else []

    def _block_delta(self, payload: dict[str, Any]) -> list[bytes]:
        block, delta = self.blocks.get(payload.get("index")), payload.get("delta")  # type: ignore[arg-type]
        if block is None or not isinstance(delta, dict):
            raise UpstreamProtocolError("Anthropic sent content_block_delta for a block that was not started.")
        handler = block.deltas.get(delta.get("type"))  # type: ignore[arg-type]
        chat_delta = handler(block, delta) if handler is not None else None
        if chat_delta is None:
            return []
        return [self.writer.delta(chat_delta)] if self.opened else self._send(chat_delta)

    def _block_stop(self, payload: dict[str, Any]) -> list[bytes]:
        block = self.blocks.get(payload.get("index"))  # type: ignore[arg-type]
        if block is None or block.kind is not BlockKind.THINKING:
            return []
        whole = {"type": "thinking", "thinking": "".join(block.thinking), "signature": "".join(block.signature)}
        return self._send(self._thinking_block(whole))

    def _message_delta(self, payload: dict[str, Any]) -> list[bytes]:
        delta = payload.get("delta")
        if isinstance(delta, dict) and isinstance(delta.get("stop_reason"), str):
            self.stop_reason = delta["stop_reason"]
        self._count(merged_counts(self.counts, payload.get("usage")))
        return []

    def _message_stop(self, payload: dict[str, Any]) -> list[bytes]:
        out = self._open()
        out.append(self.writer.finish(finish_reason(self.stop_reason, self.tool_calls > 0)))
        if self.client_wants_usage:
            out.append(self.writer.usage(chat_usage(self.counts)))
        self.phase = Phase.FINISHED
        self.shortcut = self.shortcut_calls = None
        self.end.done = True
        return out

    def _ping(self, payload: dict[str, Any]) -> list[bytes]:
        return []

    def _error(self, payload: dict[str, Any]) -> list[bytes]:
        raise error_from_event(payload)

    def _shortcut(self, index: int, block: Block) -> DeltaShortcut | None:
        shape = SHORTCUTS.get(block.kind)
        if shape is None:
            return None
        delta_type, name, head, tail = shape
        head = self.writer.head + head.replace(b"%d", str(block.tool_index).encode())
        thinking = block.kind is BlockKind.THINKING  # its stop sends the whole block: not a shortcut's
        return DeltaShortcut.of(index, delta_type, name, head, tail + DELTA_TAIL, block.thinking if thinking else None,
                                stops=not thinking)

    def _thinking_block(self, block: dict[str, str]) -> Delta:
        self.thinking_blocks += 1
        return {"thinking_blocks": [{"index": self.thinking_blocks - 1, **block}]}

    def _count(self, counts: dict[str, int]) -> None:
        self.counts = counts
        self.end.usage = chat_usage(counts)

    def _open(self) -> list[bytes]:
        if self.opened:
            return []
        self.opened = True
        self.fast, self.run = self.shortcut_calls or NO_CALLS
        return [self.writer.delta({"role": "assistant", "content": ""})]

    def _send(self, delta: Delta) -> list[bytes]:
        out = self._open()
        out.append(self.writer.delta(delta))
        return out


EventHandler = Callable[[MessagesStreamTranslator, dict[str, Any]], list[bytes]]
EVENTS: dict[str, EventHandler] = {
    "message_start": MessagesStreamTranslator._message_start,
    "content_block_start": MessagesStreamTranslator._block_start,
    "content_block_delta": MessagesStreamTranslator._block_delta,
    "content_block_stop": MessagesStreamTranslator._block_stop,
    "message_delta": MessagesStreamTranslator._message_delta,
    "message_stop": MessagesStreamTranslator._message_stop,
    "ping": MessagesStreamTranslator._ping,
    "error": MessagesStreamTranslator._error,
}
BEFORE_START = frozenset({MessagesStreamTranslator._message_start, MessagesStreamTranslator._ping,
                          MessagesStreamTranslator._error})


def decode(event: Event) -> dict[str, Any]:
    """The event's JSON object. The real API pads some `data:` lines with spaces after the JSON."""
    try:
        payload = orjson.loads(event.data)
    except orjson.JSONDecodeError:
        raise UpstreamProtocolError("Anthropic sent a stream event that is not JSON.") from None
    if not isinstance(payload, dict):
        raise UpstreamProtocolError("Anthropic sent a stream event that is not a JSON object.")
    return payload


BlockStart = Callable[[MessagesStreamTranslator, dict[str, Any]], tuple[BlockKind, Delta | None]]


def _text_start(t: MessagesStreamTranslator, block: dict[str, Any]) -> tuple[BlockKind, Delta | None]:
    text = block.get("text")
    return BlockKind.TEXT, ({"content": text} if isinstance(text, str) and text else None)


def _tool_start(t: MessagesStreamTranslator, block: dict[str, Any]) -> tuple[BlockKind, Delta | None]:
    name, call_id = block.get("name"), block.get("id")
    if not isinstance(name, str) or not isinstance(call_id, str):
        raise UpstreamProtocolError("Anthropic started a tool_use block without an id and a name.")
    if t.json_mode and name == JSON_TOOL:
        return BlockKind.JSON, None
    t.tool_calls += 1
    header = {"index": t.tool_calls - 1, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
    return BlockKind.TOOL, {"tool_calls": [header]}


def _thinking_start(t: MessagesStreamTranslator, block: dict[str, Any]) -> tuple[BlockKind, Delta | None]:
    return BlockKind.THINKING, None


def _redacted_start(t: MessagesStreamTranslator, block: dict[str, Any]) -> tuple[BlockKind, Delta | None]:
    data = block.get("data")
    if not isinstance(data, str):
        raise UpstreamProtocolError("Anthropic sent a redacted_thinking block without its data.")
    return BlockKind.OTHER, t._thinking_block({"type": "redacted_thinking", "data": data})


def _other_start(t: MessagesStreamTranslator, block: dict[str, Any]) -> tuple[BlockKind, Delta | None]:
    return BlockKind.OTHER, None


BLOCK_STARTS: dict[str, BlockStart] = {
    "text": _text_start,
    "tool_use": _tool_start,
    "thinking": _thinking_start,
    "redacted_thinking": _redacted_start,
}


def _string(delta: dict[str, Any], name: str) -> str:
    value = delta.get(name)
    if not isinstance(value, str):
        raise UpstreamProtocolError(f"Anthropic sent a {delta.get('type')} without its `{name}` string.")
    return value


def _text_delta(block: Block, delta: dict[str, Any]) -> Delta | None:
    text = delta.get("text")
    if text.__class__ is not str:
        raise UpstreamProtocolError("Anthropic sent a text_delta without its `text` string.")
    return {"content": text} if text else None


def _arguments_delta(block: Block, delta: dict[str, Any]) -> Delta | None:
    piece = _string(delta, "partial_json")
    if not piece:
        return None
    return {"tool_calls": [{"index": block.tool_index, "function": {"arguments": piece}}]}


def _json_delta(block: Block, delta: dict[str, Any]) -> Delta | None:
    piece = _string(delta, "partial_json")
    return {"content": piece} if piece else None


def _thinking_delta(block: Block, delta: dict[str, Any]) -> Delta | None:
    text = _string(delta, "thinking")
    block.thinking.append(text)
    return {"reasoning_content": text} if text else None


def _signature_delta(block: Block, delta: dict[str, Any]) -> Delta | None:
    block.signature.append(_string(delta, "signature"))
    return None


# The shortcut per kind of block: its one delta type and string field, and the chat delta's bytes
# around that string (the same as `orjson.dumps` makes of what the DELTAS handlers return).
SHORTCUTS: dict[BlockKind, tuple[str, str, bytes, bytes]] = {
    BlockKind.TEXT: ("text_delta", "text", b'{"content":', b"}"),
    BlockKind.TOOL: ("input_json_delta", "partial_json", b'{"tool_calls":[{"index":%d,"function":{"arguments":', b"}}]}"),
    BlockKind.JSON: ("input_json_delta", "partial_json", b'{"content":', b"}"),
    BlockKind.THINKING: ("thinking_delta", "thinking", b'{"reasoning_content":', b"}"),
}
DELTAS: dict[BlockKind, dict[str, DeltaHandler]] = {
    BlockKind.TEXT: {"text_delta": _text_delta},
    BlockKind.TOOL: {"input_json_delta": _arguments_delta},
    BlockKind.JSON: {"input_json_delta": _json_delta},
    BlockKind.THINKING: {"thinking_delta": _thinking_delta, "signature_delta": _signature_delta},
    BlockKind.OTHER: {},
}

"""The open block's deltas, recognised by their bytes and written into chat chunks made ahead.

Nearly every event of an answer is a `content_block_delta` for the block being streamed, and
Anthropic serialises them all alike, e.g.
`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"…"}}`, sometimes
padded with spaces after the JSON. An event whose data starts with exactly those bytes up to the
string value, ends with `"}}`, and holds one JSON string in between can only be that delta. Only
that string is parsed (orjson checks its escapes and its UTF-8 as a whole parse would), and when
it holds no escape its bytes are already the ones `orjson.dumps` writes for it (nothing in it needs
escaping, or it would not have parsed), so they are copied as they are between the bytes of a chat
chunk serialised once per block; a string with escapes is written again, as the full parse would.
Anything else (another block's delta, other spacing or key order, a malformed event) returns None
and takes the full parse in stream.py, so the shortcut changes the cost of a chunk, never its bytes.

`chunk` goes one step further for the pump: a whole SSE event as it came, `event:` line and all,
becomes its chunk without being decoded at all. Where relaygate's C module is built (speedups.py),
`fast` gives `chunk` in C, which answers the block's deltas itself (escapes, and a thinking block's
kept pieces, included) and hands anything unusual to `chunk` (so its answers are `chunk`'s), and
`run`, which does that for each event of a stretch of them in one call, up to the first it does not
answer itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import orjson

from relaygate.speedups import native

JSON_SPACE = b" \t\r\n"
EVENT_LINE = b"event: content_block_delta\ndata: "
ENDS = b'"}}'
Fast = Callable[[bytes, int], "bytes | None"]
Run = Callable[[bytes, int, bytes], tuple[bytes, int, int]]  # (piece, pos, blank) -> (sent, pos, events)


@dataclass(slots=True)
class DeltaShortcut:
    prefix: bytes  # the event's data up to and with the opening quote of the delta's string
    head: bytes  # the chat chunk's bytes up to that string
    tail: bytes  # and after it
    kept: list[str] | None = None  # where the block also keeps every piece (thinking), if it does
    named: bytes = b""  # `prefix` in an SSE event with its `event:` line, as Anthropic frames it
    bare: bytes = b""  # in an event of a `data:` line alone
    named_end: int = 0  # where the string begins in an event that starts with `named`
    bare_end: int = 0
    framed_head: bytes = b""  # `head` and `tail` with the SSE framing around the chunk
    framed_tail: bytes = b""
    stop: bytes | None = None  # the block's `content_block_stop` event, when it sends nothing

    def __post_init__(self) -> None:
        self.named, self.bare = EVENT_LINE + self.prefix, b"data: " + self.prefix
        self.named_end, self.bare_end = len(self.named) - 1, len(self.bare) - 1
        self.framed_head, self.framed_tail = b"data: " + self.head, self.tail + b"\n\n"

    def fast(self) -> tuple[Fast, Run | None]:
        """The pump's `fast` (`chunk`, in C where the C module is built) and `run` (the C module's
        `chunk` for a stretch of events, None without it), each keeping the pieces' text where the
        shortcut does. Made once per block and held by its translator: the C one holds `chunk`,
        which would be a cycle were the shortcut to hold it."""
        if native is None:
            return self.chunk, None
        fast = native.DeltaChunk(self.named, self.bare, self.stop, self.framed_head, self.framed_tail, self.chunk,
                                 self.kept)
        return fast, fast.run

    @classmethod
    def of(cls, index: int, delta_type: str, field: str, head: bytes, tail: bytes,
           kept: list[str] | None = None, stops: bool = False) -> DeltaShortcut:
        """`stops`: the block's stop sends nothing, so `chunk` takes that event too."""
        prefix = f'{{"type":"content_block_delta","index":{index},"delta":{{"type":"{delta_type}","{field}":"'
        stop = f'event: content_block_stop\ndata: {{"type":"content_block_stop","index":{index}}}' if stops else None
        return cls(prefix.encode(), head, tail, kept, stop=stop and stop.encode())

    def chunks(self, data: bytes) -> list[bytes] | None:
        """The chat chunk for this event's data (none for an empty piece), or None when the event
        is not this block's delta in the usual shape."""
        if not data.startswith(self.prefix):
            return None
        end = len(data.rstrip(JSON_SPACE))
        if data[end - 3:end] != ENDS:
            return None
        chunk = self._write(data[len(self.prefix) - 1:end - 2], self.head, self.tail)
        return None if chunk is None else [chunk] if chunk else []

    def chunk(self, piece: bytes, end: int) -> bytes | None:
        """`chunks` for a whole SSE event as it came, `piece[:end]` (its `event:` line and `data:`
        line, without the blank line), before any decoding: the chunk framed for SSE, b"" for
        none, or None."""
        if piece.startswith(self.named):
            start = self.named_end
        elif piece.startswith(self.bare):
            start = self.bare_end
        else:
            stop = self.stop
            return b"" if stop is not None and end == len(stop) and piece.startswith(stop) else None
        if piece[end - 3:end] != ENDS:
            return None
        return self._write(piece[start:end - 2], self.framed_head, self.framed_tail)

    def _write(self, literal: bytes, head: bytes, tail: bytes) -> bytes | None:
        """The chunk between `head` and `tail` around `literal` when it is exactly one JSON string
        (b"" when that is empty)."""
        try:
            value = orjson.loads(literal)
        except orjson.JSONDecodeError:
            return None
        if value.__class__ is not str:
            return None
        if self.kept is not None:
            self.kept.append(value)
        if not value:
            return b""
        return head + (literal if literal.find(b"\\") < 0 else orjson.dumps(value)) + tail

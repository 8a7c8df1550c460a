"""The open block's deltas, recognised by their bytes and written into chat chunks made ahead.

Nearly every event of an answer is a `content_block_delta` for the block being streamed, and
Anthropic serialises them all alike, e.g.
`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"…"}}`, sometimes
padded with spaces after the JSON. An event whose data starts with exactly those bytes up to the
string value, ends with `}}`, and holds one JSON string in between can only be that delta: only
the string is parsed (orjson checks its escapes and its UTF-8 as a whole parse would) and written
between the bytes of a chat chunk serialised once per block. Anything else (another block's delta,
other spacing or key order, a malformed event) returns None and takes the full parse in stream.py,
so the shortcut changes the cost of a chunk, never its bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

JSON_SPACE = b" \t\r\n"


@dataclass(slots=True)
class DeltaShortcut:
    prefix: bytes  # the event's bytes up to the delta's string value
    head: bytes  # the chat chunk's bytes up to that string
    tail: bytes  # and after it
    kept: list[str] | None = None  # where the block also keeps every piece (thinking), if it does

    @classmethod
    def of(cls, index: int, delta_type: str, field: str, head: bytes, tail: bytes,
           kept: list[str] | None = None) -> DeltaShortcut:
        prefix = f'{{"type":"content_block_delta","index":{index},"delta":{{"type":"{delta_type}","{field}":'
        return cls(prefix.encode(), head, tail, kept)

    def chunks(self, data: bytes) -> list[bytes] | None:
        """The chat chunk for this event (none for an empty piece), or None when the event is not
        this block's delta in the usual shape."""
        if not data.startswith(self.prefix):
            return None
        end = len(data.rstrip(JSON_SPACE)) - 2
        if data[end:end + 2] != b"}}":
            return None
        try:
            value = orjson.loads(data[len(self.prefix):end])
        except orjson.JSONDecodeError:
            return None
        if value.__class__ is not str:
            return None
        if self.kept is not None:
            self.kept.append(value)
        return [self.head + orjson.dumps(value) + self.tail] if value else []

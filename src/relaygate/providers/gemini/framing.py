"""Gemini's `streamGenerateContent?alt=sse` framing: SSE, plus an error object outside SSE.

Events are ordinary `data:` lines, read by the shared decoder (`wire/sse.py`). But when the
model fails after the stream began, Gemini writes the error as bare, pretty-printed JSON lines
with no `data:` prefix, which an SSE decoder ignores by the spec. Google's own client reads it
by line (google-genai `_api_client.py`: "When API returns an error message, it comes line by
line"). Here a line that starts with `{` marks it; everything from there is that one object,
handed on as an event of its own once it parses.
"""

from __future__ import annotations

import orjson

from relaygate.wire.sse import Event, SSEDecoder

_EOL = (b"\n", b"\r")


def bare_json_start(piece: bytes, at_line_start: bool) -> int:
    """Offset of the first line in `piece` that starts with `{`, or -1. A `data:` line never does."""
    if at_line_start and piece[:1] == b"{":
        return 0
    lf, cr = piece.find(b"\n{"), piece.find(b"\r{")
    if cr < 0 or 0 <= lf < cr:
        return lf + 1 if lf >= 0 else -1
    return cr + 1


class GeminiEventDecoder:
    """Same interface as `SSEDecoder`: pieces in, events out; `flush` at the end of the stream."""

    __slots__ = ("sse", "at_line_start", "trailer")

    def __init__(self) -> None:
        self.sse = SSEDecoder()
        self.at_line_start = True
        self.trailer: list[bytes] | None = None  # the bare JSON so far, once it has begun

    @property
    def at_boundary(self) -> bool:
        """True between events: no line, event or bare JSON begun."""
        return self.trailer is None and self.at_line_start and self.sse.at_boundary

    def whole(self, block: bytes) -> Event | None:
        """As `SSEDecoder.whole` (a block that starts with `{` is never one: it is bare JSON)."""
        return self.sse.whole(block)

    def feed(self, piece: bytes) -> list[Event]:
        if not piece:
            return []
        if self.trailer is not None:
            self.trailer.append(piece)
            return self._whole_trailer()
        start = bare_json_start(piece, self.at_line_start)
        if start < 0:
            self.at_line_start = piece[-1:] in _EOL
            return self.sse.feed(piece)
        events = self.sse.feed(piece[:start])
        self.trailer = [piece[start:]]
        return events + self._whole_trailer()

    def flush(self) -> list[Event]:
        """End of stream: a trailer that never parsed is still handed on (and found malformed)."""
        events = self.sse.flush()
        data = b"".join(self.trailer or ()).strip()
        self.trailer = []
        return [*events, Event(data)] if data else events

    def _whole_trailer(self) -> list[Event]:
        assert self.trailer is not None
        data = b"".join(self.trailer).strip()
        try:
            orjson.loads(data)
        except orjson.JSONDecodeError:
            return []
        self.trailer = []  # anything after the object is ignored
        return [Event(data)]

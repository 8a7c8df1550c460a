"""Incremental Server-Sent Events decoder (bytes → Event) and encoder, per the WHATWG spec.

See https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation.
No I/O: feed it whatever pieces the socket gives and it returns the events completed so far.
Data stays bytes, since most events are forwarded as they came.
"""

from __future__ import annotations

from dataclasses import dataclass

_EOL = (b"\n", b"\r")


@dataclass(slots=True)
class Event:
    data: bytes
    event: str | None = None
    id: str | None = None


class SSEDecoder:
    """Splits on CR, LF or CRLF (also when a CRLF is split between two pieces), keeps multi-line
    `data:` fields, ignores comment lines, and never re-copies a growing buffer: an unfinished line
    is kept as a list of pieces and joined once its end arrives."""

    __slots__ = ("_pieces", "_skip_lf", "_data", "_event", "_id")

    def __init__(self) -> None:
        self._pieces: list[bytes] = []
        self._skip_lf = False
        self._data: list[bytes] = []
        self._event: str | None = None
        self._id: str | None = None

    @property
    def at_boundary(self) -> bool:
        """True between events: nothing of an unfinished line or event is held."""
        return not (self._pieces or self._data or self._skip_lf) and self._event is None

    def feed(self, chunk: bytes) -> list[Event]:
        if not chunk:
            return []
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
                if not chunk:
                    return []
        if not (self._pieces or self._data or self._event is not None) and b"\r" not in chunk:
            return self._feed_lf(chunk)  # at a boundary (`at_boundary`, spelt out: this runs per piece)
        return self._feed_lines(chunk)

    def _feed_lf(self, chunk: bytes) -> list[Event]:
        """Fast path for LF-only input starting at an event boundary, as upstreams send it."""
        blocks = chunk.split(b"\n\n")
        tail = blocks.pop()
        events: list[Event] = []
        for block in blocks:
            newline = block.find(b"\n")
            if newline < 0:
                if block[:6] == b"data: ":
                    events.append(Event(block[6:], None, self._id))
                    continue
            elif block[:7] == b"event: " and block[newline + 1 : newline + 7] == b"data: " \
                    and block.find(b"\n", newline + 1) < 0:
                # A name line and one data line, as Anthropic frames every event (a third of the cost).
                events.append(Event(block[newline + 7 :], block[7:newline].decode("utf-8", "replace"), self._id))
                continue
            for line in block.split(b"\n"):
                self._line(line)
            event = self._dispatch()
            if event is not None:
                events.append(event)
        if tail:
            events += self._feed_lines(tail)
        return events

    def whole(self, block: bytes) -> Event | None:
        """The event of `block`, a whole event without its blank line, when the decoder is between
        events and the block is one `data:` line or an `event:` line then a `data:` line, LF only
        (as most upstreams frame every event); else None, for `feed`. The same Event `feed` makes."""
        if block.startswith(b"event: "):
            newline = block.find(b"\n")
            if block.startswith(b"data: ", newline + 1) and block.find(b"\n", newline + 1) < 0 \
                    and block.find(b"\r") < 0:
                return Event(block[newline + 7:], block[7:newline].decode("utf-8", "replace"), self._id)
        elif block.startswith(b"data: ") and block.find(b"\n") < 0 and block.find(b"\r") < 0:
            return Event(block[6:], None, self._id)
        return None

    def _feed_lines(self, chunk: bytes) -> list[Event]:
        if b"\n" not in chunk and b"\r" not in chunk:
            self._pieces.append(chunk)
            return []
        if self._pieces:
            self._pieces.append(chunk)
            chunk = b"".join(self._pieces)
            self._pieces = []
        lines = chunk.splitlines(keepends=True)
        if not lines[-1].endswith(_EOL):
            self._pieces.append(lines.pop())
        elif lines[-1].endswith(b"\r"):
            # A CR at the very end may be the first half of a CRLF.
            self._skip_lf = True
        events: list[Event] = []
        for line in lines:
            event = self._line(line.rstrip(b"\r\n"))
            if event is not None:
                events.append(event)
        return events

    def flush(self) -> list[Event]:
        """End of stream: a final line without terminator still counts; an unterminated event is dropped."""
        if self._pieces:
            line, self._pieces = b"".join(self._pieces), []
            self._line(line)
        return []

    def _line(self, line: bytes) -> Event | None:
        if not line:
            return self._dispatch()
        if line[:1] == b":":
            return None
        name, sep, value = line.partition(b":")
        if sep and value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            self._data.append(value)
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
        elif name == b"id" and b"\0" not in value:
            self._id = value.decode("utf-8", "replace")
        return None

    def _dispatch(self) -> Event | None:
        if not self._data:
            self._event = None
            return None
        data = self._data[0] if len(self._data) == 1 else b"\n".join(self._data)
        event = Event(data, self._event, self._id)
        self._data = []
        self._event = None
        return event


def encode(data: bytes, event: str | None = None) -> bytes:
    """One SSE event; a payload with line breaks becomes several `data:` lines."""
    head = b"event: " + event.encode() + b"\n" if event else b""
    if b"\n" not in data and b"\r" not in data:
        return head + b"data: " + data + b"\n\n"
    lines = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    return head + b"".join([b"data: " + line + b"\n" for line in lines]) + b"\n"


DONE = b"data: [DONE]\n\n"

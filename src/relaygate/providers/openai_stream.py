"""The OpenAI-wire stream relay: forwards the upstream's bytes, reads only the usage chunk.

The gateway always asks the upstream for usage (`stream_options.include_usage`); when the client
did not, the usage-only chunk (`choices: []`) is dropped again and usage on other chunks nulled
(DeepSeek puts usage on its finish chunk rather than in a chunk of its own).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson

from relaygate.metering.prices import ModelPrice, cost
from relaygate.wire.sse import DONE, Event, encode
from relaygate.wire.usage_cost import read_usage, with_cost

# A non-null usage object. It cannot match inside a JSON string, where every quote is escaped.
_USAGE = re.compile(rb'"usage"\s*:\s*\{')


@dataclass(slots=True)
class StreamEnd:
    """What metering reads once a stream is over."""

    usage: dict[str, Any] | None = None
    cost: Decimal | None = None  # of the usage, when the deployment has a price
    done: bool = False
    error: dict[str, Any] | None = None


def _carries_usage(data: bytes) -> bool:
    """Cheap test for a non-null `"usage": {...}`; a false positive only costs one parse."""
    return _USAGE.search(data) is not None


def whole_lf_events(piece: bytes) -> bool:
    """True when a piece that starts at an event boundary also ends at one, with LF line ends only,
    so that it is a run of whole events that can be looked at without decoding each one."""
    return piece[-2:] == b"\n\n" and piece.find(b"\r") < 0  # find: `in` on bytes costs twice as much


class OpenAIStreamRelay:
    __slots__ = ("client_wants_usage", "price", "end")

    def __init__(self, client_wants_usage: bool, price: ModelPrice | None = None) -> None:
        self.client_wants_usage = client_wants_usage
        self.price = price
        self.end = StreamEnd()

    def forward(self, events: list[Event], raw: bytes | None = None) -> bytes:
        """Bytes to send the client for these upstream events. `raw` is the piece that held exactly
        these events, as it came; it is sent unchanged when no event needed a change."""
        datas = [self._inspect(event.data) for event in events]
        if raw is not None and all(d is e.data for d, e in zip(datas, events)):
            return raw
        return b"".join([encode(d, e.event) for d, e in zip(datas, events) if d])

    def forward_piece(self, piece: bytes) -> bytes | None:
        """Fast path for a piece of whole LF-framed events (see `whole_lf_events`): only the events
        that carry usage are taken apart. None when the piece needs the full decoder after all."""
        if piece.find(b'{"error"') >= 0:
            return None
        if piece.endswith(DONE) and (len(piece) == len(DONE) or piece[-len(DONE) - 2 : -len(DONE)] == b"\n\n"):
            self.end.done = True
        elif piece.find(b"[DONE]") >= 0:
            return None  # [DONE] before the end of a piece, or inside some text: look closer
        if piece.find(b'"usage"') < 0:
            return piece  # most pieces: nothing to take apart
        out = piece
        for match in reversed(list(_USAGE.finditer(piece))):
            before = piece.rfind(b"\n\n", 0, match.start())
            start = 0 if before < 0 else before + 2
            end = piece.find(b"\n\n", match.end()) + 2
            block = piece[start : end - 2]
            if block[:6] != b"data: " or b"\n" in block:
                return None
            data = block[6:]
            changed = self._take_usage(data)
            if changed is not data:
                out = out[:start] + (encode(changed) if changed else b"") + out[end:]
        return out

    def relay(self, event: Event) -> bytes:
        """Bytes to send the client for one upstream event (empty to send nothing)."""
        return self.forward([event])

    def _inspect(self, data: bytes) -> bytes:
        """The event's data to send: the same object when unchanged, empty to drop it."""
        if data == b"[DONE]":
            self.end.done = True
        elif data[:9] == b'{"error":':
            self.end.error = _error_of(data)
        elif _carries_usage(data):
            return self._take_usage(data)
        return data

    def _take_usage(self, data: bytes) -> bytes:
        """Usage is read (and priced); the client gets it with its `cost`, or not at all."""
        usage, bounds = read_usage(data)
        if usage is None or bounds is None:
            return data
        end = self.end
        end.usage = usage
        if self.price is not None:
            end.cost = cost(self.price, usage)
        if self.client_wants_usage:
            return data if end.cost is None else with_cost(data, usage, bounds, end.cost)
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            return data
        if not isinstance(chunk, dict) or not chunk.get("choices"):
            return b""
        chunk["usage"] = None
        return orjson.dumps(chunk)


def _error_of(data: bytes) -> dict[str, Any] | None:
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return body.get("error") if isinstance(body, dict) and isinstance(body.get("error"), dict) else None


def first_event_error(event: Event) -> dict[str, Any] | None:
    """An upstream that fails right away may still answer 200 with an error event first."""
    return _error_of(event.data) if event.data[:1] == b"{" and b'"error"' in event.data[:20] else None

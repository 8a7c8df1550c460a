"""The OpenAI-wire stream relay: forwards the upstream's bytes, reads only the usage chunk.

The gateway always asks the upstream for usage (`stream_options.include_usage`); when the client
did not, the usage-only chunk (`choices: []`) is dropped again and usage on other chunks nulled
(DeepSeek puts usage on its finish chunk rather than in a chunk of its own).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from relaygate.wire.sse import Event, encode


@dataclass(slots=True)
class StreamEnd:
    """What metering reads once a stream is over."""

    usage: dict[str, Any] | None = None
    done: bool = False
    error: dict[str, Any] | None = None


def _carries_usage(data: bytes) -> bool:
    """Cheap test for a non-null `"usage": {...}`; a false positive only costs one parse."""
    i = data.find(b'"usage"')
    while i >= 0:
        rest = data[i + 7 : i + 16].lstrip()
        if rest[:1] == b":" and rest[1:].lstrip()[:1] == b"{":
            return True
        i = data.find(b'"usage"', i + 7)
    return False


class OpenAIStreamRelay:
    __slots__ = ("client_wants_usage", "end")

    def __init__(self, client_wants_usage: bool) -> None:
        self.client_wants_usage = client_wants_usage
        self.end = StreamEnd()

    def forward(self, events: list[Event], raw: bytes | None = None) -> bytes:
        """Bytes to send the client for these upstream events. `raw` is the piece that held exactly
        these events, as it came; it is sent unchanged when no event needed a change."""
        datas = [self._inspect(event.data) for event in events]
        if raw is not None and all(d is e.data for d, e in zip(datas, events)):
            return raw
        return b"".join([encode(d, e.event) for d, e in zip(datas, events) if d])

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
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            return data
        if not isinstance(chunk, dict) or not isinstance(chunk.get("usage"), dict):
            return data
        self.end.usage = chunk["usage"]
        if self.client_wants_usage:
            return data
        if not chunk.get("choices"):
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

"""The OpenAI-wire stream relay: forwards each event's bytes, reads only the usage chunk.

The gateway always asks the upstream for usage (`stream_options.include_usage`); when the client
did not, the usage-only chunk (`choices: []`) is dropped again and usage on other chunks nulled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from relaygate.wire.sse import DONE, Event


@dataclass(slots=True)
class StreamEnd:
    """What metering reads once a stream is over."""

    usage: dict[str, Any] | None = None
    done: bool = False
    error: dict[str, Any] | None = None


def _carries_usage(data: bytes) -> bool:
    """Cheap test for a non-null `"usage": {...}`; a false positive only costs one parse."""
    i = data.find(b'"usage"')
    if i < 0:
        return False
    rest = data[i + 7 : i + 16].lstrip()
    return rest[:1] == b":" and rest[1:].lstrip()[:1] == b"{"


class OpenAIStreamRelay:
    __slots__ = ("client_wants_usage", "end")

    def __init__(self, client_wants_usage: bool) -> None:
        self.client_wants_usage = client_wants_usage
        self.end = StreamEnd()

    def relay(self, event: Event) -> bytes:
        """Bytes to send the client for one upstream event (empty to send nothing)."""
        data = event.data
        if data == b"[DONE]":
            self.end.done = True
            return DONE
        if data[:9] == b'{"error":':
            self.end.error = _error_of(data)
        elif _carries_usage(data):
            data = self._take_usage(data)
            if not data:
                return b""
        return b"data: " + data + b"\n\n"

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

"""The one place a GatewayError becomes the OpenAI error body (or an in-stream error frame)."""

from __future__ import annotations

import orjson

from relaygate.errors import GatewayError
from relaygate.ingress.http import Headers, Send, send_bytes


def error_body(exc: GatewayError, envelope: bool = False) -> bytes:
    body = exc.body()
    if envelope:
        body = {"code": exc.status, **body}
    return orjson.dumps(body)


async def send_error(send: Send, exc: GatewayError, headers: Headers, envelope: bool = False) -> None:
    await send_bytes(send, exc.status, error_body(exc, envelope), [*headers, *exc.headers()])


def error_frame(exc: GatewayError) -> bytes:
    """A failure after streaming began: one final `data: {"error": ...}` event."""
    return b"data: " + orjson.dumps(exc.body()) + b"\n\n"

"""Small raw-ASGI helpers shared by the endpoints (the hot path avoids framework objects)."""

from __future__ import annotations

import itertools
import os
import re
from typing import Any, Awaitable, Callable, MutableMapping

from relaygate.errors import PayloadTooLarge

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

JSON = b"application/json"
_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:\-]{1,128}$")
# Unique per process start, then a counter: no system call per request.
_ID_PREFIX = b"req_" + os.urandom(6).hex().encode()
_ID_COUNTER = itertools.count(1)


def header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


def request_id(scope: Scope) -> bytes:
    """The client's `x-request-id` when it is a sane token, else a fresh one."""
    given = header(scope, b"x-request-id")
    if given and _REQUEST_ID.match(given):
        return given
    return b"%s%010x" % (_ID_PREFIX, next(_ID_COUNTER))


async def read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionAbortedError
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")
        chunks.append(chunk)
        if not message.get("more_body"):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def send_bytes(send: Send, status: int, body: bytes, headers: Headers, content_type: bytes = JSON) -> None:
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode()), *headers],
    })
    await send({"type": "http.response.body", "body": body})

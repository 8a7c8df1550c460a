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
REQUEST_ID = b"x-request-id"
CLIENT_REQUEST_ID = b"x-client-request-id"
_SANE_ID = re.compile(rb"^[A-Za-z0-9._:\-]{1,128}$")
# Unique per process start, then a counter: no system call per request.
_ID_PREFIX = b"req_" + os.urandom(6).hex().encode()
_ID_COUNTER = itertools.count(1)


def header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


def request_ids(scope: Scope) -> Headers:
    """The response's id headers: `x-request-id`, relaygate's own id, always fresh, since it is the
    usage record's key (a client's id could repeat, and its requests would then go uncounted); and,
    when the client sent a sane id of its own, `x-client-request-id` echoing it (OpenAI's header,
    else `x-request-id` as earlier versions read it)."""
    ours: Headers = [(REQUEST_ID, b"%s%010x" % (_ID_PREFIX, next(_ID_COUNTER)))]
    theirs = given = None
    for key, value in scope["headers"]:
        if key == CLIENT_REQUEST_ID and theirs is None:
            theirs = value
        elif key == REQUEST_ID and given is None:
            given = value
    for value in (theirs, given):
        if value and _SANE_ID.match(value):
            ours.append((CLIENT_REQUEST_ID, value))
            break
    return ours


def client_request_id(headers: Headers) -> str | None:
    """The client's own id among a response's headers (made by `request_ids`, which puts it second)."""
    return headers[1][1].decode() if len(headers) > 1 and headers[1][0] == CLIENT_REQUEST_ID else None


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

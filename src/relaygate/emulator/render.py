"""Renders an answer to wire bytes once, and stamps every response with fresh ids.

A rendered answer is a template: `ID`, `CALL` and `CREATED` stand where the response id, the
tool-call token and the creation time go. Templates are cached by request, so a repeated request
(the benchmark's) costs a dictionary lookup and three `bytes.replace` per event.
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Iterator
from dataclasses import dataclass

import orjson

from .answers import Answer
from .flavours import CALL, CREATED, ID, Flavour, Meta

DONE = b"data: [DONE]\n\n"
_ID = ID.encode()
_CALL = CALL.encode()
_CREATED = orjson.dumps(CREATED)

Template = bytes | tuple[bytes, ...]


@dataclass(frozen=True)
class Stamp:
    """The per-response values a template is filled with."""

    id: bytes
    call: bytes
    created: bytes


def new_stamp(flavour: Flavour) -> Stamp:
    return Stamp(flavour.new_id().encode(), flavour.new_call_token().encode(), str(int(time.time())).encode())


def stamp(template: bytes, values: Stamp) -> bytes:
    return template.replace(_CREATED, values.created).replace(_ID, values.id).replace(_CALL, values.call)


def stamp_events(events: tuple[bytes, ...], values: Stamp) -> Iterator[bytes]:
    return (stamp(event, values) for event in events)


def render_completion(flavour: Flavour, answer: Answer, meta: Meta) -> bytes:
    return orjson.dumps(flavour.completion(answer, meta))


def render_stream(flavour: Flavour, answer: Answer, meta: Meta) -> tuple[bytes, ...]:
    """Every SSE event of the stream, ending with `data: [DONE]`."""
    events = [b"data: " + orjson.dumps(chunk) + b"\n\n" for chunk in flavour.chunks(answer, meta)]
    return (*events, DONE)


class TemplateCache:
    """A bounded map from request identity to rendered template; the oldest entry goes first."""

    def __init__(self, limit: int = 1024) -> None:
        self._limit = limit
        self._entries: dict[Hashable, Template] = {}

    def get(self, key: Hashable) -> Template | None:
        return self._entries.get(key)

    def put(self, key: Hashable, template: Template) -> None:
        if len(self._entries) >= self._limit:
            self._entries.pop(next(iter(self._entries)))
        self._entries[key] = template

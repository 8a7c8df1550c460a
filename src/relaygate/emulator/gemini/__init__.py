"""The Gemini API flavour of the emulator, at `POST /gemini/v1beta/models/{model}:generateContent`
and `:streamGenerateContent?alt=sse`, so a gateway's provider `base_url` is `http://HOST:PORT/gemini`.

    checks.py        the key and the body, validated as the real API does (its 400/403 wording)
    conversation.py  the request read as a chat body, so answers match the other flavours'
    signatures.py    thought signatures the emulator issues and checks
    wire.py          response, SSE events and error body, shaped like the recordings
    endpoint.py      the aiohttp handler: record, check, script, answer
    image.py         a small PNG at /_emulator/image.png, for image-URL tests
"""

from __future__ import annotations

from aiohttp import web

from ..state import EmulatorState
from .endpoint import PREFIX, GenerateContentEndpoint
from .image import PATH as IMAGE_PATH
from .image import image

__all__ = ["PREFIX", "add_routes"]


def add_routes(app: web.Application, state: EmulatorState) -> None:
    app.router.add_post(PREFIX + "/{version}/models/{call}", GenerateContentEndpoint(state).handle)
    app.router.add_get(IMAGE_PATH, image)

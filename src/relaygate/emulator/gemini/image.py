"""`GET /_emulator/image.png`: a small PNG for tests that hand the gateway an http(s) image URL."""

from __future__ import annotations

import base64

from aiohttp import web

PATH = "/_emulator/image.png"
# A 1x1 RGBA PNG, a red pixel.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH/iZk9HQAAAABJRU5ErkJggg==")


async def image(request: web.Request) -> web.Response:
    return web.Response(body=PNG, content_type="image/png")

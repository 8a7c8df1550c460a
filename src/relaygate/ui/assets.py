"""Serves the dashboard's files at `/ui` (the page) and `/ui/<path>` (its assets).

Every file under `static/` is read once at start and becomes one exact-path route, so a request can
only ever name a file that is there: `..`, encoded slashes and the like find no route and are a 404.
Each answer carries a strong ETag and `cache-control: no-cache`: browsers keep the files and
revalidate them with a 304, so a new version of the gateway is picked up at the next load.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from importlib.resources import files
from importlib.resources.abc import Traversable

from relaygate.ingress.http import Headers, Receive, Scope, Send, header

PREFIX = "/ui"
INDEX = "index.html"
TYPES = {
    ".html": b"text/html; charset=utf-8",
    ".css": b"text/css; charset=utf-8",
    ".js": b"text/javascript; charset=utf-8",
    ".svg": b"image/svg+xml",
}
# The page runs only its own scripts and talks only to this gateway: an injected <script> or an
# inline handler would not run, and no other site can frame the page.
SECURITY = [
    (b"content-security-policy",
     b"default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-cache"),
]


class Asset:
    """One file's bytes and headers, answered whole or as 304 Not Modified."""

    def __init__(self, body: bytes, content_type: bytes) -> None:
        self.body = body
        self.etag = b'"%s"' % hashlib.sha256(body).hexdigest()[:20].encode()
        self.headers = [(b"content-type", content_type), (b"etag", self.etag), *SECURITY]

    async def __call__(self, scope: Scope, receive: Receive, send: Send, headers: Headers) -> None:
        fresh = header(scope, b"if-none-match") == self.etag
        body = b"" if fresh else self.body
        length = [] if fresh else [(b"content-length", str(len(body)).encode())]
        await send({
            "type": "http.response.start", "status": 304 if fresh else 200,
            "headers": [*self.headers, *length, *headers],
        })
        await send({"type": "http.response.body", "body": body})


def _walk(folder: Traversable, prefix: str) -> Iterator[tuple[str, Traversable]]:
    for entry in folder.iterdir():
        if entry.is_dir():
            yield from _walk(entry, f"{prefix}{entry.name}/")
        elif not entry.name.startswith("."):
            yield prefix + entry.name, entry


def dashboard_routes() -> dict[str, Asset]:
    """Path → asset for every file of the dashboard; `/ui` itself is the page."""
    routes: dict[str, Asset] = {}
    for relative, entry in _walk(files(__package__) / "static", ""):
        content_type = TYPES.get(entry.name[entry.name.rfind("."):])
        if content_type is not None:
            routes[f"{PREFIX}/{relative}"] = Asset(entry.read_bytes(), content_type)
    routes[PREFIX] = routes[f"{PREFIX}/{INDEX}"]
    return routes

"""The admin API endpoint: every path under /admin, behind the `admin_key` bearer.

The key is compared as SHA-256 digests with `hmac.compare_digest`: constant time, whatever the
length of what was sent. It is never logged nor echoed. Without an `admin_key` in the
configuration the whole API is off and says so (403 admin_api_disabled).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING

from pydantic import BaseModel

from relaygate.admin.errors import AdminMethodNotAllowed, NoStore
from relaygate.admin.request import AdminRequest
from relaygate.admin.routes import ROUTES, Route
from relaygate.errors import AuthenticationFailed, NotFound
from relaygate.ingress.http import Headers, Receive, Scope, Send, header, read_body, send_bytes

if TYPE_CHECKING:
    from relaygate.app import Gateway

_NO_STORE = (b"cache-control", b"no-store")  # answers may hold a secret (a new key)
_WITH_BODY = frozenset({"POST", "PATCH", "PUT"})


def _digest(secret: bytes) -> bytes:
    return hashlib.sha256(secret).digest()


class AdminApi:
    def __init__(self, gateway: Gateway, routes: tuple[Route, ...] = ROUTES) -> None:
        self.gateway = gateway
        self.routes = routes
        self._key_digest = _digest((gateway.config.admin_key or "").encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send, headers: Headers) -> None:
        self._authenticate(header(scope, b"authorization"))
        method, path = scope["method"], scope["path"].rstrip("/")
        route, params = self._route(method, path)
        if route.store and self.gateway.engine is None:
            raise NoStore("This gateway has no database (`database: null`): keys come from the configuration "
                          "and no usage is recorded.")
        body = await read_body(receive, self.gateway.config.server.max_body_bytes) if method in _WITH_BODY else b""
        request = AdminRequest(method, path, params, scope.get("query_string", b""), body)
        status, result = await route.handler(self, request)
        payload = result.model_dump_json(exclude_unset=True).encode() if isinstance(result, BaseModel) else result
        await send_bytes(send, status, payload, [*headers, _NO_STORE])

    def _authenticate(self, authorization: bytes | None) -> None:
        scheme, _, token = (authorization or b"").partition(b" ")
        if scheme.lower() != b"bearer" or not token.strip():
            raise AuthenticationFailed("The admin API needs 'Authorization: Bearer ADMIN_KEY'.")
        if not hmac.compare_digest(_digest(token.strip()), self._key_digest):
            raise AuthenticationFailed("Incorrect admin key provided.")

    def _route(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        segments = path.strip("/").split("/")
        allowed: list[str] = []
        for route in self.routes:
            params = route.match(segments)
            if params is None:
                continue
            if route.method == method:
                return route, params
            allowed.append(route.method)
        if allowed:
            raise AdminMethodNotAllowed(f"Use {' or '.join(allowed)} for {path}.", allowed)
        raise NotFound(f"Unknown admin path {path}.")

"""GET /metrics: the Prometheus text exposition, rendered only when scraped."""

from __future__ import annotations

from typing import TYPE_CHECKING

from relaygate.ingress.http import Headers, Receive, Scope, Send, send_bytes

if TYPE_CHECKING:
    from relaygate.app import Gateway

CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    async def __call__(self, scope: Scope, receive: Receive, send: Send, headers: Headers) -> None:
        body = self.gateway.observer.metrics.render(self.gateway)
        await send_bytes(send, 200, body, headers, CONTENT_TYPE)

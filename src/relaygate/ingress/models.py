"""GET /v1/models: the ids a client can send, from the configuration (no upstream call); and
GET /v1/models/{model}, one of them (the openai SDK's `models.retrieve`): a listed id, or any other
the chat endpoint would route, else a 404 `model_not_found` as the chat endpoint gives. An id may
hold slashes (`deepseek/deepseek-chat`): the rest of the path is the id."""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson

from relaygate.ingress.http import Headers, Receive, Scope, Send, header, send_bytes
from relaygate.routing.resolve import Resolver, Upstream

if TYPE_CHECKING:
    from relaygate.app import Gateway


def _entry(model_id: str, owner: str) -> dict[str, object]:
    return {"id": model_id, "object": "model", "created": 0, "owned_by": owner}


def catalog_listing(resolver: Resolver) -> list[dict[str, object]]:
    """Catalog ids, then `provider/model` for each provider's listed models, then unambiguous bare names."""
    data = [_entry(model_id, targets[0].upstream.name) for model_id, targets in resolver.catalog.items()]
    seen = {entry["id"] for entry in data}
    for upstream in resolver.upstreams.values():
        for name in upstream.models:
            data.append(_entry(f"{upstream.name}/{name}", upstream.name))
    data += [_entry(name, t.upstream.name) for name, t in resolver.bare.items() if name not in seen]
    return data


def mount_listing(resolver: Resolver, upstream: Upstream) -> list[dict[str, object]]:
    """Under a provider's mount: its native names, listed or used by the catalog."""
    names = list(upstream.models)
    for targets in resolver.catalog.values():
        names += [t.model for t in targets if t.upstream is upstream and t.model not in names]
    return [_entry(name, upstream.name) for name in names]


class Models:
    """The models endpoint of one base URL (`base`, e.g. `/v1` or a provider's mount)."""

    def __init__(self, gateway: Gateway, scope: Upstream | None = None, envelope: bool = False,
                 base: str = "/v1") -> None:
        self.gateway = gateway
        self.scope = scope
        self.envelope = envelope
        self.one = base + "/models/"  # a path that goes on from here names one model
        listing = mount_listing(gateway.resolver, scope) if scope else catalog_listing(gateway.resolver)
        self.listed = {str(entry["id"]): entry for entry in listing}
        self.body = self._wrapped({"object": "list", "data": listing})

    async def __call__(self, scope: Scope, receive: Receive, send: Send, headers: Headers) -> None:
        self.gateway.keys.authenticate(header(scope, b"authorization"))
        path = scope["path"]
        if path.startswith(self.one) and len(path) > len(self.one):
            await send_bytes(send, 200, self._wrapped(self._model(path[len(self.one):])), headers)
            return
        await send_bytes(send, 200, self.body, headers)

    def _model(self, model_id: str) -> dict[str, object]:
        entry = self.listed.get(model_id)
        if entry is not None:
            return entry
        targets, _ = self.gateway.resolver.resolve_request(model_id, self.scope)  # raises ModelNotFound
        return _entry(model_id, targets[0].upstream.name)

    def _wrapped(self, body: dict[str, object]) -> bytes:
        return orjson.dumps({"code": 200, "data": body} if self.envelope else body)

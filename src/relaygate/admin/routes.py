"""The admin API's route table: what the dispatcher matches and `/admin/openapi.json` describes,
so the two cannot drift apart."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from relaygate.admin import keys, openapi, providers, request_log, usage
from relaygate.admin import models as m
from relaygate.admin.request import AdminRequest

if TYPE_CHECKING:
    from relaygate.admin.api import AdminApi

Handler = Callable[["AdminApi", AdminRequest], Awaitable[tuple[int, Any]]]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str  # segments in braces are parameters: /admin/keys/{name}
    handler: Handler
    summary: str
    response: type[BaseModel] | None  # None: a free-form object (the OpenAPI document)
    status: int = 200
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    conflict: bool = False  # may answer 409
    store: bool = True  # needs the database: 501 with `database: null`
    segments: tuple[str, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "segments", tuple(self.path.strip("/").split("/")))

    @property
    def params(self) -> list[str]:
        return [s[1:-1] for s in self.segments if s.startswith("{")]

    def match(self, segments: list[str]) -> dict[str, str] | None:
        """The path parameters when the path fits this route's template, else None."""
        if len(segments) != len(self.segments):
            return None
        params: dict[str, str] = {}
        for template, given in zip(self.segments, segments, strict=True):
            if template.startswith("{"):
                if not given:
                    return None
                params[template[1:-1]] = given
            elif template != given:
                return None
        return params


ROUTES: tuple[Route, ...] = (
    Route("GET", "/admin/keys", keys.list_keys, "List the database's keys (never their secrets)", m.KeyList),
    Route("POST", "/admin/keys", keys.create_key, "Create a key; the answer shows its secret once", m.KeyCreated,
          status=201, body=m.KeyCreate, conflict=True),
    Route("GET", "/admin/keys/{name}", keys.get_key, "One key", m.KeyView),
    Route("PATCH", "/admin/keys/{name}", keys.update_key, "Change a key's settings, or disable or enable it",
          m.KeyView, body=m.KeyPatch, conflict=True),
    Route("DELETE", "/admin/keys/{name}", keys.revoke_key, "Revoke a key for good (its usage stays)", m.KeyView),
    Route("POST", "/admin/keys/{name}/rotate", keys.rotate_key,
          "A new secret for the key, shown once; the old one stops working", m.KeyCreated, conflict=True),
    Route("GET", "/admin/usage", usage.usage, "Usage and spend from the daily rollup", m.UsageReport,
          query=m.UsageQuery),
    Route("GET", "/admin/requests", request_log.requests, "The request log, newest first", m.RequestPage,
          query=m.RequestQuery),
    Route("GET", "/admin/providers", providers.providers,
          "Health of each deployment as this gateway process sees it", m.ProviderList, store=False),
    Route("GET", "/admin/openapi.json", openapi.document, "This document", None, store=False),
)

"""The admin HTTP API under /admin: keys, usage, the request log, provider health, and its own
OpenAPI document (`routes.py` is the table of all of it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from relaygate.admin.errors import AdminDisabled

if TYPE_CHECKING:
    from relaygate.app import Endpoint, Gateway
    from relaygate.ingress.http import Headers, Receive, Scope, Send


def admin_endpoint(gateway: Gateway) -> Endpoint:
    """The API when an `admin_key` is configured, else an endpoint that says it is off. Imported
    only then: the admin modules bring in the database layer, which `database: null` does without."""
    if not gateway.config.admin_key:
        return admin_off
    from relaygate.admin.api import AdminApi

    return AdminApi(gateway)


async def admin_off(scope: Scope, receive: Receive, send: Send, headers: Headers) -> None:
    raise AdminDisabled("The admin API is off: set `admin_key` in the configuration to turn it on.")

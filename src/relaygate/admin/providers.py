"""/admin/providers: each deployment's circuit, counters and latency, from the router's health
book. Every configured deployment has a row (those the catalog names and those the providers
list), and so does any other that traffic reached (`provider/model` ids, mounts). The numbers are
this process's: with several workers or instances, each answers for itself."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from relaygate.admin.models import ProviderList
from relaygate.admin.request import AdminRequest
from relaygate.routing.health import DeploymentHealth
from relaygate.routing.resolve import Resolver

if TYPE_CHECKING:
    from relaygate.admin.api import AdminApi


def configured_deployments(resolver: Resolver) -> list[tuple[str, str]]:
    keys = [target.key for targets in resolver.catalog.values() for target in targets]
    keys += [(upstream.name, model) for upstream in resolver.upstreams.values() for model in upstream.models]
    return list(dict.fromkeys(keys))


def _ms(seconds: float | None) -> float | None:
    return round(seconds * 1000, 1) if seconds is not None else None


def _row(key: tuple[str, str], health: DeploymentHealth, now: float) -> dict[str, Any]:
    finished = health.requests - health.in_flight
    return {
        "provider": key[0], "model": key[1], "state": health.state(now),
        "requests": health.requests, "failures": health.errors,
        "error_rate": round(health.errors / finished, 4) if finished > 0 else 0.0,
        "latency_p50_ms": _ms(health.recent_percentile(0.5)), "latency_p95_ms": _ms(health.recent_percentile(0.95)),
        "in_flight": health.in_flight, "consecutive_failures": health.failures,
    }


async def providers(api: AdminApi, request: AdminRequest) -> tuple[int, ProviderList]:
    router = api.gateway.router
    book = router.health.deployments
    keys = sorted({*configured_deployments(api.gateway.resolver), *book})
    now = router.clock()
    rows = [_row(key, book.get(key) or DeploymentHealth(), now) for key in keys]
    return 200, ProviderList.model_validate({"data": rows})

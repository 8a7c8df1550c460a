"""Bearer-key checks: any listed key, or any non-empty key when none are listed."""

from __future__ import annotations

from aiohttp import web

from .errors import INVALID_KEY, MISSING_KEY


def bearer_key(request: web.Request) -> str:
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    return key.strip() if scheme.lower() == "bearer" else ""


def key_problem(key: str, accepted: frozenset[str]) -> str | None:
    """The error kind for this key, or None when it is accepted."""
    if not key:
        return MISSING_KEY
    if accepted and key not in accepted:
        return INVALID_KEY
    return None

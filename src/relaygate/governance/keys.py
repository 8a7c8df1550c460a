"""Client-key lookup: who is calling, and which models they may use."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

from relaygate.config import StaticKey
from relaygate.errors import AuthenticationFailed, PermissionDenied
from relaygate.governance.budgets import Budget
from relaygate.governance.limits import KeyLimits


@dataclass(frozen=True, slots=True)
class ClientKey:
    name: str
    models: frozenset[str] | None = None  # None: every model
    limits: KeyLimits = KeyLimits()
    budget: Budget | None = None

    def check_model(self, model: str) -> None:
        if self.models is not None and model not in self.models:
            raise PermissionDenied(f"This key may not use the model `{model}`.", param="model")


@lru_cache(maxsize=4096)
def key_digest(secret: str) -> str:
    """Keys are held and compared only as SHA-256 digests."""
    return hashlib.sha256(secret.encode()).hexdigest()


class KeyRing:
    """The configuration's static keys, then the database's (through a `KeyCache`, no database call)."""

    def __init__(self, static: list[StaticKey], dynamic: Callable[[str], ClientKey | None] | None = None) -> None:
        self._by_digest = {key_digest(k.key): _client_key(k) for k in static}
        self.dynamic = dynamic

    def authenticate(self, authorization: bytes | None) -> ClientKey:
        if not authorization:
            raise AuthenticationFailed("You didn't provide an API key. Send it as 'Authorization: Bearer YOUR_KEY'.")
        scheme, _, token = authorization.decode("latin-1").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthenticationFailed("The Authorization header must be 'Bearer YOUR_KEY'.")
        digest = key_digest(token)
        key = self._by_digest.get(digest)
        if key is None and self.dynamic is not None:
            key = self.dynamic(digest)
        if key is None:
            raise AuthenticationFailed("Incorrect API key provided.")
        return key


def _client_key(static: StaticKey) -> ClientKey:
    models = frozenset(static.models) if static.models is not None else None
    return ClientKey(static.name, models, KeyLimits(static.rpm, static.tpm, static.max_concurrency))

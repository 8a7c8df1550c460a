"""Client keys kept in the database: create, list, get, update, disable, revoke, rotate, and
`lookup(digest)` for the request path.

A secret is `rg-` followed by 40 URL-safe random characters (240 bits). It is returned once, by
`create` and `rotate`; the database holds only its SHA-256 digest and a short prefix to recognise
it by. A revoked key keeps its row (and its name) so its usage stays attributable.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.governance.key_settings import InvalidKeySettings, validated
from relaygate.governance.keys import key_digest
from relaygate.store.schema import api_keys

SECRET_PREFIX = "rg-"
SHOWN_PREFIX = 8  # "rg-" and five random characters: enough to tell keys apart, useless to guess one
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,199}")

Clock = Callable[[], datetime]


class KeyStoreError(Exception):
    """Base of the key store's errors; the admin API maps each to a status."""


class KeyNotFound(KeyStoreError):
    pass


class KeyExists(KeyStoreError):
    pass


class KeyRevoked(KeyStoreError):
    pass


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(30)  # 30 bytes → exactly 40 characters


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """One key as the database holds it. Immutable, so the request path can cache it as it is."""

    name: str
    digest: str
    prefix: str
    models: frozenset[str] | None
    budget: Decimal | None
    budget_period: str | None
    rpm: int | None
    tpm: int | None
    max_concurrency: int | None
    expires_at: datetime | None
    disabled: bool
    revoked_at: datetime | None
    created_at: datetime
    updated_at: datetime
    metadata: dict[str, Any] = field(default_factory=dict)

    def status(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.disabled:
            return "disabled"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def is_active(self, now: datetime) -> bool:
        """Checked on every use: a cached key can expire while it sits in the cache."""
        return self.status(now) == "active"

    def allows(self, model: str) -> bool:
        return self.models is None or model in self.models

    def public(self, now: datetime) -> dict[str, Any]:
        """The key as the admin API and `keys list` show it: everything but the digest."""
        return {
            "name": self.name, "prefix": self.prefix, "status": self.status(now),
            "models": sorted(self.models) if self.models is not None else None,
            "budget": self.budget, "budget_period": self.budget_period, "rpm": self.rpm, "tpm": self.tpm,
            "max_concurrency": self.max_concurrency, "expires_at": self.expires_at,
            "disabled": self.disabled, "revoked_at": self.revoked_at, "metadata": self.metadata,
            "created_at": self.created_at, "updated_at": self.updated_at,
        }


def _record(row: Row[Any]) -> KeyRecord:
    m = row._mapping
    return KeyRecord(
        name=m["name"], digest=m["digest"], prefix=m["prefix"],
        models=frozenset(m["models"]) if m["models"] is not None else None,
        budget=m["budget"], budget_period=m["budget_period"], rpm=m["rpm"], tpm=m["tpm"],
        max_concurrency=m["max_concurrency"], expires_at=m["expires_at"], disabled=m["disabled"],
        revoked_at=m["revoked_at"], created_at=m["created_at"], updated_at=m["updated_at"],
        metadata=dict(m["metadata"] or {}),
    )


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidKeySettings(
            f"name: {name!r} must be 1-200 letters, digits or . _ : @ -, starting with a letter or digit"
        )
    return name


class KeyStore:
    def __init__(self, engine: AsyncEngine, clock: Clock = utc_now) -> None:
        self.engine = engine
        self.clock = clock

    async def create(self, name: str, **settings: Any) -> tuple[KeyRecord, str]:
        """A new key and its secret, which is shown this once and never stored."""
        values = {"metadata": {}, **validated(settings)}
        secret, now = new_secret(), self.clock()
        values.update(
            name=_check_name(name), digest=key_digest(secret), prefix=secret[:SHOWN_PREFIX],
            disabled=False, created_at=now, updated_at=now,
        )
        try:
            async with self.engine.begin() as connection:
                row = (await connection.execute(insert(api_keys).values(values).returning(api_keys))).one()
        except IntegrityError:
            raise KeyExists(f"a key named {name!r} exists already") from None
        return _record(row), secret

    async def list(self) -> list[KeyRecord]:
        async with self.engine.connect() as connection:
            rows = await connection.execute(select(api_keys).order_by(api_keys.c.name))
            return [_record(row) for row in rows]

    async def get(self, name: str) -> KeyRecord:
        async with self.engine.connect() as connection:
            row = (await connection.execute(select(api_keys).where(api_keys.c.name == name))).first()
        if row is None:
            raise KeyNotFound(f"no key named {name!r}")
        return _record(row)

    async def lookup(self, digest: str) -> KeyRecord | None:
        """The key with this digest if it may be used now; None if unknown, revoked, disabled or expired."""
        async with self.engine.connect() as connection:
            row = (await connection.execute(select(api_keys).where(api_keys.c.digest == digest))).first()
        if row is None:
            return None
        record = _record(row)
        return record if record.is_active(self.clock()) else None

    async def changed_since(self, since: datetime) -> list[KeyRecord]:
        """Keys created or changed at or after `since` (revoked and disabled ones included), so
        a cache can refresh what changed instead of reloading every key. `updated_at` comes from
        the clock of whichever process made the change: poll with some overlap (since = last poll
        minus a few seconds) so clock skew between instances cannot hide a change."""
        query = select(api_keys).where(api_keys.c.updated_at >= since).order_by(api_keys.c.updated_at)
        async with self.engine.connect() as connection:
            return [_record(row) for row in await connection.execute(query)]

    async def update(self, name: str, **changes: Any) -> KeyRecord:
        """Set the settings given (None clears one); settings not given keep their values."""
        return await self._change(name, validated(changes))

    async def disable(self, name: str) -> KeyRecord:
        return await self._change(name, {"disabled": True})

    async def enable(self, name: str) -> KeyRecord:
        return await self._change(name, {"disabled": False})

    async def revoke(self, name: str) -> KeyRecord:
        return await self._change(name, {"revoked_at": self.clock()})

    async def rotate(self, name: str) -> tuple[KeyRecord, str]:
        """A new secret for the key; the old one stops working in the same transaction."""
        secret = new_secret()
        record = await self._change(name, {"digest": key_digest(secret), "prefix": secret[:SHOWN_PREFIX]})
        return record, secret

    async def _change(self, name: str, values: dict[str, Any]) -> KeyRecord:
        statement = (
            update(api_keys)
            .where(api_keys.c.name == name, api_keys.c.revoked_at.is_(None))
            .values(**values, updated_at=self.clock())
            .returning(api_keys)
        )
        async with self.engine.begin() as connection:
            row = (await connection.execute(statement)).first()
        if row is None:
            await self.get(name)  # raises KeyNotFound when there is no such key at all
            raise KeyRevoked(f"the key {name!r} is revoked and cannot be changed")
        return _record(row)

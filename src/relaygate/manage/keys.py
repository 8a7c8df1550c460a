"""`relaygate keys create|list|update|revoke|rotate`."""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.governance.key_settings import InvalidKeySettings
from relaygate.governance.keystore import KeyRecord, KeyStore
from relaygate.manage.run import table, usd
from relaygate.metering.report import to_json

CLEAR = "none"  # `keys update NAME --rpm none` removes the limit


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise InvalidKeySettings(f"{value!r} is not a whole number") from None


def _metadata(value: str) -> Any:
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        raise InvalidKeySettings("metadata: not valid JSON") from None


_PARSE = {
    "budget": str, "budget_period": str, "rpm": _int, "tpm": _int, "max_concurrency": _int,
    "models": lambda v: [m for m in v.split(",")], "expires_at": str, "metadata": _metadata,
}


def settings_from_flags(flags: dict[str, str | None]) -> dict[str, Any]:
    """The flags that were given, parsed; `none` clears a setting."""
    return {
        name: None if value.strip().lower() == CLEAR else _PARSE[name](value)
        for name, value in flags.items() if value is not None and name in _PARSE
    }


def _describe(key: KeyRecord, now: datetime) -> list[str]:
    budget = f"{usd(key.budget)} {key.budget_period or 'total'}" if key.budget is not None else "-"
    limits = [str(v) if v is not None else "-" for v in (key.rpm, key.tpm, key.max_concurrency)]
    models = ",".join(sorted(key.models)) if key.models is not None else "*"
    expires = key.expires_at.isoformat() if key.expires_at else "-"
    return [key.name, key.prefix + "…", key.status(now), budget, *limits, models, expires]


def key_table(keys: list[KeyRecord], now: datetime) -> str:
    headers = ["NAME", "PREFIX", "STATUS", "BUDGET USD", "RPM", "TPM", "CONCURRENCY", "MODELS", "EXPIRES"]
    return table(headers, [_describe(k, now) for k in keys])


def _shown_once(key: KeyRecord, secret: str, verb: str) -> str:
    print("Store the key now: it is not shown again.", file=sys.stderr)
    return f"{key_table([key], datetime.now(timezone.utc))}\n{verb} key {key.name}:\n{secret}"


async def create(engine: AsyncEngine, name: str, settings: dict[str, Any]) -> str:
    key, secret = await KeyStore(engine).create(name, **settings)
    return _shown_once(key, secret, "new")


async def rotate(engine: AsyncEngine, name: str) -> str:
    key, secret = await KeyStore(engine).rotate(name)
    return _shown_once(key, secret, "rotated")


async def update(engine: AsyncEngine, name: str, settings: dict[str, Any], disabled: bool | None) -> str:
    store = KeyStore(engine)
    key = await store.update(name, **settings) if settings or disabled is None else await store.get(name)
    if disabled is not None:
        key = await (store.disable(name) if disabled else store.enable(name))
    return key_table([key], datetime.now(timezone.utc))


async def revoke(engine: AsyncEngine, name: str) -> str:
    key = await KeyStore(engine).revoke(name)
    return f"revoked key {key.name} ({key.prefix}…)"


async def list_keys(engine: AsyncEngine, as_json: bool) -> str:
    keys, now = await KeyStore(engine).list(), datetime.now(timezone.utc)
    if as_json:
        return to_json({"data": [k.public(now) for k in keys]}).decode()
    return key_table(keys, now) if keys else "no keys"

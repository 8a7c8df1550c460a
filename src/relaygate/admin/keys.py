"""/admin/keys: the key store the CLI uses (`governance/keystore.py`), behind HTTP. A change is
applied to this instance's key cache at once; other instances pick it up within a second."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from relaygate.admin.errors import KeyConflict
from relaygate.admin.models import KeyCreate, KeyCreated, KeyList, KeyPatch, KeyView
from relaygate.admin.request import AdminRequest, parse_body
from relaygate.errors import InvalidRequest, NotFound
from relaygate.governance.key_settings import SETTINGS, InvalidKeySettings
from relaygate.governance.keystore import KeyExists, KeyNotFound, KeyRecord, KeyRevoked, KeyStore
from relaygate.metering.report import spend_by_key

if TYPE_CHECKING:
    from relaygate.admin.api import AdminApi

log = logging.getLogger("relaygate.admin")


def _sentence(exc: Exception) -> str:
    text = str(exc)
    return text[:1].upper() + text[1:] + "."


@contextmanager
def _store_errors() -> Iterator[None]:
    """The key store's refusals as HTTP errors."""
    try:
        yield
    except InvalidKeySettings as exc:
        setting = str(exc).partition(":")[0]
        raise InvalidRequest(str(exc) + ".", param=setting if setting in (*SETTINGS, "name") else None) from None
    except KeyNotFound as exc:
        raise NotFound(_sentence(exc), code="key_not_found") from None
    except KeyExists as exc:
        raise KeyConflict(_sentence(exc), param="name") from None
    except KeyRevoked as exc:
        raise KeyConflict(_sentence(exc), code="key_revoked") from None


def _view(record: KeyRecord, spend: dict[str, dict[str | None, Decimal]], now: datetime) -> dict[str, Any]:
    view = record.public(now)
    view["revoked"] = record.revoked_at is not None
    view["spend"] = spend.get(record.name, {}).get(record.budget_period, Decimal(0))
    return view


async def _one(api: AdminApi, record: KeyRecord, secret: str | None = None) -> KeyView:
    now = datetime.now(timezone.utc)
    view = _view(record, await spend_by_key(api.gateway.engine, now.date(), record.name), now)
    return KeyView.model_validate(view) if secret is None else KeyCreated.model_validate({**view, "key": secret})


def _changed(api: AdminApi, record: KeyRecord, what: str) -> None:
    if api.gateway.key_cache is not None:
        api.gateway.key_cache.remember(record)
    log.info("admin API: key %s %s", record.name, what)


async def list_keys(api: AdminApi, request: AdminRequest) -> tuple[int, KeyList]:
    records = await KeyStore(api.gateway.engine).list()
    now = datetime.now(timezone.utc)
    spend = await spend_by_key(api.gateway.engine, now.date())
    return 200, KeyList.model_validate({"data": [_view(r, spend, now) for r in records]})


async def create_key(api: AdminApi, request: AdminRequest) -> tuple[int, KeyView]:
    body = parse_body(KeyCreate, request.body)
    with _store_errors():
        record, secret = await KeyStore(api.gateway.engine).create(
            body.name, **body.model_dump(exclude_unset=True, exclude={"name"}))
    _changed(api, record, "created")
    return 201, await _one(api, record, secret)


async def get_key(api: AdminApi, request: AdminRequest) -> tuple[int, KeyView]:
    with _store_errors():
        record = await KeyStore(api.gateway.engine).get(request.params["name"])
    return 200, await _one(api, record)


async def update_key(api: AdminApi, request: AdminRequest) -> tuple[int, KeyView]:
    body = parse_body(KeyPatch, request.body)
    name, store = request.params["name"], KeyStore(api.gateway.engine)
    settings = body.model_dump(exclude_unset=True, exclude={"disabled"})
    with _store_errors():
        record = await store.update(name, **settings) if settings else await store.get(name)
        if body.disabled is not None:
            record = await (store.disable(name) if body.disabled else store.enable(name))
    if settings or body.disabled is not None:
        _changed(api, record, "updated")
    return 200, await _one(api, record)


async def revoke_key(api: AdminApi, request: AdminRequest) -> tuple[int, KeyView]:
    """Revoking a revoked key changes nothing and is no error: DELETE is idempotent."""
    name, store = request.params["name"], KeyStore(api.gateway.engine)
    with _store_errors():
        try:
            record = await store.revoke(name)
        except KeyRevoked:
            record = await store.get(name)
        else:
            _changed(api, record, "revoked")
    return 200, await _one(api, record)


async def rotate_key(api: AdminApi, request: AdminRequest) -> tuple[int, KeyView]:
    with _store_errors():
        record, secret = await KeyStore(api.gateway.engine).rotate(request.params["name"])
    _changed(api, record, "rotated")
    return 200, await _one(api, record, secret)

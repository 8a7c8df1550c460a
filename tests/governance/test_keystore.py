import hashlib
import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import select

from _databases import run_with_engine
from relaygate.governance.key_settings import InvalidKeySettings
from relaygate.governance.keys import key_digest
from relaygate.governance.keystore import KeyExists, KeyNotFound, KeyRevoked, KeyStore
from relaygate.store.schema import api_keys

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self, now=T0):
        self.now = now

    def __call__(self):
        return self.now


def test_create_shows_the_secret_once_and_stores_only_its_hash(database_url):
    async def body(engine):
        record, secret = await KeyStore(engine).create("team-a", budget="12.5", models=["gpt-4o"])
        async with engine.connect() as c:
            row = (await c.execute(select(api_keys))).one()
        return record, secret, row

    record, secret, row = run_with_engine(database_url, body)
    assert re.fullmatch(r"rg-[A-Za-z0-9_-]{40}", secret)
    assert row.digest == hashlib.sha256(secret.encode()).hexdigest() == record.digest
    assert record.prefix == secret[:8] and record.budget == Decimal("12.5")
    stored = " ".join(str(v) for v in row)
    assert secret not in stored and secret[8:] not in stored
    assert record.models == frozenset({"gpt-4o"}) and record.is_active(T0)


def test_list_and_get_show_no_secret(database_url):
    async def body(engine):
        store = KeyStore(engine, Clock())
        await store.create("b")
        await store.create("a", metadata={"owner": "ana"}, rpm=60)
        return await store.list(), await store.get("a")

    listed, got = run_with_engine(database_url, body)
    assert [k.name for k in listed] == ["a", "b"]
    assert got.metadata == {"owner": "ana"} and got.rpm == 60
    shown = got.public(T0)
    assert "digest" not in shown and shown["status"] == "active" and shown["prefix"].startswith("rg-")


def test_update_changes_only_what_is_given(database_url):
    async def body(engine):
        store = KeyStore(engine, Clock())
        await store.create("k", budget=5, budget_period="daily", rpm=10, tpm=1000, max_concurrency=2)
        first = await store.update("k", rpm=20, models=["a", "b"])
        second = await store.update("k", budget=None, expires_at="2026-04-01T00:00:00Z")
        return first, second

    first, second = run_with_engine(database_url, body)
    assert (first.rpm, first.tpm, first.budget, first.budget_period) == (20, 1000, Decimal(5), "daily")
    assert first.models == frozenset({"a", "b"}) and first.max_concurrency == 2
    assert second.budget is None and second.rpm == 20
    assert second.expires_at == datetime(2026, 4, 1, tzinfo=timezone.utc)


@pytest.mark.parametrize("settings", [
    {"budget": "-1"}, {"budget": "lots"}, {"budget_period": "weekly"}, {"rpm": 0}, {"tpm": 1.5},
    {"models": "gpt-4o"}, {"models": []}, {"expires_at": "next week"}, {"colour": "blue"},
])
def test_invalid_settings_are_refused(settings):
    from relaygate.governance.key_settings import validated

    with pytest.raises(InvalidKeySettings):
        validated(settings)


def test_names_are_unique_and_checked(database_url):
    async def body(engine):
        store = KeyStore(engine)
        await store.create("same")
        with pytest.raises(KeyExists):
            await store.create("same")
        with pytest.raises(InvalidKeySettings):
            await store.create("has space")
        with pytest.raises(KeyNotFound):
            await store.update("missing", rpm=1)
        return len(await store.list())

    assert run_with_engine(database_url, body) == 1


def test_lookup_refuses_disabled_expired_and_revoked_keys(database_url):
    async def body(engine):
        clock = Clock()
        store = KeyStore(engine, clock)
        _, secret = await store.create("k", expires_at=T0 + timedelta(days=1))
        digest = key_digest(secret)
        seen = [await store.lookup(digest) is not None]
        await store.disable("k")
        seen.append(await store.lookup(digest) is not None)
        await store.enable("k")
        seen.append(await store.lookup(digest) is not None)
        clock.now = T0 + timedelta(days=1)
        seen.append(await store.lookup(digest) is not None)
        clock.now = T0
        await store.revoke("k")
        seen.append(await store.lookup(digest) is not None)
        with pytest.raises(KeyRevoked):
            await store.update("k", rpm=5)
        with pytest.raises(KeyRevoked):
            await store.rotate("k")
        return seen, (await store.get("k")).status(T0)

    seen, status = run_with_engine(database_url, body)
    assert seen == [True, False, True, False, False]
    assert status == "revoked"


def test_rotate_replaces_the_secret(database_url):
    async def body(engine):
        store = KeyStore(engine)
        first, old = await store.create("k", rpm=7)
        second, new = await store.rotate("k")
        return first, old, second, new, await store.lookup(key_digest(old)), await store.lookup(key_digest(new))

    first, old, second, new, by_old, by_new = run_with_engine(database_url, body)
    assert old != new and by_old is None
    assert by_new is not None and by_new.name == "k" and by_new.rpm == 7
    assert second.prefix == new[:8] and second.digest != first.digest


def test_changed_since_reports_created_and_changed_keys(database_url):
    async def body(engine):
        clock = Clock()
        store = KeyStore(engine, clock)
        await store.create("old")
        clock.now = T0 + timedelta(seconds=5)
        await store.create("new")
        clock.now = T0 + timedelta(seconds=10)
        await store.revoke("old")
        return [k.name for k in await store.changed_since(T0 + timedelta(seconds=1))]

    assert run_with_engine(database_url, body) == ["new", "old"]


def test_budgets_keep_every_digit(database_url):
    async def body(engine):
        store = KeyStore(engine)
        await store.create("k", budget="0.1")
        tiny = await store.update("k", budget=Decimal("1234567.0000000001"))
        return (await store.get("k")).budget, tiny.budget

    stored, tiny = run_with_engine(database_url, body)
    assert stored == tiny == Decimal("1234567.0000000001")

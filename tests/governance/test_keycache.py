"""The key cache on SQLite looks at the database through a cheap probe and fetches keys only when
something changed; every kind of change still reaches it."""

from __future__ import annotations

from _databases import run_with_engine
from relaygate.governance.keycache import KeyCache, sqlite_probe
from relaygate.governance.keys import key_digest
from relaygate.governance.keystore import KeyStore


def test_the_probe_skips_the_query_until_a_key_changes(tmp_path):
    url = f"sqlite:///{tmp_path / 'keys.db'}"

    async def body(engine):
        store = KeyStore(engine)
        _, secret = await store.create("team-a")
        cache = KeyCache(store, sqlite_probe(engine.url.database))
        await cache.load()
        seen = []
        for change in (None, None, "create", None, "update", "rotate", None, "revoke", None):
            if change == "create":
                _, other = await store.create("team-b")
            elif change == "update":
                await store.update("team-a", rpm=7)
            elif change == "rotate":
                _, rotated = await store.rotate("team-a")
            elif change == "revoke":
                await store.revoke("team-b")
            before = cache.full_refreshes
            await cache.refresh()
            seen.append(cache.full_refreshes - before)
        return seen, cache, secret, other, rotated

    seen, cache, secret, other, rotated = run_with_engine(url, body)
    # the first look takes its mark; after that only the four changes fetch anything
    assert seen == [1, 0, 1, 0, 1, 1, 0, 1, 0]
    assert cache.get(key_digest(secret)) is None  # rotated away
    assert cache.get(key_digest(rotated)).limits.rpm == 7
    assert cache.get(key_digest(other)) is None  # revoked


def test_no_probe_for_a_database_in_memory_or_elsewhere():
    assert sqlite_probe(None) is None
    assert sqlite_probe(":memory:") is None

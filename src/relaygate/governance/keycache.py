"""Database keys held in memory, so no request waits on the database.

At start every key is loaded; then the cache asks the store every REFRESH seconds for keys changed
since its last look (with some overlap, since instances' clocks differ), so a key created, changed,
rotated or revoked with `relaygate keys` or the admin API is honoured by every instance within a
second. If the database is unreachable, the keys already cached keep working.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from relaygate.governance.budgets import Budget
from relaygate.governance.keys import ClientKey
from relaygate.governance.keystore import KeyRecord, KeyStore, utc_now
from relaygate.governance.limits import KeyLimits

log = logging.getLogger("relaygate.keys")

REFRESH = 0.5  # seconds between looks at the database
FULL_REFRESH = 30.0  # seconds between full looks when the probe sees no change
OVERLAP = timedelta(seconds=5)  # how far back each look reaches, against clock skew between instances


class CachedKey:
    __slots__ = ("record", "client", "expires_at", "live")

    def __init__(self, record: KeyRecord) -> None:
        self.record = record
        limits = KeyLimits(record.rpm, record.tpm, record.max_concurrency)
        budget = Budget(record.budget, record.budget_period) if record.budget is not None else None
        self.client = ClientKey(record.name, record.models, limits, budget)
        self.expires_at = record.expires_at
        self.live = record.revoked_at is None and not record.disabled  # a change comes as a new record

    def usable(self, now: datetime | None = None) -> bool:
        return self.live and (self.expires_at is None or (now or utc_now()) < self.expires_at)


class KeyCache:
    def __init__(self, store: KeyStore, probe: Callable[[], Any] | None = None) -> None:
        self.store = store
        self.by_digest: dict[str, CachedKey] = {}
        self.digest_of: dict[str, str] = {}  # name → its current digest (rotation replaces it)
        self.since = datetime.min.replace(tzinfo=utc_now().tzinfo)
        self._task: asyncio.Task[None] | None = None
        self.probe = probe  # a cheap look at whether any key changed (see `sqlite_probe`)
        self._mark: Any = None
        self._full_due = 0.0
        self.full_refreshes = 0

    async def load(self) -> None:
        started = utc_now()
        for record in await self.store.list():
            self._put(record)
        self.since = started

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._refresh_forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        close = getattr(self.probe, "close", None)
        if close is not None:
            close()

    def get(self, digest: str) -> ClientKey | None:
        """The key of this digest if it is usable now (`CachedKey.usable`, without its call where the
        key has no expiry: this runs for every request)."""
        cached = self.by_digest.get(digest)
        if cached is None or not cached.live:
            return None
        return cached.client if cached.expires_at is None or cached.usable() else None

    def remember(self, record: KeyRecord) -> None:
        """A change this instance made itself (the admin API): honoured here at once."""
        self._put(record)

    async def refresh(self) -> None:
        """Fetch the keys changed since the last look, unless the probe says nothing changed (a
        full look still happens every FULL_REFRESH seconds)."""
        if self.probe is not None:
            try:
                mark = self.probe()
            except sqlite3.Error:
                mark = None
            if mark is not None and mark == self._mark and time.monotonic() < self._full_due:
                return
            self._mark = mark  # taken before the query: a change after it shows in the next mark
        self._full_due = time.monotonic() + FULL_REFRESH
        self.full_refreshes += 1
        started = utc_now()
        for record in await self.store.changed_since(self.since - OVERLAP):
            self._put(record)
        self.since = started

    async def _refresh_forever(self) -> None:
        failing = False
        while True:
            await asyncio.sleep(REFRESH)
            try:
                await self.refresh()
            except Exception as exc:  # noqa: BLE001 - any database trouble: keep serving from the cache
                if not failing:
                    log.warning("cannot refresh keys from the database (%s); serving the cached ones",
                                type(exc).__name__)
                failing = True
            else:
                if failing:
                    log.warning("key refresh from the database works again")
                failing = False

    def _put(self, record: KeyRecord) -> None:
        old = self.digest_of.get(record.name)
        if old is not None and old != record.digest:
            self.by_digest.pop(old, None)  # rotated: the old secret stops working
        self.digest_of[record.name] = record.digest
        self.by_digest[record.digest] = CachedKey(record)


def sqlite_probe(database: str | None) -> SqliteProbe | None:
    """For a SQLite file: the number of keys and the latest change, read in the event loop's own
    thread through a read-only connection (tens of microseconds, where a query through the async
    engine's worker thread costs a hundred times that under load). Any create, update, revoke or
    rotation moves one of the two. None for other databases, whose async drivers need no thread."""
    if not database or database == ":memory:":
        return None
    return SqliteProbe(database)


class SqliteProbe:
    """`sqlite_probe`'s look, on its own read-only connection. Closed when the cache stops, before
    the engine's connections: the last connection to close takes the WAL file away, and a
    read-only one cannot, so closing it last would leave `-wal` and `-shm` files behind."""

    def __init__(self, database: str) -> None:
        uri = Path(database).absolute().as_uri() + "?mode=ro"
        self.connection = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)

    def __call__(self) -> Any:
        return self.connection.execute("SELECT count(*), max(updated_at) FROM api_keys").fetchone()

    def close(self) -> None:
        self.connection.close()

"""Async engines for the configured `database` URL: SQLite through aiosqlite, PostgreSQL through asyncpg."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from relaygate.errors import ConfigError

_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}
SQLITE_BUSY_MS = 5000  # a writer waits this long for another process's transaction before failing
# A new database's page size (SQLite's default: 4 KiB). The usage writer appends thousands of rows a
# batch to a table and its indexes, and each page it changes is one write to the write-ahead log and
# one more when the log is copied back: with 16 KiB pages it makes a quarter of the system calls,
# ~4 against ~6.5 µs of CPU a record on the project's machine, most of the difference system time.
# A database made earlier keeps its pages (in WAL mode SQLite cannot change them).
SQLITE_PAGE_SIZE = 16384


def async_url(database_url: str) -> URL:
    """`sqlite:///x.db` → `sqlite+aiosqlite:///x.db`, `postgresql://…` → `postgresql+asyncpg://…`."""
    try:
        url = make_url(database_url)
    except Exception:  # noqa: BLE001 - SQLAlchemy raises ArgumentError and ValueError alike
        raise ConfigError(f"database: {database_url!r} is not a database URL") from None
    driver = _DRIVERS.get(url.drivername)
    if driver is None:
        raise ConfigError(f"database: unsupported scheme {url.drivername!r}; use sqlite:/// or postgresql://")
    url = url.set(drivername=driver)
    if driver == "postgresql+asyncpg" and "sslmode" in url.query:
        # libpq's `sslmode=require` is spelled `ssl=require` by asyncpg
        url = url.difference_update_query(["sslmode"]).update_query_dict({"ssl": url.query["sslmode"]})
    return url


def create_engine(database_url: str, **options: Any) -> AsyncEngine:
    url = async_url(database_url)
    if url.get_backend_name() == "sqlite":
        engine = create_async_engine(url, **options)
        _sqlite_transactions(engine)
        return engine
    # pre-ping: a pooled connection may have died with a database restart; test it before use
    return create_async_engine(url, pool_pre_ping=True, **options)


def _sqlite_transactions(engine: AsyncEngine) -> None:
    """Let SQLite run real transactions, DDL included: Python's sqlite3 module otherwise commits
    before every DDL statement, so a half-applied migration could be left behind. This is the recipe
    from SQLAlchemy's SQLite dialect documentation ("Serializable isolation / Savepoints /
    Transactional DDL"); a connection may ask for `BEGIN IMMEDIATE` to take the write lock up front."""

    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_MS}")
        cursor.execute(f"PRAGMA page_size = {SQLITE_PAGE_SIZE}")  # takes effect only where the file is new
        _write_ahead_log(dbapi_connection, cursor)  # readers do not block the batch writer
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get("sqlite_immediate", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _write_ahead_log(dbapi_connection: Any, cursor: Any) -> None:
    """Put the database in WAL mode (a no-op once it is: the mode is kept in the file).

    Switching into WAL needs an exclusive lock that SQLite does not wait for with the busy handler:
    a connection that meets another one's switch, as when several instances open one new file at
    once, is told "database is locked" at once. It tries again, for as long as a writer would wait,
    yielding to the event loop in between."""
    deadline = time.monotonic() + SQLITE_BUSY_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
        dbapi_connection.run_async(lambda _driver: asyncio.sleep(0.005))

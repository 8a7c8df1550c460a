"""Alembic migrations applied from code at start (`await migrate(url)`), safe to run concurrently.

Several gateway processes may start at once against one database, so the upgrade runs under a
lock: PostgreSQL's transaction-scoped advisory lock, SQLite's `BEGIN IMMEDIATE` write lock. Both
databases run DDL transactionally here, so a failed upgrade leaves nothing half-done.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.store.db import create_engine

SCRIPTS = Path(__file__).with_name("migrations")
_PG_LOCK_ID = 0x72656C6179  # "relay": any constant shared by every instance
HEAD = "0005"  # the newest revision under migrations/versions (tests/store checks they agree)


async def migrate(database_url: str) -> None:
    """Bring the database at `database_url` to the newest schema; a no-op when it is there."""
    engine = create_engine(database_url)
    try:
        await migrate_engine(engine)
    finally:
        await engine.dispose()


async def migrate_engine(engine: AsyncEngine) -> None:
    if await current_revision(engine) == HEAD:
        return  # the usual case at every start and CLI command: Alembic is not even imported
    async with engine.connect() as connection:
        connection = await connection.execution_options(sqlite_immediate=True)
        async with connection.begin():
            if engine.dialect.name == "postgresql":
                await connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_LOCK_ID})
            await connection.run_sync(_upgrade)


def _upgrade(connection: Connection) -> None:
    logging.getLogger("alembic").setLevel(logging.WARNING)  # its set-up chatter on import is not news
    from alembic import command
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(SCRIPTS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        return await connection.run_sync(_current)


def _current(connection: Connection) -> str | None:
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()

import asyncio

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from relaygate.errors import ConfigError
from relaygate.store import async_url, create_engine, migrate
from relaygate.store.migrate import HEAD, current_revision
from relaygate.store.schema import metadata


def test_urls_are_translated_to_the_async_drivers():
    assert str(async_url("sqlite:///./relaygate.db")) == "sqlite+aiosqlite:///./relaygate.db"
    assert async_url("postgresql://u:p@h:5432/db").drivername == "postgresql+asyncpg"
    assert async_url("postgres://u@h/db").drivername == "postgresql+asyncpg"
    assert dict(async_url("postgresql://u@h/db?sslmode=require").query) == {"ssl": "require"}
    with pytest.raises(ConfigError, match="unsupported scheme"):
        async_url("mysql://u@h/db")


async def _tables_and_revision(url):
    engine = create_engine(url)
    try:
        async with engine.connect() as c:
            tables = await c.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        return tables, await current_revision(engine)
    finally:
        await engine.dispose()


def test_migrations_apply_twice(database_url):
    asyncio.run(migrate(database_url))
    asyncio.run(migrate(database_url))
    tables, revision = asyncio.run(_tables_and_revision(database_url))
    assert {"api_keys", "usage_records", "usage_daily", "alembic_version"} <= tables
    assert revision == HEAD


def test_concurrent_migrations_do_not_collide(database_url):
    async def three_at_once():
        await asyncio.gather(*(migrate(database_url) for _ in range(3)))

    asyncio.run(three_at_once())
    assert asyncio.run(_tables_and_revision(database_url))[1] == HEAD


def _differences(sync_connection):
    context = MigrationContext.configure(sync_connection, opts={"compare_type": True})
    return compare_metadata(context, metadata)


def test_migrated_schema_matches_the_table_definitions(database_url):
    async def diff():
        await migrate(database_url)
        engine = create_engine(database_url)
        try:
            async with engine.connect() as c:
                return await c.run_sync(_differences)
        finally:
            await engine.dispose()

    assert asyncio.run(diff()) == []


def test_the_head_constant_names_the_newest_migration():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from relaygate.store.migrate import HEAD, SCRIPTS

    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    assert ScriptDirectory.from_config(config).get_heads() == [HEAD]

import asyncio
from dataclasses import asdict, replace

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select

from relaygate.errors import ConfigError
from relaygate.metering.sink import write_batch
from relaygate.store.db import async_url, create_engine
from relaygate.store.migrate import migrate
from relaygate.store.migrate import HEAD, current_revision, migrate_engine
from relaygate.store.schema import metadata, usage_records
from tests.metering.records import record


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


def test_instances_opening_one_new_sqlite_file_at_once_all_start(tmp_path):
    """Switching a new file into WAL races: the loser is told "database is locked" at once, without
    the busy timeout. Each round is a new file met by four migrations at once."""

    async def four_at_once(url):
        await asyncio.gather(*(migrate(url) for _ in range(4)))

    for round in range(12):
        url = f"sqlite:///{tmp_path / f'round-{round}.db'}"
        asyncio.run(four_at_once(url))
        assert asyncio.run(_tables_and_revision(url))[1] == HEAD


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


def _upgrade_to(revision: str):
    def upgrade(connection):
        from alembic import command
        from alembic.config import Config

        from relaygate.store.migrate import SCRIPTS

        config = Config()
        config.set_main_option("script_location", str(SCRIPTS))
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    return upgrade


def test_a_database_of_the_previous_revision_keeps_its_records_and_gains_the_client_request_id(database_url):
    """0003 adds `usage_records.client_request_id` to a database already in use: the records there
    stay, without a client id, and new ones are written with theirs."""
    old = record(1)
    columns = {c.name for c in usage_records.columns} - {"id", "client_request_id"}
    stored_before = {c: getattr(old, "key" if c == "key_name" else c) for c in columns}
    stored_before["attempts"] = [asdict(a) for a in old.attempts]

    async def upgrade():
        engine = create_engine(database_url)
        try:
            async with engine.begin() as c:
                await c.run_sync(_upgrade_to("0002"))
                await c.execute(usage_records.insert().values(**stored_before))
            assert await current_revision(engine) == "0002"
            await migrate_engine(engine)
            await write_batch(engine, [replace(record(2), client_request_id="retry-2").entry()])
            async with engine.connect() as c:
                rows = (await c.execute(select(usage_records).order_by(usage_records.c.id))).all()
                chosen = (await c.execute(select(usage_records.c.request_id).where(
                    usage_records.c.client_request_id == "retry-2"))).scalars().all()
            return rows, chosen, await current_revision(engine)
        finally:
            await engine.dispose()

    rows, chosen, revision = asyncio.run(upgrade())
    assert revision == HEAD
    assert [(r.request_id, r.client_request_id) for r in rows] == [(old.request_id, None), ("req-000002", "retry-2")]
    assert (rows[0].cost, rows[0].created_at, rows[0].prompt_tokens) == (old.cost, old.created_at, old.prompt_tokens)
    assert chosen == ["req-000002"]


def test_a_database_of_revision_0003_keeps_its_keys_and_takes_64_bit_limits(database_url):
    """0004 widens a key's limits to 64 bits on PostgreSQL (SQLite's INTEGER has them already)."""
    from datetime import datetime, timezone

    from relaygate.store.schema import api_keys

    now = datetime.now(timezone.utc)

    async def upgrade():
        engine = create_engine(database_url)
        try:
            async with engine.begin() as c:
                await c.run_sync(_upgrade_to("0003"))
                await c.execute(api_keys.insert().values(
                    name="old", digest="d" * 64, prefix="rg-old00", metadata={}, rpm=60, tpm=1000, disabled=False,
                    created_at=now, updated_at=now))
            await migrate_engine(engine)
            async with engine.begin() as c:
                await c.execute(api_keys.update().where(api_keys.c.name == "old").values(tpm=10**10))
            async with engine.connect() as c:
                row = (await c.execute(select(api_keys.c.rpm, api_keys.c.tpm))).one()
            return tuple(row), await current_revision(engine)
        finally:
            await engine.dispose()

    assert asyncio.run(upgrade()) == ((60, 10**10), HEAD)


def test_a_database_of_revision_0004_keeps_its_records_and_indexes_only_errors_by_status(database_url):
    """0005 makes the status index partial (errors only); the records and the request log's answers stay."""
    from relaygate.metering.request_log import RequestFilter, recent_requests

    records = [record(1), replace(record(2), status=503, error_code="upstream_error"), record(3)]

    async def upgrade():
        engine = create_engine(database_url)
        try:
            async with engine.begin() as c:
                await c.run_sync(_upgrade_to("0004"))
            assert await write_batch(engine, [r.entry() for r in records]) == 3
            await migrate_engine(engine)
            async with engine.connect() as c:
                indexes = await c.run_sync(lambda sync: inspect(sync).get_indexes("usage_records"))
            pages = [await recent_requests(engine, RequestFilter(status=s), 10) for s in ("error", "503", "ok", "200")]
            return {i["name"] for i in indexes}, [[row["request_id"] for row in rows] for rows, _ in pages], \
                await current_revision(engine)
        finally:
            await engine.dispose()

    names, pages, revision = asyncio.run(upgrade())
    assert "ix_usage_records_error_created" in names and "ix_usage_records_status_created" not in names
    assert pages == [["req-000002"], ["req-000002"], ["req-000003", "req-000001"], ["req-000003", "req-000001"]]
    assert revision == HEAD


def test_sqlite_finds_one_error_code_through_the_errors_index(tmp_path):
    """A filter on one error code says `status >= 400` too, which SQLite needs to see that the
    partial index holds the rows (PostgreSQL infers it)."""
    from sqlalchemy.dialects import sqlite

    from relaygate.metering.request_log import RequestFilter, page_query

    url = f"sqlite:///{tmp_path / 'plan.db'}"
    asyncio.run(migrate(url))

    async def plan(status: str) -> str:
        sql = str(page_query(RequestFilter(status=status), 50).compile(
            dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))
        engine = create_engine(url)
        try:
            async with engine.connect() as c:
                return " ".join(row[-1] for row in (await c.exec_driver_sql("EXPLAIN QUERY PLAN " + sql)).all())
        finally:
            await engine.dispose()

    assert "ix_usage_records_error_created" in asyncio.run(plan("503"))
    assert "ix_usage_records_error_created" in asyncio.run(plan("error"))

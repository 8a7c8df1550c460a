"""Writes a batch of usage records to the database: new records are inserted, records already
there (by request id) are ignored, and the daily rollup grows by exactly the inserted ones, all in
one transaction — so replaying a journal any number of times changes nothing twice."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from relaygate.metering.usage import UsageRecord
from relaygate.store.schema import ROLLUP_COUNTS, usage_daily, usage_records

_INSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


def _insert(connection: AsyncConnection, table: Table) -> Any:
    return _INSERTS[connection.dialect.name](table)


def unique_by_request(records: Sequence[UsageRecord]) -> list[UsageRecord]:
    """The first record of each request id (a journal can hold one twice only by a caller's bug)."""
    seen: dict[str, UsageRecord] = {}
    for record in records:
        seen.setdefault(record.request_id, record)
    return list(seen.values())


async def insert_new(connection: AsyncConnection, records: Sequence[UsageRecord]) -> set[str]:
    """Request ids of the records that were not stored yet and now are."""
    statement = (
        _insert(connection, usage_records)
        .on_conflict_do_nothing(index_elements=["request_id"])
        .returning(usage_records.c.request_id)
    )
    result = await connection.execute(statement, [r.row() for r in records])
    return set(result.scalars().all())


def rollup_rows(records: Sequence[UsageRecord]) -> list[dict[str, Any]]:
    """Per (day, key, model) sums, sorted so concurrent writers lock rollup rows in one order."""
    sums: dict[tuple[Any, str, str], dict[str, Any]] = {}
    for r in records:
        row = sums.setdefault((r.day, r.key, r.model), {
            "day": r.day, "key_name": r.key, "model": r.model, **dict.fromkeys(ROLLUP_COUNTS, 0),
        })
        row["requests"] += 1
        row["prompt_tokens"] += r.prompt_tokens
        row["completion_tokens"] += r.completion_tokens
        row["reasoning_tokens"] += r.reasoning_tokens
        row["cached_tokens"] += r.cached_tokens
        row["cost"] += r.cost
    return [sums[k] for k in sorted(sums)]


async def add_to_rollup(connection: AsyncConnection, records: Sequence[UsageRecord]) -> None:
    rows = rollup_rows(records)
    if not rows:
        return
    statement = _insert(connection, usage_daily)
    statement = statement.on_conflict_do_update(
        index_elements=["day", "key_name", "model"],
        set_={name: usage_daily.c[name] + statement.excluded[name] for name in ROLLUP_COUNTS},
    )
    await connection.execute(statement, rows)


async def write_batch(engine: AsyncEngine, records: Sequence[UsageRecord]) -> int:
    """Store the records not stored yet and count them in the rollup; returns how many were new."""
    batch = unique_by_request(records)
    if not batch:
        return 0
    async with engine.begin() as connection:
        inserted = await insert_new(connection, batch)
        await add_to_rollup(connection, [r for r in batch if r.request_id in inserted])
    return len(inserted)

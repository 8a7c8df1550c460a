"""Writes a batch of usage records to the database: new records are inserted, records already
there (by request id) are skipped, and the daily rollup grows by exactly the inserted ones, all in
one transaction — so replaying a journal any number of times changes nothing twice.

The batch writer runs in the serving process, so every microsecond per record is taken from the
requests. Records therefore go to the driver as plain tuples of the values the columns store
(`executemany` of one prepared statement), not through SQLAlchemy's per-value type processing,
which cost about ten times more. The stored forms are those of store/types.py: on SQLite money as
whole 1e-10 USD and times as naive UTC text in SQLAlchemy's format; on PostgreSQL NUMERIC and
timestamptz. A record that another writer stored between the check and the insert makes the insert
fail on the unique request id; the transaction is rolled back and the batch retried, never counted
twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from relaygate.metering.money import MONEY_QUANTUM, MONEY_SCALE
from relaygate.metering.usage import UsageRecord, attempt_dict
from relaygate.store.schema import ROLLUP_COUNTS

RECORD_COLUMNS = (
    "request_id", "key_name", "model", "provider", "upstream_model", "prompt_tokens", "completion_tokens",
    "reasoning_tokens", "cached_tokens", "cost", "latency_ms", "ttft_ms", "status", "error_code", "stream",
    "estimated", "attempts", "created_at",
)
ROLLUP_KEY = ("day", "key_name", "model")


def _placeholders(dialect: str, count: int) -> str:
    return ", ".join(f"${i}" for i in range(1, count + 1)) if dialect == "postgresql" else ", ".join("?" * count)


def _insert_sql(dialect: str) -> str:
    return (f"INSERT INTO usage_records ({', '.join(RECORD_COLUMNS)}) "
            f"VALUES ({_placeholders(dialect, len(RECORD_COLUMNS))})")


def _rollup_sql(dialect: str) -> str:
    columns = (*ROLLUP_KEY, *ROLLUP_COUNTS)
    added = ", ".join(f"{c} = usage_daily.{c} + excluded.{c}" for c in ROLLUP_COUNTS)
    return (f"INSERT INTO usage_daily ({', '.join(columns)}) VALUES ({_placeholders(dialect, len(columns))}) "
            f"ON CONFLICT ({', '.join(ROLLUP_KEY)}) DO UPDATE SET {added}")


def _sqlite_money(amount: Decimal) -> int:
    return int(amount.quantize(MONEY_QUANTUM).scaleb(MONEY_SCALE))


def _pg_money(amount: Decimal) -> Decimal:
    return amount.quantize(MONEY_QUANTUM)


def _sqlite_time(moment: datetime) -> str:
    """What SQLAlchemy's SQLite DATETIME stores and reads back: naive UTC, microseconds always."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


def _pg_time(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc)


class _Dialect:
    """How one database takes the values: SQL text made once, and the converters of stored forms."""

    def __init__(self, name: str, money: Callable[[Decimal], Any], moment: Callable[[datetime], Any],
                 day: Callable[[date], Any]) -> None:
        self.name = name
        self.insert = _insert_sql(name)
        self.rollup = _rollup_sql(name)
        self.money, self.moment, self.day = money, moment, day
        self.existing = (
            "SELECT request_id FROM usage_records WHERE request_id = ANY($1)" if name == "postgresql"
            else "SELECT request_id FROM usage_records WHERE request_id IN ({})"
        )

    def record_row(self, r: UsageRecord) -> tuple[Any, ...]:
        return (
            r.request_id, r.key, r.model, r.provider, r.upstream_model, r.prompt_tokens, r.completion_tokens,
            r.reasoning_tokens, r.cached_tokens, self.money(r.cost), r.latency_ms, r.ttft_ms, r.status,
            r.error_code, r.stream, r.estimated, orjson.dumps([attempt_dict(a) for a in r.attempts]).decode(),
            self.moment(r.created_at),
        )

    async def stored_ids(self, connection: AsyncConnection, ids: list[str]) -> set[str]:
        if self.name == "postgresql":
            result = await connection.exec_driver_sql(self.existing, (ids,))
        else:
            result = await connection.exec_driver_sql(self.existing.format(", ".join("?" * len(ids))), tuple(ids))
        return {row[0] for row in result}


_DIALECTS = {
    "sqlite": _Dialect("sqlite", _sqlite_money, _sqlite_time, date.isoformat),
    "postgresql": _Dialect("postgresql", _pg_money, _pg_time, lambda day: day),
}


def unique_by_request(records: Sequence[UsageRecord]) -> list[UsageRecord]:
    """The first record of each request id (a journal can hold one twice only by a caller's bug)."""
    seen: dict[str, UsageRecord] = {}
    for record in records:
        seen.setdefault(record.request_id, record)
    return list(seen.values())


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


async def write_batch(engine: AsyncEngine, records: Sequence[UsageRecord]) -> int:
    """Store the records not stored yet and count them in the rollup; returns how many were new."""
    batch = unique_by_request(records)
    if not batch:
        return 0
    dialect = _DIALECTS[engine.dialect.name]
    async with engine.begin() as connection:
        stored = await dialect.stored_ids(connection, [r.request_id for r in batch])
        new = [r for r in batch if r.request_id not in stored]
        if not new:
            return 0
        await connection.exec_driver_sql(dialect.insert, [dialect.record_row(r) for r in new])
        await connection.exec_driver_sql(dialect.rollup, [
            (dialect.day(row["day"]), row["key_name"], row["model"], *(row[c] for c in ROLLUP_COUNTS[:-1]),
             dialect.money(row["cost"]))
            for row in rollup_rows(new)
        ])
    return len(new)

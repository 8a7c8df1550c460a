"""Writes a batch of usage records to the database: new records are inserted, records already
there (by request id) are skipped, and the daily rollup grows by exactly the inserted ones, all in
one transaction — so replaying a journal any number of times changes nothing twice.

The batch writer runs in the serving process, so every microsecond per record is taken from the
requests. Records therefore arrive as journal entries (usage.py: the column values, parsed from the
line and nothing more) and go to the driver as plain tuples of the values the columns store
(`executemany` of one prepared statement), not through SQLAlchemy's per-value type processing,
which cost about ten times more. The stored forms are those of store/types.py: on SQLite money as
whole 1e-10 USD and times as naive UTC text in SQLAlchemy's format; on PostgreSQL NUMERIC and
timestamptz. A record that another writer stored between the check and the insert makes the insert
fail on the unique request id; the transaction is rolled back and the batch retried, never counted
twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import chain
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from relaygate.metering.money import MONEY_QUANTUM, MONEY_SCALE
from relaygate.metering.usage import RECORD_COLUMNS, Entry
from relaygate.store.schema import ROLLUP_COUNTS

ROLLUP_KEY = ("day", "key_name", "model")
REQUEST_ID, KEY, MODEL, COST, ATTEMPTS, CREATED, CLIENT_ID = 0, 1, 2, 9, 16, 17, 18  # positions in an entry and a row
COUNTS = slice(5, 9)  # prompt, completion, reasoning and cached tokens: ROLLUP_COUNTS[1:5]
SQLITE_CHUNK = 64  # rows per multi-row INSERT: 64 x 19 values, far below SQLite's limit of 32,766
UTC_ISO_LENGTH = len("2026-11-23T21:51:35.485490+00:00")


def _placeholders(dialect: str, count: int) -> str:
    return ", ".join(f"${i}" for i in range(1, count + 1)) if dialect == "postgresql" else ", ".join("?" * count)


def _insert_sql(dialect: str, rows: int = 1) -> str:
    values = f"({_placeholders(dialect, len(RECORD_COLUMNS))})"
    return f"INSERT INTO usage_records ({', '.join(RECORD_COLUMNS)}) VALUES {', '.join([values] * rows)}"


def _rollup_sql(dialect: str) -> str:
    columns = (*ROLLUP_KEY, *ROLLUP_COUNTS)
    added = ", ".join(f"{c} = usage_daily.{c} + excluded.{c}" for c in ROLLUP_COUNTS)
    return (f"INSERT INTO usage_daily ({', '.join(columns)}) VALUES ({_placeholders(dialect, len(columns))}) "
            f"ON CONFLICT ({', '.join(ROLLUP_KEY)}) DO UPDATE SET {added}")


def _sqlite_money(amount: str) -> int:
    """Whole 1e-10 USD. A cost is written already rounded to that scale, mostly as plain digits
    (`0.0000405`), which need no Decimal; exponents (`1E-7`) and anything else take the long way."""
    whole, _, fraction = amount.partition(".")
    if len(fraction) <= MONEY_SCALE and (whole + fraction).isdecimal():
        return int(whole + fraction.ljust(MONEY_SCALE, "0"))
    return int(Decimal(amount).quantize(MONEY_QUANTUM).scaleb(MONEY_SCALE))


def _pg_money(amount: str) -> Decimal:
    return Decimal(amount).quantize(MONEY_QUANTUM)


def _sqlite_time(moment: str) -> str:
    """What SQLAlchemy's SQLite DATETIME stores and reads back: naive UTC, microseconds always.
    A UTC time as orjson writes it needs only cutting: `2026-11-23T21:51:35.485490+00:00`."""
    if len(moment) == UTC_ISO_LENGTH and moment.endswith("+00:00"):
        return moment[:10] + " " + moment[11:26]
    return datetime.fromisoformat(moment).astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


def _pg_time(moment: str) -> datetime:
    return datetime.fromisoformat(moment).astimezone(timezone.utc)


class _Dialect:
    """How one database takes the values: SQL text made once, and the converters of stored forms."""

    def __init__(self, name: str, money: Callable[[str], Any], moment: Callable[[str], Any],
                 day: Callable[[Any], Any]) -> None:
        self.name = name
        self.insert = _insert_sql(name)
        self.insert_chunk = _insert_sql(name, SQLITE_CHUNK) if name == "sqlite" else None
        self.rollup = _rollup_sql(name)
        self.money, self.moment, self.day = money, moment, day
        self.existing = (
            "SELECT request_id FROM usage_records WHERE request_id = ANY($1)" if name == "postgresql"
            else "SELECT request_id FROM usage_records WHERE request_id IN ({})"
        )

    def row(self, e: Entry) -> tuple[Any, ...]:
        """An entry's values as the columns store them."""
        return (*e[:COST], self.money(e[COST]), *e[COST + 1 : ATTEMPTS], orjson.dumps(e[ATTEMPTS]).decode(),
                self.moment(e[CREATED]), e[CLIENT_ID])

    async def insert_rows(self, connection: AsyncConnection, rows: list[tuple[Any, ...]]) -> None:
        """On SQLite, whole chunks of rows go as one multi-row INSERT: one statement step for many
        rows, where `executemany` takes a step per row, and each step hands the GIL to the event
        loop's thread and back (about a tenth less CPU alone, and far fewer thread switches on a
        busy core). The rest, and every row on PostgreSQL (whose driver pipelines them), by executemany."""
        done = 0
        if self.insert_chunk is not None:
            while len(rows) - done >= SQLITE_CHUNK:
                flat = tuple(chain.from_iterable(rows[done : done + SQLITE_CHUNK]))
                await connection.exec_driver_sql(self.insert_chunk, flat)
                done += SQLITE_CHUNK
        if done < len(rows):
            await connection.exec_driver_sql(self.insert, rows[done:])

    async def stored_ids(self, connection: AsyncConnection, ids: list[str]) -> set[str]:
        if self.name == "postgresql":
            result = await connection.exec_driver_sql(self.existing, (ids,))
        else:
            result = await connection.exec_driver_sql(self.existing.format(", ".join("?" * len(ids))), tuple(ids))
        return {row[0] for row in result}


_DIALECTS = {
    "sqlite": _Dialect("sqlite", _sqlite_money, _sqlite_time, lambda moment: moment[:10]),
    "postgresql": _Dialect("postgresql", _pg_money, _pg_time, datetime.date),
}


def unique_by_request(entries: Sequence[Entry]) -> list[Entry]:
    """The first entry of each request id (a journal can hold one twice only by a caller's bug)."""
    seen: dict[str, Entry] = {}
    for entry in entries:
        seen.setdefault(entry[REQUEST_ID], entry)
    return list(seen.values())


def rollup_rows(dialect: _Dialect, rows: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Per (day, key, model) sums of stored rows, as rollup rows sorted so that concurrent writers
    lock them in one order. Stored money sums exactly (whole 1e-10 USD, or NUMERIC)."""
    sums: dict[tuple[Any, str, str], list[Any]] = {}
    for row in rows:
        group = (dialect.day(row[CREATED]), row[KEY], row[MODEL])
        counts = sums.get(group)
        if counts is None:
            counts = sums[group] = [0, 0, 0, 0, 0, 0]
        counts[0] += 1
        prompt, completion, reasoning, cached = row[COUNTS]
        counts[1] += prompt
        counts[2] += completion
        counts[3] += reasoning
        counts[4] += cached
        counts[5] += row[COST]
    return [(*group, *sums[group]) for group in sorted(sums)]


async def write_batch(engine: AsyncEngine, entries: Sequence[Entry]) -> int:
    """Store the entries not stored yet and count them in the rollup; returns how many were new."""
    batch = unique_by_request(entries)
    if not batch:
        return 0
    dialect = _DIALECTS[engine.dialect.name]
    async with engine.begin() as connection:
        stored = await dialect.stored_ids(connection, [e[REQUEST_ID] for e in batch])
        new = [dialect.row(e) for e in batch if e[REQUEST_ID] not in stored]
        if not new:
            return 0
        await dialect.insert_rows(connection, new)
        await connection.exec_driver_sql(dialect.rollup, rollup_rows(dialect, new))
    return len(new)

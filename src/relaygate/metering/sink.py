"""Writes a batch of usage records to the database: new records are inserted, records already
there (by request id) are skipped, and the daily rollup grows by exactly the inserted ones, all in
one transaction — so replaying a journal any number of times changes nothing twice.

The batch writer runs in the serving process, so every microsecond per record is taken from the
requests. Records therefore arrive as rows: tuples of the values the columns store, made from the
records this process has just journaled (`write_records`, nothing parsed back) or from journal
entries (`write_batch`: usage.py's column values, parsed from the line and nothing more), never
through SQLAlchemy's per-value type processing, which cost about ten times more. The stored forms
are those of store/types.py: on SQLite money as whole 1e-10 USD and times as naive UTC text in
SQLAlchemy's format; on PostgreSQL NUMERIC and timestamptz. On SQLite a record that another writer
stored between the check and the insert makes the insert fail on the unique request id; the
transaction is rolled back and the batch retried, never counted twice. On PostgreSQL the insert
itself skips the ids already stored (`ON CONFLICT DO NOTHING`) and the rollup adds what it inserted.

On SQLite a batch is one transaction on the writer's own connection (Python's sqlite3, no
SQLAlchemy, no aiosqlite), run as a whole in a worker thread: one hand-over per batch where the
async driver took one per statement, and none of SQLAlchemy's work per statement, which with a
chunk of 64 rows' parameters cost more than the insert itself (callgrind: 112k instructions per
record before, the parse of the journal line back included). A batch of the records this process
just journaled goes through the C module's `SqliteWriter` where there is one: the same transaction
on a connection of its own, the rows' values bound as they are (Python's sqlite3 binds each through
its adapters and copies each text), with the SQLite library Python's sqlite3 module is linked with.
On PostgreSQL the driver (asyncpg) runs in the event loop and copies the batch in, and the server
does the rest (`_write_pg`).

With the C module the records this process just journaled arrive as their lines, taken from the
journal's map (`write_lines`): on SQLite the C writer parses them and binds their values from the
bytes without the GIL; on PostgreSQL the C module makes them rows of COPY's text format, which the
server parses (`copy_text`). Either stores what the rows made by `_Dialect.row` of the same lines
store (tests), and leaves to the Python any line it does not plainly know.
"""

from __future__ import annotations

import _sqlite3
import asyncio
import io
import sqlite3
import threading
import weakref
from collections.abc import Awaitable, Callable, Sequence
from contextlib import closing
from itertools import chain
from datetime import datetime, timezone
from decimal import Decimal
from functools import partial
from typing import Any
from urllib.parse import quote

import orjson
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from relaygate.metering.money import MONEY_QUANTUM, MONEY_SCALE, units_of
from relaygate.metering.usage import RECORD_COLUMNS, Entry, UsageRecord
from relaygate.speedups import native
from relaygate.store.db import SQLITE_BUSY_MS
from relaygate.store.schema import ROLLUP_COUNTS

ROLLUP_KEY = ("day", "key_name", "model")
REQUEST_ID, KEY, MODEL, COST, STREAM, ESTIMATED, ATTEMPTS, CREATED, CLIENT_ID = 0, 1, 2, 9, 14, 15, 16, 17, 18  # positions in an entry and a row
COUNTS = slice(5, 9)  # prompt, completion, reasoning and cached tokens: ROLLUP_COUNTS[1:5]
# How far the write-ahead log grows before the writer's commit copies its pages into the database
# (SQLite's default: 1,000 pages). A batch dirties the same pages of the indexes' right edges and the
# rollup again and again; copied after every few batches, each was copied again and again too.
# At 64 MiB of log (16,000 pages of 4 KiB) the writer spent ~12% less per record (6.3 against 7.1 µs
# over 300,000 records on the project's machine); the log file stays that size, reused. SQLite counts
# it in pages, so the pragma is made for each database's page size (store/db.py: 16 KiB when new).
WAL_BYTES = 64 << 20
# Each of the writer's connections: waits for a lock rather than failing at once, the write-ahead log,
# commits that do not wait for the disk (the journal holds a record until it is stored), and its
# statement journals in memory. A multi-row INSERT, and the rollup's upsert, inside the batch's
# transaction keep the pages they change in a statement journal (to undo that statement alone); past
# 64 KiB SQLite spills it to a new temporary file, and a batch of a few hundred records changes far
# more: a file created in /var/tmp and ~500 writes to it per batch, half of all the writer's writes.
# In memory: ~25% less CPU per record (4.6 -> 3.5 µs at 800 records a batch, on the project's machine).
SQLITE_SETUP = (f"PRAGMA busy_timeout = {SQLITE_BUSY_MS}; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; "
                "PRAGMA wal_autocheckpoint = {wal_pages}; PRAGMA temp_store = MEMORY;")
SQLITE_CHUNK = 64  # rows per multi-row INSERT: 64 x 19 values, far below SQLite's limit of 32,766
UTC_ISO_LENGTH = len("2026-11-23T21:51:35.485490+00:00")
SQLITE_DAY = len("2026-11-23")  # a stored time's day: its first characters

# Python's sqlite3 binds a parameter of a type other than int, float, str and bytearray by looking
# for an adapter first; for None, which has none, that lookup ends in two failed attribute lookups,
# each raising and clearing an AttributeError: ~300 ns a value, on a record's three or four nulls.
# With an adapter registered for None (`{}.get`, which gives None back, bound as NULL) it is one
# dictionary lookup. The registry is the module's, for every connection of the process; none binds
# None differently for it.
sqlite3.register_adapter(type(None), {}.get)


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
    return units_of(Decimal(amount))


def _pg_money(amount: str) -> Decimal:
    return Decimal(amount).quantize(MONEY_QUANTUM)


def _sqlite_time(moment: str) -> str:
    """What SQLAlchemy's SQLite DATETIME stores and reads back: naive UTC, microseconds always.
    A UTC time as orjson writes it needs only cutting: `2026-11-23T21:51:35.485490+00:00`."""
    if len(moment) == UTC_ISO_LENGTH and moment.endswith("+00:00"):
        return moment[:10] + " " + moment[11:26]
    return _sqlite_fields(datetime.fromisoformat(moment).astimezone(timezone.utc))


def _pg_time(moment: str) -> datetime:
    return datetime.fromisoformat(moment).astimezone(timezone.utc)


def _sqlite_time_of(moment: datetime) -> str:
    """`_sqlite_time` of a datetime rather than its text. orjson writes a UTC time as
    `"2026-11-23T21:51:35.485490+00:00"` in C, and cutting that is half the cost of formatting the
    fields with `%` (`isoformat` costs more than either: it looks up the offset of an aware time).
    A time on a whole second, which orjson writes without its microseconds, goes the long way."""
    if moment.tzinfo is not timezone.utc:
        moment = moment.astimezone(timezone.utc)
    text = orjson.dumps(moment).decode()
    if len(text) == UTC_ISO_LENGTH + 2:  # and the quotes
        return text[1:11] + " " + text[12:27]
    return _sqlite_fields(moment)


def _sqlite_fields(moment: datetime) -> str:
    """A UTC time in SQLite's stored form from its fields (a year before 1000 too, which `strftime`
    writes without its leading zero)."""
    return "%04d-%02d-%02d %02d:%02d:%02d.%06d" % (
        moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second, moment.microsecond)


def _pg_money_of(amount: Decimal) -> Decimal:
    return amount.quantize(MONEY_QUANTUM)


def _pg_time_of(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc)


class _Dialect:
    """How one database takes the values: SQL text made once, and the converters of stored forms."""

    def __init__(self, name: str, money: Callable[[str], Any], moment: Callable[[str], Any],
                 money_of: Callable[[Decimal], Any], moment_of: Callable[[datetime], Any],
                 day: Callable[[Any], Any]) -> None:
        self.name = name
        self.money_of, self.moment_of = money_of, moment_of
        self.flag: Callable[[Any], Any] = int if name == "sqlite" else bool  # asyncpg takes only a bool
        self.insert = _insert_sql(name)
        self.insert_chunk = _insert_sql(name, SQLITE_CHUNK) if name == "sqlite" else None
        self.rollup = _rollup_sql(name)
        self.money, self.moment, self.day = money, moment, day
        # `record_row` in C (~5k instructions a record against ~18k), the same values (tests)
        self.row_of: Callable[[UsageRecord], tuple[Any, ...]] = self.record_row if native is None else partial(
            native.record_row, money_of, moment_of, name == "sqlite", orjson.dumps)
        self.existing = "SELECT request_id FROM usage_records WHERE request_id IN ({})"  # SQLite's check

    def row(self, e: Entry) -> tuple[Any, ...]:
        """An entry's values as the columns store them (on SQLite the flags as 0/1, which its driver
        binds directly, where a bool goes through its adapter lookup first)."""
        flag = self.flag
        return (*e[:COST], self.money(e[COST]), *e[COST + 1 : STREAM], flag(e[STREAM]), flag(e[ESTIMATED]),
                orjson.dumps(e[ATTEMPTS]).decode(), self.moment(e[CREATED]), e[CLIENT_ID])

    def record_row(self, r: UsageRecord) -> tuple[Any, ...]:
        """The same row made straight from a record: equal to `row(entry_of(r.to_json()))`."""
        flag = self.flag
        return (r.request_id, r.key, r.model, r.provider, r.upstream_model, r.prompt_tokens, r.completion_tokens,
                r.reasoning_tokens, r.cached_tokens, self.money_of(r.cost), r.latency_ms, r.ttft_ms, r.status,
                r.error_code, flag(r.stream), flag(r.estimated), orjson.dumps(r.attempts).decode(),
                self.moment_of(r.created_at), r.client_request_id)

    async def insert_rows(self, connection: AsyncConnection, rows: list[tuple[Any, ...]]) -> None:
        """Through SQLAlchemy (an in-memory SQLite database, which the sink's own connection would not see)."""
        await connection.exec_driver_sql(self.insert, rows)

    async def stored_ids(self, connection: AsyncConnection, ids: list[str]) -> set[str]:
        result = await connection.exec_driver_sql(self.existing.format(", ".join("?" * len(ids))), tuple(ids))
        return {row[0] for row in result}


_DIALECTS = {
    "sqlite": _Dialect("sqlite", _sqlite_money, _sqlite_time, units_of, _sqlite_time_of,
                       lambda moment: moment[:SQLITE_DAY]),
    "postgresql": _Dialect("postgresql", _pg_money, _pg_time, _pg_money_of, _pg_time_of, datetime.date),
}


def unique_by_request(rows: Sequence[tuple[Any, ...]] | Sequence[Entry]) -> list[Any]:
    """The first row (or entry) of each request id (a journal can hold one twice only by a caller's bug)."""
    seen: dict[str, Any] = {}
    for row in rows:
        seen.setdefault(row[REQUEST_ID], row)
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


# SQLite rows' rollup, in C where the C module is built: the same rows (tests), ~0.12 against ~0.44 µs a
# row on the project's machine. Its shape: the day's length and the positions it reads in a row.
SQLITE_ROLLUP_SHAPE = (SQLITE_DAY, CREATED, KEY, MODEL, COUNTS.start, COUNTS.stop - COUNTS.start, COST)
sqlite_rollup_rows: Callable[[list[tuple[Any, ...]]], list[tuple[Any, ...]]] = (
    partial(rollup_rows, _DIALECTS["sqlite"]) if native is None else partial(native.rollup_rows, SQLITE_ROLLUP_SHAPE))


async def write_batch(engine: AsyncEngine, entries: Sequence[Entry]) -> int:
    """Store the journal entries not stored yet and count them in the rollup; returns how many were new."""
    dialect = _DIALECTS[engine.dialect.name]
    return await _write_rows(engine, [dialect.row(e) for e in unique_by_request(entries)])


async def write_records(engine: AsyncEngine, records: Sequence[UsageRecord]) -> int:
    """`write_batch` of records still in memory, the ones this process just journaled: their request
    ids are this process's own (a prefix drawn at start and a counter), so no earlier write can hold
    them and SQLite is not asked first, nor are they checked for repeats (a repeat would fail
    SQLite's insert, and the writer would then read the batch from the journal file, where both are
    checked; PostgreSQL's insert skips stored ids itself, repeats included)."""
    row = _DIALECTS[engine.dialect.name].row_of
    return await _write_rows(engine, [row(r) for r in records], fresh=True)


def stores_lines(engine: AsyncEngine) -> bool:
    """Whether `write_lines` takes this engine's batches: the C module, and SQLite in a file with a
    sqlite3 module whose SQLite library it can use, or PostgreSQL."""
    if native is None:
        return False
    if engine.dialect.name == "postgresql":
        return True
    return getattr(_sqlite3, "__file__", None) is not None and SqliteSink.of(engine) is not None


async def write_lines(engine: AsyncEngine, lines: bytes) -> int | None:
    """`write_records` of the records this process journaled, from their lines as the journal holds
    them (whole lines; `stores_lines` engines only), so that no record is kept in memory for the
    writer and no row made: on SQLite the C writer binds their values from the bytes, without the
    GIL from the first line to the commit; on PostgreSQL the C module makes them COPY's text rows,
    which the server parses. None where the lines are left to the Python (a line not plainly of the C
    module's making, or no C writer to be had): the caller parses them."""
    if engine.dialect.name == "postgresql":
        text = native.copy_text(lines)
        return None if text is None else await _copy_pg(engine, text)
    return await asyncio.to_thread(SqliteSink.of(engine).write_lines, lines)  # type: ignore[union-attr]


async def _write_rows(engine: AsyncEngine, rows: list[tuple[Any, ...]], fresh: bool = False) -> int:
    if not rows:
        return 0
    sink = SqliteSink.of(engine)
    if sink is not None:
        return await asyncio.to_thread(sink.write, rows, fresh)
    dialect = _DIALECTS[engine.dialect.name]
    if dialect.name == "postgresql":
        return await _write_pg(engine, rows)
    async with engine.begin() as connection:
        stored = await dialect.stored_ids(connection, [row[REQUEST_ID] for row in rows])
        new = [row for row in rows if row[REQUEST_ID] not in stored]
        if not new:
            return 0
        await dialect.insert_rows(connection, new)
        await connection.exec_driver_sql(dialect.rollup, rollup_rows(dialect, new))
    return len(new)


# PostgreSQL: the batch is copied (COPY, binary) into a table of this connection's own, empty at each
# commit, and one statement moves the rows not stored yet into usage_records and adds exactly those
# to the rollup, in key order so that concurrent writers lock its rows in one order. The server does
# what the gateway did row by row (the check for stored ids, the inserts, the rollup's sums): the
# gateway encodes each row once, in asyncpg's C code. Counts the rows inserted.
STAGE = "relaygate_usage_stage"
_PG_STAGE = (f"CREATE TEMPORARY TABLE IF NOT EXISTS {STAGE} ON COMMIT DELETE ROWS AS "
             f"SELECT {', '.join(RECORD_COLUMNS)} FROM usage_records WITH NO DATA")
_PG_DAY = "(created_at AT TIME ZONE 'UTC')::date"
_PG_MOVE = (
    f"WITH new AS (INSERT INTO usage_records ({', '.join(RECORD_COLUMNS)}) "
    f"SELECT {', '.join(RECORD_COLUMNS)} FROM {STAGE} ON CONFLICT (request_id) DO NOTHING "
    f"RETURNING {_PG_DAY} AS day, key_name, model, {', '.join(ROLLUP_COUNTS[1:])}), "
    f"added AS (INSERT INTO usage_daily ({', '.join((*ROLLUP_KEY, *ROLLUP_COUNTS))}) "
    f"SELECT day, key_name, model, count(*), {', '.join(f'sum({c})' for c in ROLLUP_COUNTS[1:])} FROM new "
    f"GROUP BY day, key_name, model ORDER BY day, key_name, model "
    f"ON CONFLICT ({', '.join(ROLLUP_KEY)}) DO UPDATE SET "
    f"{', '.join(f'{c} = usage_daily.{c} + excluded.{c}' for c in ROLLUP_COUNTS)}) "
    f"SELECT count(*) FROM new"
)


async def _write_pg(engine: AsyncEngine, rows: list[tuple[Any, ...]]) -> int:
    return await _staged_pg(engine, lambda driver: driver.copy_records_to_table(
        STAGE, records=rows, columns=RECORD_COLUMNS))


async def _copy_pg(engine: AsyncEngine, text: bytes) -> int:
    """`_write_pg` of rows already in COPY's text format (`copy_text`)."""
    return await _staged_pg(engine, lambda driver: driver.copy_to_table(
        STAGE, source=io.BytesIO(text), columns=RECORD_COLUMNS, format="text"))


async def _staged_pg(engine: AsyncEngine, copy: Callable[[Any], Awaitable[Any]]) -> int:
    """The batch copied in by `copy(asyncpg's connection)`, then moved (`_PG_MOVE`): rows inserted."""
    async with engine.begin() as connection:
        await connection.exec_driver_sql(_PG_STAGE)  # also begins the transaction the copy joins
        await copy((await connection.get_raw_connection()).driver_connection)
        return (await connection.exec_driver_sql(_PG_MOVE)).scalar_one()


class SqliteSink:
    """The usage writer's own connection to a SQLite database file: one per engine, made at its first
    batch and closed when the engine is disposed. `write` is called in a worker thread, one batch at
    a time (the lock), and runs the batch as one `BEGIN IMMEDIATE` transaction. Commits do not wait
    for the disk (`synchronous = NORMAL`, which in WAL mode still never corrupts the database): the
    journal is what holds a record until it is in the database, and it is read again from the saved
    position after a crash."""

    _sinks: weakref.WeakKeyDictionary[Any, SqliteSink | None] = weakref.WeakKeyDictionary()

    def __init__(self, path: str) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.connection: sqlite3.Connection | None = None
        self.fast: Any = None  # the C module's SqliteWriter, made at the first fresh batch; False: none
        self.dialect = _DIALECTS["sqlite"]
        self.setup: str | None = None  # SQLITE_SETUP for this database's page size, read at the first batch
        self.exists_chunk = self.dialect.existing.format(", ".join("?" * SQLITE_CHUNK))

    @classmethod
    def of(cls, engine: AsyncEngine) -> SqliteSink | None:
        """The engine's sink; None for PostgreSQL and for an in-memory SQLite database (which a second
        connection would not see)."""
        sync_engine = engine.sync_engine
        if sync_engine in cls._sinks:
            return cls._sinks[sync_engine]
        path = engine.url.database
        sink = cls(path) if engine.dialect.name == "sqlite" and path and path != ":memory:" else None
        cls._sinks[sync_engine] = sink
        if sink is not None:
            event.listen(sync_engine, "engine_disposed", lambda _engine: sink.close())
        return sink

    def _connect(self) -> sqlite3.Connection:
        if self.connection is None:
            connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            connection.executescript(self._setup())
            self.connection = connection
        return self.connection

    def _setup(self) -> str:
        """SQLITE_SETUP with the log's limit in this database's pages (the file exists: migrated at start)."""
        if self.setup is None:
            with closing(sqlite3.connect(f"file:{quote(self.path)}?mode=ro", uri=True)) as connection:
                (page_size,) = connection.execute("PRAGMA page_size").fetchone()
            self.setup = SQLITE_SETUP.format(wal_pages=WAL_BYTES // page_size)
        return self.setup

    def _fast(self) -> Any:
        """The C module's writer on its own connection (see `SqliteWriter` in _speedups.c), or False
        where it cannot be had: no C module, or a sqlite3 module with SQLite built in."""
        if self.fast is None:
            module_file = getattr(_sqlite3, "__file__", None)
            if native is None or not module_file:
                self.fast = False
            else:
                try:
                    self.fast = native.SqliteWriter(module_file, self.path, self._setup(), self.dialect.insert_chunk,
                                                    SQLITE_CHUNK, self.dialect.insert, self.dialect.rollup)
                except ImportError:
                    self.fast = False  # Python's sqlite3 does the writing
                # a database that cannot be opened now raises, and is tried again at the next batch
        return self.fast

    def write(self, rows: list[tuple[Any, ...]], fresh: bool = False) -> int:
        """Store the rows not stored yet (`fresh`: none can be) and count them in the rollup. Fresh
        rows go through the C module's writer where there is one: a transaction as below, its values
        bound straight from the rows (~10k instructions a record less)."""
        with self.lock:
            if fresh and self._fast():
                self.fast.write(rows, sqlite_rollup_rows(rows))
                return len(rows)
            connection = self._connect()
            connection.execute("BEGIN IMMEDIATE")
            try:
                new = rows if fresh else self._new(connection, rows)
                if new:
                    self._insert(connection, new)
                    connection.executemany(self.dialect.rollup, sqlite_rollup_rows(new))
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            return len(new)

    def write_lines(self, lines: bytes) -> int | None:
        with self.lock:
            return self.fast.write_lines(lines) if self._fast() else None

    def _new(self, connection: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """The rows whose request ids are not stored yet, asked about a chunk at a time."""
        stored: set[str] = set()
        for start in range(0, len(rows), SQLITE_CHUNK):
            ids = [row[REQUEST_ID] for row in rows[start : start + SQLITE_CHUNK]]
            sql = self.exists_chunk if len(ids) == SQLITE_CHUNK else self.dialect.existing.format(
                ", ".join("?" * len(ids)))
            stored.update(found for (found,) in connection.execute(sql, ids))
        return [row for row in rows if row[REQUEST_ID] not in stored] if stored else rows

    def _insert(self, connection: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
        """Whole chunks as one multi-row INSERT each (one statement step for 64 rows), the rest by executemany."""
        done = 0
        while len(rows) - done >= SQLITE_CHUNK:
            connection.execute(self.dialect.insert_chunk, tuple(chain.from_iterable(rows[done : done + SQLITE_CHUNK])))
            done += SQLITE_CHUNK
        if done < len(rows):
            connection.executemany(self.dialect.insert, rows[done:])

    def close(self) -> None:
        with self.lock:
            if self.fast:
                self.fast.close()
            self.fast = None
            if self.connection is not None:
                self.connection.close()
                self.connection = None

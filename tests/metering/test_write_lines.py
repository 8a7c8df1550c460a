"""`write_lines` (metering/sink.py: the records this process journaled, stored from their lines in
the journal's map) against the Python path it stands in for, the journal file's reader (`entries_of`,
`_Dialect.row`, `rollup_rows`): for arbitrary records the same rows and the same rollup, on SQLite
(the C writer's binding, against Python's sqlite3) and on PostgreSQL (`copy_text`'s COPY rows,
against asyncpg's binary copy); the lines left to the Python are exactly those not plainly of the C
module's making, and nothing of their batch is written; a failing batch is rolled back whole."""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import asdict, replace
import sqlite3
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from relaygate.metering.journal import _line, entries_of, line_of
from relaygate.metering.sink import (
    _DIALECTS, SQLITE_CHUNK, SqliteSink, stores_lines, unique_by_request, write_batch, write_lines,
)
from relaygate.metering.usage import RECORD_COLUMNS, Attempt, UsageRecord
from relaygate.speedups import native
from relaygate.store.db import create_engine
from relaygate.store.migrate import migrate

from .records import mixed, record, record_strategy

pytestmark = pytest.mark.skipif(native is None, reason="write_lines is the C module's (RELAYGATE_PURE=1: not used)")

ROWS = _DIALECTS["sqlite"]
COUNT = st.one_of(st.integers(0, 5000), st.integers(0, 2**31 - 1))
COSTS = st.one_of(st.just(Decimal(0)), st.integers(0, 10**14).map(lambda units: Decimal(units).scaleb(-10)),
                  st.decimals(0, 10**6, allow_nan=False, allow_infinity=False, places=14))
PLAIN_TEXT = st.text(st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters='"\\'), max_size=10)
TEXT = st.one_of(PLAIN_TEXT, PLAIN_TEXT, st.text(max_size=10), st.text(alphabet="abc-_. é\"\\\n\x01", max_size=8))
RECORDS = record_strategy(TEXT, COUNT, COSTS, st.booleans())
PLAIN_RECORDS = record_strategy(PLAIN_TEXT, COUNT, COSTS, st.booleans())  # each taken unless its time or cost is not


@pytest.fixture(scope="module")
def empty_database(tmp_path_factory) -> Path:
    """A migrated database, copied for each case (migrating takes longer than the case)."""
    path = tmp_path_factory.mktemp("lines") / "empty.db"
    asyncio.run(migrate(f"sqlite:///{path}"))
    return path


def _copy(empty: Path, folder: Path, name: str) -> SqliteSink:
    shutil.copy(empty, folder / name)
    return SqliteSink(str(folder / name))


def _tables(sink: SqliteSink) -> tuple[list, list]:
    with sqlite3.connect(sink.path) as connection:
        return (connection.execute("SELECT * FROM usage_records ORDER BY id").fetchall(),
                connection.execute("SELECT * FROM usage_daily ORDER BY day, key_name, model").fetchall())


def _python(sink: SqliteSink, lines: bytes, folder: Path) -> int:
    """What the writer does with lines read from the journal file."""
    sink.fast = False
    return sink.write([ROWS.row(e) for e in unique_by_request(entries_of(lines, folder))])


def _plain(record: UsageRecord) -> bool:
    """A record whose line the C writer takes: texts without escapes, a UTC time, a cost exact at the
    money scale (written with an exponent or without)."""
    texts = [record.request_id, record.key, record.model, record.provider, record.upstream_model,
             record.error_code, record.client_request_id]
    escaped = any(t is not None and any(c in t for c in '"\\' + "".join(map(chr, range(32)))) for t in texts)
    return (not escaped and record.created_at.utcoffset() == timedelta(0) and record.created_at.tzinfo is timezone.utc
            and record.cost.as_tuple().sign == 0 and (record.cost * 10**10) % 1 == 0)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.lists(RECORDS, max_size=6, unique_by=lambda r: r.request_id),
                 st.lists(PLAIN_RECORDS, max_size=3, unique_by=lambda r: r.request_id)))
def test_the_lines_are_stored_as_the_journal_files_reader_stores_them(empty_database, tmp_path_factory,
                                                                     records) -> None:
    folder = tmp_path_factory.mktemp("case")
    lines = b"".join(line_of(r) or _line(r) for r in records)
    fast, plain = _copy(empty_database, folder, "fast.db"), _copy(empty_database, folder, "plain.db")
    expected = _python(plain, lines, folder)
    stored = fast.write_lines(lines)
    assert (stored is not None) == all(_plain(r) for r in records)
    if stored is None:
        assert _tables(fast) == ([], [])  # nothing of the batch written: the Python takes it whole
        stored = _python(fast, lines, folder)
    assert stored == expected == len(records)
    assert _tables(fast) == _tables(plain)
    fast.close()
    plain.close()


@pytest.mark.parametrize("size", [0, 1, SQLITE_CHUNK - 1, SQLITE_CHUNK, SQLITE_CHUNK + 1, 3 * SQLITE_CHUNK + 5])
def test_batches_around_the_chunk_of_rows(empty_database, tmp_path, size) -> None:
    records = mixed(size, seed=size)
    lines = b"".join(line_of(r) for r in records)
    fast, plain = _copy(empty_database, tmp_path, "fast.db"), _copy(empty_database, tmp_path, "plain.db")
    assert fast.write_lines(lines) == size == _python(plain, lines, tmp_path)
    assert _tables(fast) == _tables(plain)
    assert len(_tables(fast)[0]) == size


def test_a_repeated_request_id_rolls_the_batch_back(empty_database, tmp_path) -> None:
    """A request id already stored (a record journaled twice by a caller's bug): SQLite's unique index
    refuses it, the whole batch is rolled back, and the writer then reads the file, where repeats are
    checked. The next batch is stored."""
    sink = _copy(empty_database, tmp_path, "fast.db")
    assert sink.write_lines(line_of(record(1))) == 1
    many = [record(n) for n in range(10, 10 + SQLITE_CHUNK)]
    for batch in ([record(2), record(3), record(1)], [*many, record(10)]):
        with pytest.raises(sqlite3.IntegrityError):
            sink.write_lines(b"".join(line_of(r) for r in batch))
    assert sink.write_lines(line_of(record(4)) + line_of(record(5))) == 2
    rows, daily = _tables(sink)
    assert [row[1] for row in rows] == [record(n).request_id for n in (1, 4, 5)]
    assert sum(row[3] for row in daily) == 3


GOOD = line_of(record(1))


@pytest.mark.parametrize("line", [
    GOOD.replace(b'"team-a"', b'"team\\"a"'),  # an escape in a text column
    GOOD.replace(b'"0.0012345678"', b'"1.5E-11"'),  # a cost finer than the money scale, with an exponent
    GOOD.replace(b'"0.0012345678"', b'"0.00123456789"'),  # finer than the money scale
    GOOD.replace(b'"0.0012345678"', b'"-0.5"'),  # a negative cost
    GOOD.replace(b'"0.0012345678"', b'0.0012345678'),  # a cost not written as text
    GOOD.replace(b'"0.0012345678"', b'"1E-7x"'),  # not a number
    GOOD.replace(b"+00:00", b"+02:00"),  # another zone
    GOOD.replace(b"10:30:01+00:00", b"10:30:01.5+00:00"),  # another form of the time
    GOOD.replace(b",100,", b",100.0,", 1),  # a count with a fraction
    GOOD.replace(b",100,", b",18446744073709551616,", 1),  # a count beyond 64 bits
    GOOD.replace(b",100,", b",0100,", 1),  # not JSON's integer
    GOOD.replace(b",100,", b", 100,", 1),  # a space
    GOOD.replace(b'"team-a"', b"null"),  # a key that is not text: the rollup's group
    GOOD.replace(b'"gpt-4o",', b"", 1),  # a column short
    GOOD[:-2] + b',"extra"]\n',  # a column more
    GOOD[:-1],  # no newline at its end
    b'{"request_id":"req-1"}\n',  # an object, as lines written before the arrays
])
def test_a_line_not_plainly_its_own_is_left_to_the_python_with_nothing_written(empty_database, tmp_path,
                                                                               line) -> None:
    sink = _copy(empty_database, tmp_path, "fast.db")
    assert b"10:30:01+00:00" in GOOD and GOOD.count(b",100,") >= 1
    assert sink.write_lines(line_of(record(2)) + line) is None
    assert _tables(sink) == ([], [])
    assert sink.write_lines(line_of(record(3))) == 1


def test_the_writer_takes_lines_on_sqlite_files_and_postgresql(tmp_path) -> None:
    """SQLite in a file, and PostgreSQL, with the C module: lines; an in-memory SQLite database (which
    the writer's own connection would not see): the records kept in memory."""
    assert stores_lines(create_engine(f"sqlite:///{tmp_path / 'relaygate.db'}"))
    assert stores_lines(create_engine("postgresql://postgres@127.0.0.1:1/none"))
    assert not stores_lines(create_engine("sqlite:///:memory:"))


@pytest.mark.parametrize("cost", ["0.0000405", "5.75E-8", "0E-10", "0", "12.5", "125000.00000000000000"])
def test_a_record_of_the_gateway_goes_the_quick_way(empty_database, tmp_path, cost) -> None:
    """A record as the request path makes one, its time now and its cost as priced (`usd()`: below a
    millionth of a dollar Decimal writes it with an exponent)."""
    moment = datetime.now(timezone.utc)
    record = UsageRecord(
        request_id="req_00ab", key="bench", model="gpt-4o", created_at=moment, provider="openai",
        upstream_model="gpt-4o-2024", prompt_tokens=23, completion_tokens=20, cost=Decimal(cost),
        latency_ms=2, ttft_ms=None, stream=True, attempts=(Attempt("openai", "gpt-4o", 200, 2, None, 23, 20),),
        client_request_id="client-7",
    )
    sink = _copy(empty_database, tmp_path, "fast.db")
    assert cost.encode() in line_of(record)
    assert sink.write_lines(line_of(record)) == 1
    (row,), (daily,) = _tables(sink)
    assert row[1:] == ROWS.record_row(record)
    assert daily == (moment.strftime("%Y-%m-%d"), "bench", "gpt-4o", 1, 23, 20, 0, 0, int(Decimal(cost) * 10**10))


@pytest.fixture(scope="module")
def two_postgres_databases(postgres) -> tuple[str, str]:
    """Two migrated databases on the session's cluster, emptied for each case."""
    async def made() -> tuple[str, str]:
        urls = (await postgres.create_database(), await postgres.create_database())
        for url in urls:
            await migrate(url)
        return urls

    return asyncio.run(made())


async def _postgres_rows(engine) -> tuple[list, list]:
    async with engine.connect() as connection:
        records = await connection.exec_driver_sql(
            f"SELECT {', '.join(RECORD_COLUMNS)} FROM usage_records ORDER BY request_id")
        daily = await connection.exec_driver_sql("SELECT * FROM usage_daily ORDER BY day, key_name, model")
        return [tuple(row) for row in records], [tuple(row) for row in daily]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.lists(RECORDS, max_size=6, unique_by=lambda r: r.request_id),
                 st.lists(PLAIN_RECORDS, max_size=3, unique_by=lambda r: r.request_id)))
def test_on_postgresql_the_lines_copied_as_text_store_what_the_files_reader_stores(two_postgres_databases,
                                                                                   records) -> None:
    """`copy_text`'s COPY rows against the journal file reader's path (entries made rows and copied in
    asyncpg's binary format): the same rows and rollup; the lines it leaves to the Python are those
    `write_lines` leaves on SQLite. PostgreSQL's text holds no NUL character: records with one fail
    either way (left out here)."""
    lines = b"".join(line_of(r) or _line(r) for r in records)
    assume(b"\\u0000" not in lines)

    async def run() -> tuple:
        engines = [create_engine(url) for url in two_postgres_databases]
        try:
            for engine in engines:
                async with engine.begin() as connection:
                    await connection.exec_driver_sql("TRUNCATE usage_records, usage_daily")
            fast, plain = engines
            stored = await write_lines(fast, lines)
            taken = stored is not None
            if stored is None:
                assert await _postgres_rows(fast) == ([], [])
                stored = await write_batch(fast, entries_of(lines, Path("journal")))
            expected = await write_batch(plain, entries_of(lines, Path("journal")))
            return taken, stored, expected, await _postgres_rows(fast), await _postgres_rows(plain)
        finally:
            for engine in engines:
                await engine.dispose()

    taken, stored, expected, fast_rows, plain_rows = asyncio.run(run())
    assert taken == all(_plain(r) for r in records)
    assert stored == expected == len(records)
    assert fast_rows == plain_rows


AWKWARD_ATTEMPTS = (Attempt("openai", "gpt-4o", 500, 3, 'said "no" \\ then\nbroke\x01 é'),
                    Attempt("openai", "gpt-4o", 200, 2, None, 23, 20))


def test_on_postgresql_escapes_in_the_attempts_reach_the_json_as_they_were(two_postgres_databases) -> None:
    """The attempts are the one column whose JSON text goes as it is, escapes and all: COPY's text
    format takes a backslash as its own escape, so each is doubled."""
    records = [replace(record(1), attempts=AWKWARD_ATTEMPTS), record(2)]
    lines = b"".join(line_of(r) for r in records)

    async def run() -> tuple:
        engine = create_engine(two_postgres_databases[0])
        try:
            async with engine.begin() as connection:
                await connection.exec_driver_sql("TRUNCATE usage_records, usage_daily")
            stored = await write_lines(engine, lines)
            async with engine.connect() as connection:
                attempts = (await connection.exec_driver_sql(
                    "SELECT attempts FROM usage_records ORDER BY request_id")).scalars().all()
            return stored, attempts
        finally:
            await engine.dispose()

    stored, attempts = asyncio.run(run())
    assert stored == 2
    assert [orjson.loads(a) if isinstance(a, str) else a for a in attempts] == [
        [asdict(a) for a in r.attempts] for r in records]

import asyncio
import sqlite3
from collections import Counter
from dataclasses import asdict, replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import orjson
import pytest
from sqlalchemy import func, select

from _databases import run_with_engine
from relaygate.metering.journal import Journal, JournalCursor, line_of
from relaygate.metering import writer as writer_module
from relaygate.metering.sink import _DIALECTS, write_batch, write_records
from relaygate.metering.usage import UsageRecord, entry_of
from relaygate.metering.writer import BatchWriter
from relaygate.speedups import native
from relaygate.store import db as store_db
from relaygate.store.schema import usage_daily, usage_records

from .records import entries, mixed, record


async def _stored(engine):
    async with engine.connect() as c:
        ids = Counter((await c.execute(select(usage_records.c.request_id))).scalars())
        rollup = (await c.execute(select(func.sum(usage_daily.c.requests), func.sum(usage_daily.c.cost)))).one()
    return ids, rollup


def test_a_batch_is_written_once_with_its_rollup(database_url):
    records = mixed(50)

    async def body(engine):
        first = await write_batch(engine, entries(records))
        again = await write_batch(engine, entries(records[:10] + [record(999)]))
        return first, again, await _stored(engine)

    first, again, (ids, (requests, cost)) = run_with_engine(database_url, body)
    assert (first, again) == (50, 1)
    assert max(ids.values()) == 1 and len(ids) == 51
    assert requests == 51 and cost == sum((r.cost for r in records), Decimal(0)) + record(999).cost


def test_replay_after_a_crash_writes_each_record_exactly_once(database_url, tmp_path):
    base = tmp_path / "usage.jsonl"
    records = mixed(120)

    async def body(engine):
        journal = Journal.open(base)
        for r in records:
            journal.append(r)
        journal.close()  # the process died before its writer ran
        reopened = Journal.open(base)
        writer = BatchWriter(engine, reopened, batch_size=50)
        first = await writer.drain()
        JournalCursor(reopened.path).advance(0)  # as if it died after the commit, before saving its position
        second = await BatchWriter(engine, reopened, batch_size=50).drain()
        third = await BatchWriter(engine, reopened).drain()
        return first, second, third, await _stored(engine)

    first, second, third, (ids, (requests, cost)) = run_with_engine(database_url, body)
    assert (first, second, third) == (120, 0, 0)
    assert set(ids) == {r.request_id for r in records} and max(ids.values()) == 1
    assert requests == 120 and cost == sum((r.cost for r in records), Decimal(0))


def test_journals_of_dead_processes_are_replayed(database_url, tmp_path):
    base = tmp_path / "usage.jsonl"

    async def body(engine):
        own = Journal.open(base)
        other = Journal.open(base)  # a second worker process
        for n in range(7):
            other.append(record(n))
        other.close()  # ... which died
        writer = BatchWriter(engine, own)
        replayed = await writer.replay_orphans()
        return replayed, other.path.stat().st_size, await writer.replay_orphans()

    replayed, size_after, replayed_again = run_with_engine(database_url, body)
    assert (replayed, size_after, replayed_again) == (7, 0, 0)


def test_a_drained_journal_is_compacted(database_url, tmp_path):
    async def body(engine):
        journal = Journal.open(tmp_path / "usage.jsonl")
        writer = BatchWriter(engine, journal, compact_bytes=1000)
        for n in range(10):
            journal.append(record(n))
        await writer.drain()
        size, offset = journal.size(), writer.cursor.offset
        journal.append(record(10))
        await writer.drain()
        return size, offset, writer.written, (await _stored(engine))[0]

    size, offset, written, ids = run_with_engine(database_url, body)
    assert (size, offset, written, len(ids)) == (0, 0, 11, 11)


class SqliteOutage:
    """Another process holding SQLite's write lock: every write waits, then fails."""

    def __init__(self, url):
        self.path = url.removeprefix("sqlite:///")

    def begin(self):
        self.connection = sqlite3.connect(self.path, isolation_level=None)
        self.connection.execute("BEGIN EXCLUSIVE")

    def end(self):
        self.connection.execute("ROLLBACK")
        self.connection.close()


class PostgresOutage:
    def __init__(self, cluster):
        self.cluster = cluster

    def begin(self):
        self.cluster.stop()

    def end(self):
        self.cluster.start()


@pytest.fixture
def outage(request, database_url, monkeypatch):
    if database_url.startswith("sqlite"):
        monkeypatch.setattr(store_db, "SQLITE_BUSY_MS", 50)
        return SqliteOutage(database_url)
    return PostgresOutage(request.getfixturevalue("postgres"))


async def _until(condition, timeout=15.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


def test_records_wait_while_the_database_is_down(database_url, outage, tmp_path):
    async def body(engine):
        journal = Journal.open(tmp_path / "usage.jsonl")
        writer = BatchWriter(engine, journal, interval=0.02, retry_initial=0.05, retry_max=0.2)
        writer.start()
        journal.append(record(0))
        await _until(lambda: writer.written == 1)
        outage.begin()
        try:
            for n in range(1, 21):
                journal.append(record(n))
            await asyncio.sleep(0.6)
            waiting = writer.written
        finally:
            outage.end()
        await _until(lambda: writer.written == 21)
        await writer.stop()
        return waiting, await _stored(engine)

    waiting, (ids, (requests, _)) = run_with_engine(database_url, body)
    assert waiting == 1
    assert len(ids) == requests == 21


def _awkward_records():
    """Costs written with an exponent or at the full scale, times on a whole second, with
    microseconds, or not in UTC, flags both ways, a client id on two requests."""
    records = mixed(140) + [record(5000, cost="1E-7"), record(5001, cost="0"), record(5002, cost="123.0000000001")]
    records += [replace(record(5003), created_at=datetime(2026, 3, 2, 1, 15, tzinfo=timezone(timedelta(hours=9)))),
                replace(record(5004), created_at=datetime(2026, 3, 1, 23, 59, 59, 999999, tzinfo=timezone.utc)),
                replace(record(5005, cost="0.25"), created_at=datetime(2026, 3, 1, 8, 0, 1, 5, tzinfo=timezone.utc),
                        estimated=True, error_code="client_disconnected", status=499, ttft_ms=None)]
    records += [replace(record(n), client_request_id="retry-1") for n in (6010, 6011)]  # one client id, two requests
    return records


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_a_record_in_memory_makes_the_row_its_journal_line_makes(dialect):
    rows = _DIALECTS[dialect]
    for r in _awkward_records():
        assert rows.row_of(r) == rows.record_row(r) == rows.row(entry_of(r.to_json())), r.request_id


@pytest.mark.parametrize("from_memory", [False, True], ids=["journal-lines", "records-in-memory"])
def test_records_read_back_through_the_schema_as_they_were_written(database_url, from_memory):
    """The writer hands the driver the columns' stored forms; SQLAlchemy's types read them back."""
    records = _awkward_records()
    previous_form = entry_of(orjson.dumps(record(6012).entry()[:-1]))  # a journal line without the client id

    async def body(engine):
        if from_memory:
            assert await write_records(engine, [*records, UsageRecord.from_json(orjson.dumps(previous_form))]) \
                == len(records) + 1
        else:
            assert await write_batch(engine, [*entries(records), previous_form]) == len(records) + 1
        async with engine.connect() as c:
            return {row.request_id: row for row in (await c.execute(select(usage_records))).all()}

    stored = run_with_engine(database_url, body)
    assert stored[record(6012).request_id].client_request_id is None
    for r in records:
        row = stored[r.request_id]
        assert row.client_request_id == r.client_request_id
        assert (row.key_name, row.model, row.provider, row.upstream_model) == (r.key, r.model, r.provider,
                                                                                 r.upstream_model)
        assert (row.cost, row.created_at, row.stream, row.estimated, row.status) == (
            r.cost, r.created_at, r.stream, r.estimated, r.status)
        assert row.attempts == [asdict(a) for a in r.attempts]
        assert (row.prompt_tokens, row.completion_tokens, row.reasoning_tokens, row.cached_tokens) == (
            r.prompt_tokens, r.completion_tokens, r.reasoning_tokens, r.cached_tokens)


def test_the_writer_stores_its_own_records_from_memory_and_the_file_when_that_fails(database_url, tmp_path,
                                                                                   monkeypatch):
    """Records appended since the writer caught up go without the file being read (with the C module
    as their lines from the journal's map, no record kept; else the records kept in memory); a batch that fails leaves them in the journal, read back from the file by the next drain,
    each stored once; then from memory again."""
    async def body(engine):
        journal = Journal.open(tmp_path / "usage.jsonl")
        writer = BatchWriter(engine, journal)
        assert writer.lines == (native is not None)
        for n in range(5):
            journal.append(record(n))
        assert journal.tail is None if writer.lines else len(journal.tail) == 5
        assert await writer.drain() == 5
        assert (journal.tail, writer.cursor.offset) == (None if writer.lines else [], journal.end)

        name = "write_lines" if writer.lines else "write_records"
        real = getattr(writer_module, name)

        async def refused(engine, batch):
            if writer.lines:  # half of it in, then the connection is lost
                await real(engine, b"".join(batch.splitlines(keepends=True)[:2]))
            else:
                await real(engine, batch[:2])
            raise ConnectionError("database went away")

        monkeypatch.setattr(writer_module, name, refused)
        for n in range(5, 12):
            journal.append(record(n))
        with pytest.raises(ConnectionError):
            await writer.drain()
        assert writer.cursor.offset < journal.tail_start  # behind: the next drain reads the file
        monkeypatch.setattr(writer_module, name, real)
        journal.append(record(12))
        from_file = await writer.drain()  # records 5..12 from the file, 5 and 6 already stored
        following = journal.following, None if journal.tail is None else list(journal.tail)
        journal.append(record(13))
        from_memory = await writer.drain()
        return from_file, following, from_memory, writer.written, await _stored(engine), writer.lines

    from_file, following, from_memory, written, (ids, (requests, _)), lines = run_with_engine(database_url, body)
    assert (from_file, following, from_memory) == (6, (True, None if lines else []), 1)
    assert written == 12  # the two stored by the failed batch were counted by no drain
    assert len(ids) == requests == 14 and max(ids.values()) == 1


def test_a_record_journaled_twice_is_stored_once(database_url, tmp_path):
    """Records from memory are not checked for repeats (their ids are this process's own): on SQLite a
    record appended twice by mistake fails that batch on its unique id, and the next drain reads the
    journal file, where repeats are dropped; PostgreSQL's insert skips a stored id itself. Nothing is
    lost or counted twice."""
    async def body(engine):
        journal = Journal.open(tmp_path / "usage.jsonl")
        writer = BatchWriter(engine, journal)
        for n in (1, 2, 2, 3):
            journal.append(record(n))
        if engine.dialect.name == "postgresql":
            return await writer.drain(), await _stored(engine)
        with pytest.raises(Exception, match="(?i)unique|duplicate"):
            await writer.drain()
        return await writer.drain(), await _stored(engine)

    from_file, (ids, (requests, cost)) = run_with_engine(database_url, body)
    assert from_file == 3 and sorted(ids) == sorted(record(n).request_id for n in (1, 2, 3))
    assert max(ids.values()) == 1 and requests == 3 and cost == sum((record(n).cost for n in (1, 2, 3)), Decimal(0))


def test_an_upstreams_absurd_count_is_cut_to_what_the_column_holds_and_stored(database_url):
    """A usage count beyond the count columns' range (an upstream's bug) would fail the batch's insert
    on PostgreSQL again at every retry, holding every later record in the journal: it is cut to the
    largest count the column holds when the record is made."""
    from relaygate.metering.usage import MOST_TOKENS, tokens_of

    tokens = tokens_of({"prompt_tokens": 10**12, "completion_tokens": 2**31,
                        "completion_tokens_details": {"reasoning_tokens": MOST_TOKENS}})
    assert (tokens.prompt, tokens.completion, tokens.reasoning) == (MOST_TOKENS, MOST_TOKENS, MOST_TOKENS)
    big = replace(record(1), prompt_tokens=tokens.prompt, completion_tokens=tokens.completion)

    async def body(engine):
        written = await write_batch(engine, entries([big, record(2)]))
        async with engine.connect() as c:
            stored = (await c.execute(select(usage_records.c.prompt_tokens).order_by(usage_records.c.id))).scalars()
            return written, list(stored)

    assert run_with_engine(database_url, body) == (2, [MOST_TOKENS, record(2).prompt_tokens])


def test_lines_piled_up_past_the_limit_are_read_from_the_file_a_batch_at_a_time(database_url, tmp_path,
                                                                               monkeypatch):
    """A writer kept waiting (a slow database) does not take everything appended meanwhile as one
    batch of lines: past LINES_LIMIT bytes it reads the file, `batch_size` records at a time, then
    follows the appends again."""
    monkeypatch.setattr(writer_module, "LINES_LIMIT", 3 * len(line_of(record(0))))
    batches = []

    async def body(engine):
        journal = Journal.open(tmp_path / "usage.jsonl")
        writer = BatchWriter(engine, journal, batch_size=4)
        real = writer_module.write_batch

        async def counted(engine, entries):
            batches.append(len(entries))
            return await real(engine, entries)

        monkeypatch.setattr(writer_module, "write_batch", counted)
        for n in range(10):
            journal.append(record(n))
        assert await writer.drain() == 10
        following = journal.following
        journal.append(record(10))
        assert await writer.drain() == 1
        return following, writer.lines, await _stored(engine)

    following, lines, (ids, (requests, _)) = run_with_engine(database_url, body)
    assert len(ids) == requests == 11 and max(ids.values()) == 1
    assert following
    if lines:  # without the C module the records are kept, as many as TAIL_LIMIT
        assert batches == [4, 4, 2]  # the file's, then record 10 as a line

"""The C module's SqliteWriter (metering/sink.py's fresh batches on SQLite) against Python's sqlite3,
the path it stands in for: the same batches of records leave the same rows and the same rollup, in
batches of every size around its chunk of 64 rows; a failing batch leaves nothing; and where the
writer cannot be had, the sink writes through Python's sqlite3; neither writes a temporary file; and
the log is copied back at the same size whatever the database's pages."""

from __future__ import annotations

import asyncio
import ctypes
import os
import sqlite3
import struct
from contextlib import closing

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relaygate.metering import sink as sink_module
from relaygate.metering.sink import SQLITE_CHUNK, SqliteSink, write_records
from relaygate.speedups import native
from relaygate.store.db import SQLITE_PAGE_SIZE, create_engine
from relaygate.store.migrate import migrate

from .records import mixed, record


def _tables(path) -> tuple[list, list]:
    with sqlite3.connect(path) as connection:
        records = connection.execute("SELECT * FROM usage_records ORDER BY id").fetchall()
        daily = connection.execute("SELECT * FROM usage_daily ORDER BY day, key_name, model").fetchall()
    return records, daily


def _store(path, batches, fast: bool | None) -> tuple[list, list]:
    """`batches` written as the writer writes the records it journaled, through the C writer (True),
    Python's sqlite3 (False), or whichever the sink finds (None: here, where it finds none)."""
    async def run() -> None:
        url = f"sqlite:///{path}"
        await migrate(url)
        engine = create_engine(url)
        try:
            sink = SqliteSink.of(engine)
            if fast is False:
                sink.fast = False  # as where it cannot be had
            for batch in batches:
                assert await write_records(engine, batch) == len(batch)
            if any(batches):  # made at the first batch with rows
                assert bool(sink.fast) == (fast is True and native is not None)
        finally:
            await engine.dispose()

    asyncio.run(run())
    return _tables(path)


SIZES = st.lists(st.sampled_from([0, 1, 2, SQLITE_CHUNK - 1, SQLITE_CHUNK, SQLITE_CHUNK + 1, 2 * SQLITE_CHUNK + 3]),
                 min_size=1, max_size=3)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=SIZES, seed=st.integers(0, 1000))
def test_the_c_writer_stores_what_pythons_sqlite3_stores(tmp_path_factory, sizes, seed) -> None:
    records = mixed(sum(sizes), seed=seed)
    batches, start = [], 0
    for size in sizes:
        batches.append(records[start:start + size])
        start += size
    folder = tmp_path_factory.mktemp("writer")
    fast = _store(folder / "fast.db", batches, fast=True)
    plain = _store(folder / "plain.db", batches, fast=False)
    assert fast == plain
    assert len(fast[0]) == len(records)


def test_a_failing_batch_leaves_nothing_and_the_next_one_is_stored(tmp_path) -> None:
    """A request id already stored fails the C writer's insert as it fails Python's: the whole batch
    is rolled back (the writer then reads the journal file, where repeats are checked)."""
    path = tmp_path / "relaygate.db"

    async def run():
        url = f"sqlite:///{path}"
        await migrate(url)
        engine = create_engine(url)
        try:
            await write_records(engine, [record(1)])
            with pytest.raises(sqlite3.IntegrityError):
                await write_records(engine, [record(2), record(3), record(1)])
            with pytest.raises(sqlite3.IntegrityError):
                await write_records(engine, [record(n) for n in range(10, 10 + SQLITE_CHUNK)] + [record(10)])
            with pytest.raises((TypeError, sqlite3.ProgrammingError)):  # a value no column takes: nothing of its batch stays
                SqliteSink.of(engine).write([(*sink_module._DIALECTS["sqlite"].row_of(record(4))[:-1], object())],
                                            fresh=True)
            return await write_records(engine, [record(4), record(5)])
        finally:
            await engine.dispose()

    assert asyncio.run(run()) == 2
    records, daily = _tables(path)
    assert [row[1] for row in records] == [record(n).request_id for n in (1, 4, 5)]
    assert sum(row[3] for row in daily) == 3


def test_without_the_c_writer_the_sink_writes_through_pythons_sqlite3(tmp_path, monkeypatch) -> None:
    """A sqlite3 module with SQLite built in (no library file to find the C writer's functions in)."""
    monkeypatch.setattr(sink_module._sqlite3, "__file__", None, raising=False)
    records = mixed(70)
    stored = _store(tmp_path / "plain.db", [records], fast=None)
    assert len(stored[0]) == 70


def test_the_c_writer_refuses_what_it_cannot_bind(tmp_path) -> None:
    if native is None:  # RELAYGATE_PURE=1, or no compiler: the sink writes through Python's sqlite3 alone
        return
    import _sqlite3

    path = str(tmp_path / "t.db")
    writer = native.SqliteWriter(_sqlite3.__file__, path, "CREATE TABLE t (a, b);", "INSERT INTO t VALUES (?, ?), (?, ?)",
                                 2, "INSERT INTO t VALUES (?, ?)", "INSERT INTO t VALUES (?, ?)")
    writer.write([(1, "é"), (2, None), (3, 1.5)], [("r", 2**62)])
    for rows, rollups in (([(1,)], []), ([(1, 2, 3)], []), ([[1, 2]], []), ([(2**64, 1)], []),
                          ([(1, "\ud800")], []), ([(1, 2)], [(1,)]), ([(1, 2)] * 5, [(1, 2), ("x", object())])):
        with pytest.raises((TypeError, OverflowError, UnicodeEncodeError)):  # and nothing of the batch stays
            writer.write(rows, rollups)
    writer.close()
    writer.close()  # closed once
    with pytest.raises(ValueError):
        writer.write([], [])
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT * FROM t").fetchall() == [(1, "é"), (2, None), (3, 1.5), ("r", 2**62)]
    with pytest.raises(ValueError):
        native.SqliteWriter(_sqlite3.__file__, path, "", "", 1, "", "")
    with pytest.raises(ValueError):  # a chunk statement of another number of rows
        native.SqliteWriter(_sqlite3.__file__, path, "", "INSERT INTO t VALUES (?, ?)", 2, "INSERT INTO t VALUES (?, ?)",
                            "INSERT INTO t VALUES (?, ?)")
    with pytest.raises(sqlite3.OperationalError):
        native.SqliteWriter(_sqlite3.__file__, path, "", "INSERT INTO nowhere VALUES (?)", 1, "SELECT 1", "SELECT 1")


def test_a_database_that_cannot_be_opened_now_is_tried_again_at_the_next_batch(tmp_path) -> None:
    """The C writer's connection failing (here: the database's folder not there yet) fails that batch
    only; the next batch, once it can be opened, goes through it."""
    folder = tmp_path / "later"
    sink = SqliteSink(str(folder / "relaygate.db"))
    row = sink_module._DIALECTS["sqlite"].row_of(record(1))
    with pytest.raises(sqlite3.Error):
        sink.write([row], fresh=True)
    assert sink.fast is None or sink.fast is False and native is None
    folder.mkdir()

    async def migrated() -> None:
        await migrate(f"sqlite:///{folder / 'relaygate.db'}")

    asyncio.run(migrated())
    assert sink.write([row], fresh=True) == 1
    assert bool(sink.fast) == (native is not None)
    sink.close()
    assert len(_tables(folder / "relaygate.db")[0]) == 1


class CreatedFiles:
    """Files created in a directory, seen through inotify: SQLite unlinks its temporary files as it
    opens them, so their creation is all there is to see."""

    IN_CREATE = 0x100
    EVENT = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len; then len bytes of name

    def __init__(self, directory) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        self.fd = libc.inotify_init1(os.O_NONBLOCK)
        assert self.fd >= 0 and libc.inotify_add_watch(self.fd, str(directory).encode(), self.IN_CREATE) >= 0

    def names(self) -> list[str]:
        try:
            data = os.read(self.fd, 1 << 16)
        except BlockingIOError:
            return []
        names, at = [], 0
        while at < len(data):
            _, _, _, length = self.EVENT.unpack_from(data, at)
            at += self.EVENT.size
            names.append(data[at : at + length].rstrip(b"\0").decode())
            at += length
        return names

    def close(self) -> None:
        os.close(self.fd)


@pytest.fixture
def sqlite_temporary_files(tmp_path):
    """The files SQLite creates in its temporary directory, pointed at a folder of the test's own
    (`temp_store_directory` is the library's, shared by every connection in the process)."""
    folder = tmp_path / "sqlite-temp"
    folder.mkdir()
    with sqlite3.connect(":memory:") as connection:
        connection.execute(f"PRAGMA temp_store_directory = '{folder}'")
    watch = CreatedFiles(folder)
    yield watch
    watch.close()
    with sqlite3.connect(":memory:") as connection:
        connection.execute("PRAGMA temp_store_directory = ''")


@pytest.mark.parametrize("fast", [True, False])
def test_the_writer_keeps_its_statement_journals_in_memory(tmp_path, sqlite_temporary_files, monkeypatch,
                                                           fast) -> None:
    """A batch's multi-row INSERTs and rollup upsert each keep a statement journal, which SQLite
    spills to a temporary file past 64 KiB; the writer's connections keep it in memory. Without that
    setting (the control) the same batches create files."""
    records = mixed(1200)
    batches = [records[:600], records[600:]]
    _store(tmp_path / "memory.db", batches, fast=fast)
    assert sqlite_temporary_files.names() == []

    monkeypatch.setattr(sink_module, "SQLITE_SETUP", sink_module.SQLITE_SETUP.replace("PRAGMA temp_store = MEMORY;", ""))
    _store(tmp_path / "files.db", batches, fast=fast)
    assert sqlite_temporary_files.names()


@pytest.mark.parametrize("made_with", [None, 4096])
def test_a_new_database_has_16_kib_pages_and_the_log_limit_is_in_the_databases_own(tmp_path, made_with) -> None:
    """A database the gateway makes has 16 KiB pages (each page the writer changes is a write to the
    log and one more when it is copied back: a quarter of the writes of SQLite's 4 KiB); one made
    with other pages keeps them and is written as before. Either way the writer's connection lets the
    log grow to WAL_BYTES before copying it back, counted in that database's pages."""
    path = tmp_path / "relaygate.db"
    if made_with is not None:
        with closing(sqlite3.connect(path)) as connection:
            connection.execute(f"PRAGMA page_size = {made_with}")
            connection.execute("PRAGMA journal_mode = WAL")

    stored, _ = _store(path, [mixed(300)], fast=False)
    sink = SqliteSink(str(path))  # the writer's connection, as a batch opens it
    wal_pages = sink._connect().execute("PRAGMA wal_autocheckpoint").fetchone()[0]
    sink.close()
    with closing(sqlite3.connect(path)) as connection:
        page_size = connection.execute("PRAGMA page_size").fetchone()[0]
    assert page_size == (made_with or SQLITE_PAGE_SIZE) and SQLITE_PAGE_SIZE == 16384
    assert wal_pages * page_size == sink_module.WAL_BYTES
    assert len(stored) == 300

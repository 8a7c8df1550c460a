"""The batch writer: moves records from this process's journal to the database.

It writes the records after its saved position in batches, then saves the new position: the
records this process appended since the last batch without reading the file (with the C module
their lines from the journal's map, `sink.write_lines`; else the records kept in memory,
`Journal.tail`, `sink.write_records`), anything else (a restart, a database outage) by reading
the journal's complete lines (`sink.write_batch`). On start it first replays what an earlier owner
of the journal file left behind, and the files of dead processes (orphans, see `journal.py`). When
the database is unreachable it logs, waits with backoff and tries again; records wait in the journal
meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.metering.journal import Journal, JournalCursor, entries_of, slot_paths, try_lock
from relaygate.metering.sink import stores_lines, write_batch, write_lines, write_records

log = logging.getLogger("relaygate.metering")

# Seconds between batches. A batch's fixed cost (its transaction, the index pages it dirties, the
# commit) is a large part of SQLite's work at a few hundred records: on the project's machine ~12 µs
# per record in batches of 600 (0.2 s at 3,000 requests/s), ~7 µs in batches of 3,000. Records are
# safe in the journal meanwhile; the database and the admin API see them up to this much later.
INTERVAL = 1.0
# Bytes of lines taken in one batch, at most (~50,000 records). A writer kept waiting by a slow database
# would otherwise take all that arrived meanwhile in one go, its copy and parse held in memory at once;
# past this it reads the file, `batch_size` records at a time, and takes lines again once caught up.
LINES_LIMIT = 32 << 20


class BatchWriter:
    def __init__(
        self, engine: AsyncEngine, journal: Journal, *, batch_size: int = 1000, interval: float = INTERVAL,
        retry_initial: float = 0.5, retry_max: float = 10.0, compact_bytes: int = 4 << 20,
    ) -> None:
        self.engine = engine
        self.journal = journal
        self.cursor = JournalCursor(journal.path)
        self.batch_size = batch_size
        self.interval = interval
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.compact_bytes = compact_bytes
        self.written = 0  # records this writer inserted (duplicates from replays not counted)
        self.lines = stores_lines(engine)  # its own records taken as lines from the journal, none kept
        if self.lines:
            journal.read_lines_back()
        self._task: asyncio.Task[None] | None = None

    async def drain(self) -> int:
        """Write every complete record of the journal; raises when the database fails."""
        journal, cursor, inserted = self.journal, self.cursor, 0
        if not journal.following or cursor.offset != journal.tail_start or (
                self.lines and journal.end - cursor.offset > LINES_LIMIT):  # so many: the file, a batch at a time
            journal.unfollow()
            inserted = await drain_file(self.engine, cursor, self.batch_size)
            if cursor.offset == journal.end:  # no await since the last read: nothing appended after it
                journal.follow()
        elif self.lines:
            lines, end = journal.take_lines()
            if lines:  # on failure the position stays, and the next drain reads these from the file
                written = await write_lines(self.engine, lines)
                if written is None:  # a line the C module leaves to the Python
                    written = await write_batch(self.engine, entries_of(lines, journal.path))
                inserted = written
                cursor.advance(end)
        else:
            records, end = journal.take_tail()
            if records:  # on failure the position stays, and the next drain reads these from the file
                inserted = await write_records(self.engine, records)
                cursor.advance(end)
        self.written += inserted
        if self.cursor.offset >= self.compact_bytes and self.cursor.offset == self.journal.size():
            self.cursor.rewind_and_truncate(self.journal)  # no await since the size check: no append between
        return inserted

    async def replay_orphans(self) -> int:
        """Write and empty the journal files whose processes died; returns records inserted."""
        inserted = 0
        for path in slot_paths(self.journal.base):
            if path != self.journal.path:
                inserted += await replay_orphan(self.engine, path, self.batch_size)
        self.written += inserted
        return inserted

    async def run(self) -> None:
        """Replay, then follow the journal until cancelled."""
        delay = self.retry_initial
        replayed = False
        while True:
            try:
                if not replayed:
                    await self.replay_orphans()
                    replayed = True
                await self.drain()
                delay = self.retry_initial
                await asyncio.sleep(self.interval)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the database is down or refusing: retry later
                log.warning("usage writer: database write failed (%s); records wait in %s, retry in %.1f s",
                            exc.__class__.__name__, self.journal.path, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max)

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="relaygate-usage-writer")

    async def stop(self, timeout: float = 5.0) -> None:
        """Stop following; one last drain so a clean shutdown leaves the journal written out."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        try:
            await asyncio.wait_for(self.drain(), timeout)
        except Exception as exc:  # noqa: BLE001 - whatever is left is replayed at next start
            log.warning("usage writer: final write failed (%s); the journal keeps the records", exc)


async def drain_file(engine: AsyncEngine, cursor: JournalCursor, batch_size: int) -> int:
    inserted = 0
    while True:
        records, end = cursor.read(batch_size)
        if end == cursor.offset:
            return inserted
        inserted += await write_batch(engine, records)
        cursor.advance(end)


async def replay_orphan(engine: AsyncEngine, path: Path, batch_size: int) -> int:
    fd = try_lock(path)
    if fd is None:
        return 0  # a live process owns it
    orphan = Journal(path, fd)
    try:
        cursor = JournalCursor(path)
        inserted = await drain_file(engine, cursor, batch_size)
        cursor.rewind_and_truncate(orphan)
        if inserted:
            log.info("usage writer: replayed %d records from %s", inserted, path)
        return inserted
    finally:
        orphan.close()

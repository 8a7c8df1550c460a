"""The usage journal: an append-only JSON-lines file, one line per finished request.

`append` copies the line into the file through a shared memory map before it returns, so once it
returns the record survives the process being killed (`kill -9`, OOM): the bytes are in the
kernel's page cache, which writes them out itself, as it would after a `write(2)`. The journal used
to make that system call per record; the copy costs less (about 3% of the governed path's CPU per
request, measured side by side). What it does not survive, unless `fsync=True` (each append then
flushes its pages with `msync` and waits for the disk), is the machine losing power before the
kernel flushed; so `fsync` is off by default.

The file grows a chunk at a time (GROW), with its blocks allocated up front (`posix_fallocate`), so a
full disk is an OSError at the append that needs the room, never a fault while copying. Past the
last record the file holds zeros, which no JSON line contains: a reader stops at the first line
without its newline. A clean close cuts the zeros off. After a crash, opening the file again finds
the end of the records; a record cut short there (a power loss) is ended with a newline so the
next append starts clean, and the reader skips that unreadable line.

Each process owns its own journal file, claimed with an exclusive `flock`: the configured path,
or `<stem>.<n><suffix>` when another live process (another `--workers` process) holds it. A lock
that is free means its owner died; its file is an orphan the batch writer replays. Appends must
come from one thread (the event loop), which is what lets the writer truncate a drained file
without racing an append.

The writer stores the records this process appended since it last caught up without reading the
file: with the C module it takes their lines straight from the map (`take_lines`), and the C module
makes the database's rows of them (sink.py's `write_lines`), with no object kept per request;
without it (or on an in-memory SQLite database) the journal keeps the records themselves (`tail`),
and the writer makes their database rows a whole batch at a time. Keeping a record per request
until the batch cost more than its memory suggests (~2% of a governed request's time side by side,
not less with batches ten times as frequent); taking the lines instead measured 0.98x against 0.92x
of the core's throughput for a key with no limits. The file stays the authority: when the writer is
behind (after a restart, or while the database is away) it reads the file, and follows the appends
again once it has caught up.
"""

from __future__ import annotations

import fcntl
import logging
import mmap
import os
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import orjson

from relaygate.metering.usage import Attempt, Entry, UsageRecord, entry_of
from relaygate.speedups import native

log = logging.getLogger("relaygate.metering")

MAX_SLOTS = 256  # more processes than this on one journal path is a configuration mistake
GROW = 1 << 20  # bytes the file grows by when an append needs room
MADV_POPULATE_WRITE = getattr(mmap, "MADV_POPULATE_WRITE", 23)  # Linux 5.14; Python names it from 3.12
SCAN = 1 << 16  # bytes looked at per step when finding the end of the records
TAIL_LIMIT = 20_000  # records kept for the writer (~600 bytes each); past this (a stalled writer) it reads the file


def _line(record: UsageRecord) -> bytes:
    return record.to_json(orjson.OPT_APPEND_NEWLINE)


# A record's line. The C module writes it as orjson does (the same bytes: tests hold the two
# together), or answers None for a record holding anything unusual, which `to_json` then writes. Its
# count is only ~1.5k instructions below orjson's, yet side by side it saves ~1.5% of a governed
# request's time: orjson's serializer is a large body of code that nothing else on the request path
# runs, so each request found it out of the processor's caches.
line_of = _line if native is None else partial(native.journal_line, Attempt)
# The same line written by the C module straight into the map at the end of the records: the offset
# past it; the line where it does not fit (the file grows); None for a record the Python writes. No
# bytes object made, nor the map's slice assignment (a body of code only the journal runs).
write_line = None if native is None else partial(native.journal_write, Attempt)


def slot_path(base: Path, n: int) -> Path:
    return base if n == 0 else base.with_name(f"{base.stem}.{n}{base.suffix}")


def slot_paths(base: Path) -> Iterator[Path]:
    """Every journal file of this base path that exists, in slot order."""
    for n in range(MAX_SLOTS):
        path = slot_path(base, n)
        if path.exists():
            yield path


def try_lock(path: Path) -> int | None:
    """An open descriptor holding the exclusive lock on `path`, or None when a live process has it."""
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def records_end(fd: int, size: int) -> int:
    """Where the records of a journal file end: before the zeros of its unwritten room, if any."""
    end = size
    while end > 0:
        chunk = os.pread(fd, min(SCAN, end), end - min(SCAN, end)).rstrip(b"\0")
        if chunk:
            return end - min(SCAN, end) + len(chunk)
        end -= min(SCAN, end)
    return 0


class Journal:
    def __init__(self, path: Path, fd: int, fsync: bool = False, base: Path | None = None) -> None:
        self.path = path
        self.base = base or path  # the configured path; `path` is the slot file this process holds
        self.fd = fd
        self.fsync = fsync
        self.room = os.fstat(fd).st_size  # the file's length: records, then zeros
        self.end = records_end(fd, self.room)  # only this process appends (the lock), so it knows the end
        self.map: mmap.mmap | None = mmap.mmap(fd, self.room) if self.room else None
        if self.end and os.pread(fd, 1, self.end - 1) != b"\n":  # cut short by a power loss
            self._put(b"\n")
        self.following = True  # the writer has stored the file up to `tail_start`: the rest is this process's
        self.keep_records = True  # and wants those records kept (False: it reads their lines back)
        self.tail: list[UsageRecord] | None = []  # the records in the file from `tail_start` to `end`, kept
        self.tail_start = self.end

    @classmethod
    def open(cls, base: str | Path, *, fsync: bool = False) -> Journal:
        """Claim the first journal file of `base` that no live process holds."""
        base = Path(base)
        base.parent.mkdir(parents=True, exist_ok=True)
        for n in range(MAX_SLOTS):
            fd = try_lock(slot_path(base, n))
            if fd is not None:
                return cls(slot_path(base, n), fd, fsync, base)
        raise RuntimeError(f"usage journal: all {MAX_SLOTS} files of {base} are held by live processes")

    def append(self, record: UsageRecord) -> None:
        """Durable against the process dying once this returns (against power loss with fsync)."""
        if write_line is not None and not self.fsync:  # `_put`'s common case, in C: this runs for every request
            written = write_line(self.map, self.end, record)
            if written.__class__ is int:
                self.end = written
            else:
                self._put(written if written is not None else _line(record))
        else:
            self._put(line_of(record) or _line(record))
        tail = self.tail
        if tail is not None:
            if len(tail) < TAIL_LIMIT:
                tail.append(record)
            else:
                self.unfollow()

    def _put(self, line: bytes) -> None:
        start = self.end
        end = start + len(line)
        if end > self.room:
            self._grow(end)
        self.map[start:end] = line  # type: ignore[index]
        self.end = end
        if self.fsync:
            page = start - start % mmap.PAGESIZE
            self.map.flush(page, end - page)  # type: ignore[union-attr]

    def _grow(self, needed: int) -> None:
        """Room for `needed` bytes and GROW more, its disk blocks allocated now (ENOSPC here, not a
        SIGBUS later), mapped anew."""
        room = needed + GROW
        try:
            os.posix_fallocate(self.fd, self.room, room - self.room)
        except OSError:
            self.unfollow()  # whatever the file holds now, the writer reads it
            raise
        if self.map is not None:
            self.map.close()
        self.map = mmap.mmap(self.fd, room)
        start = self.room - self.room % mmap.PAGESIZE
        try:  # the new pages made writable now, in one call, rather than by a page fault every dozen appends
            self.map.madvise(MADV_POPULATE_WRITE, start, room - start)
        except OSError:
            pass  # a kernel before 5.14: the appends fault them in
        self.room = room

    def take_tail(self) -> tuple[list[UsageRecord], int]:
        """The records appended since `tail_start`, and the offset just past them; the tail starts again there."""
        records = self.tail or []
        self.tail, self.tail_start = [] if self.keep_records else None, self.end
        return records, self.end

    def take_lines(self) -> tuple[bytes, int]:
        """The lines appended since `tail_start` (whole ones: an append puts its line in one go), and
        the offset just past them; the tail starts again there."""
        start, end = self.tail_start, self.end
        self.tail_start = end
        return (self.map[start:end] if end > start else b""), end  # type: ignore[index]

    def read_lines_back(self) -> None:
        """The writer takes its records as lines (`take_lines`): none is kept from here on."""
        self.keep_records, self.tail = False, None

    def follow(self) -> None:
        """The writer has read the file up to its end: follow the appends from here."""
        self.following, self.tail_start = True, self.end
        self.tail = [] if self.keep_records else None

    def unfollow(self) -> None:
        """The writer reads the file: keeping records for it would only hold memory."""
        self.following, self.tail = False, None

    def size(self) -> int:
        """The length of the records (the file may be longer: room not written yet)."""
        return self.end

    def truncate(self) -> None:
        self._unmap()
        os.ftruncate(self.fd, 0)
        self.room = self.end = 0
        self.follow()

    def _unmap(self) -> None:
        if self.map is not None:
            self.map.close()
            self.map = None

    def close(self) -> None:
        """Unmap and cut the unwritten room off, so the file holds exactly its records."""
        if self.fd >= 0:
            self._unmap()
            os.ftruncate(self.fd, self.end)
            os.close(self.fd)  # releases the lock
            self.fd = -1


class JournalCursor:
    """The batch writer's read position in one journal file, kept in `<file>.pos`.

    The position is saved after the database committed the records before it. A crash between
    the commit and the save replays those records once more, which the database ignores (request
    ids are unique), so the position itself needs no fsync.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.pos_path = path.with_name(path.name + ".pos")
        self.offset = self._load()

    def _load(self) -> int:
        try:
            offset = int(self.pos_path.read_text().strip() or 0)
        except (FileNotFoundError, ValueError):
            return 0
        size = self.path.stat().st_size if self.path.exists() else 0
        return offset if 0 <= offset <= size else 0  # a position past the end: the file was truncated

    def read(self, limit: int) -> tuple[list[Entry], int]:
        """Up to `limit` complete records after the position, as entries, and the offset just past
        them. A last line still without its newline is left for the next read."""
        records: list[Entry] = []
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            end = self.offset
            while len(records) < limit:
                line = f.readline()
                if not line.endswith(b"\n"):
                    break
                end += len(line)
                record = _parse(line, self.path)
                if record is not None:
                    records.append(record)
        return records, end

    def advance(self, offset: int) -> None:
        """Saved in place, at a fixed width so that each save covers the last: one small write, where
        writing a new file and renaming it over the old made ext4 flush it first (~0.25 ms a batch,
        in the event loop). A save torn by a power cut reads as unreadable or past the end: 0, a replay."""
        self.offset = offset
        fd = os.open(self.pos_path, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            os.pwrite(fd, b"%20d\n" % offset, 0)
        finally:
            os.close(fd)

    def rewind_and_truncate(self, journal: Journal) -> None:
        """Empty a fully written journal file. The position is reset first: a crash in between
        leaves position 0 on a full file, which replays harmlessly, never the reverse."""
        self.advance(0)
        journal.truncate()


def entries_of(lines: bytes, path: Path) -> list[Entry]:
    """The entries of whole lines (`take_lines`), unreadable ones skipped as a reader skips them."""
    return [entry for line in lines.splitlines() if (entry := _parse(line, path)) is not None]


def _parse(line: bytes, path: Path) -> Entry | None:
    try:
        return entry_of(line)
    except Exception:  # noqa: BLE001 - a torn or foreign line must not stop the journal
        log.warning("usage journal %s: skipping an unreadable line (%d bytes)", path, len(line))
        return None

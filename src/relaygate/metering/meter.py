"""What the gateway holds for metering: `record()` on the request path (a journal append, no
database round-trip), and the batch writer in the background."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.metering.journal import Journal
from relaygate.metering.writer import BatchWriter


class Meter:
    def __init__(self, journal: Journal, writer: BatchWriter) -> None:
        self.journal = journal
        self.writer = writer
        self.record = journal.append  # `record(usage_record)`: the journal's own method, no call in between

    @classmethod
    def open(cls, engine: AsyncEngine, journal_path: str | Path, *, fsync: bool = False,
             **writer_options: Any) -> Meter:
        """Claim a journal file; call `start()` inside the event loop to begin writing."""
        journal = Journal.open(journal_path, fsync=fsync)
        return cls(journal, BatchWriter(engine, journal, **writer_options))

    def start(self) -> None:
        """Replays what earlier runs left in the journal, then follows it."""
        self.writer.start()

    async def close(self) -> None:
        await self.writer.stop()
        self.journal.close()

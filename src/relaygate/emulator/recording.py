"""The log of chat requests received, for tests to inspect (`GET /_emulator/requests`)."""

from __future__ import annotations

from collections import deque
from typing import Any

from aiohttp import web

Record = dict[str, Any]


class Recorder:
    """Keeps the last `limit` chat requests as plain dicts; a stream's record is marked later."""

    def __init__(self, limit: int = 10_000) -> None:
        self._records: deque[Record] = deque(maxlen=limit)

    def add(self, request: web.Request, raw: bytes, body: Any, parsed: bool) -> Record:
        record: Record = {
            "path": request.path,
            "method": request.method,
            "headers": {name.lower(): value for name, value in request.headers.items()},
            "body": body if parsed else None,
            "raw": None if parsed else raw.decode("utf-8", "replace"),
            "disconnected": False,
        }
        self._records.append(record)
        return record

    def all(self) -> list[Record]:
        return list(self._records)

    def clear(self) -> None:
        self._records.clear()


def mark_disconnected(record: Record | None) -> None:
    """Notes that the client went away before its answer was complete."""
    if record is not None:
        record["disconnected"] = True

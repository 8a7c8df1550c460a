"""The request log: usage records newest first, filtered and paged by keyset (`before` an id).

Rows are ordered by (created_at, id), the order the indexes on usage_records keep (by key, model,
provider, error status, client request id or none): a page is a walk down one index, however old the
page is. Successful answers have no index of their own (most records are; the time index finds them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.store.schema import usage_records

_COLUMNS = ("id", "request_id", "client_request_id", "created_at", "model", "provider", "upstream_model", "status",
            "error_code", "stream", "prompt_tokens", "completion_tokens", "reasoning_tokens", "cached_tokens", "cost",
            "latency_ms", "ttft_ms", "estimated", "attempts")


@dataclass(frozen=True, slots=True)
class RequestFilter:
    key: str | None = None
    model: str | None = None
    provider: str | None = None
    client_request_id: str | None = None
    status: str | None = None  # "ok" (below 400), "error" (400 and above) or one code, as text
    since: datetime | None = None  # inclusive, aware
    until: datetime | None = None  # inclusive, aware


def _conditions(f: RequestFilter) -> list[Any]:
    r = usage_records.c
    where = [column == value for column, value in ((r.key_name, f.key), (r.model, f.model), (r.provider, f.provider),
                                                   (r.client_request_id, f.client_request_id)) if value is not None]
    if f.status == "ok":
        where.append(r.status < 400)
    elif f.status == "error":
        where.append(r.status >= 400)
    elif f.status is not None:
        code = int(f.status)
        where.append(r.status == code)
        if code >= 400:
            where.append(r.status >= 400)  # implied, but said: SQLite then sees that the errors' index holds the rows
    if f.since is not None:
        where.append(r.created_at >= f.since)
    if f.until is not None:
        where.append(r.created_at <= f.until)
    return where


def _older_than(before: int) -> Any:
    r = usage_records.c
    anchor = select(r.created_at).where(r.id == before).scalar_subquery()
    return or_(r.created_at < anchor, and_(r.created_at == anchor, r.id < before))


def page_query(where: RequestFilter, limit: int, before: int | None = None) -> Select[Any]:
    """The query of one page: up to `limit` matching records older than the record `before`, newest first."""
    r = usage_records.c
    conditions = _conditions(where)
    if before is not None:
        conditions.append(_older_than(before))
    return (select(r.key_name, *(r[name] for name in _COLUMNS)).where(*conditions)
            .order_by(r.created_at.desc(), r.id.desc()).limit(limit))


async def recent_requests(
    engine: AsyncEngine, where: RequestFilter, limit: int, before: int | None = None
) -> tuple[list[dict[str, Any]], bool]:
    """Up to `limit` records, newest first, and whether older ones match too."""
    query = page_query(where, limit + 1, before)
    async with engine.connect() as connection:
        rows = (await connection.execute(query)).all()
    page = [{"key": row.key_name, **{name: getattr(row, name) for name in _COLUMNS}} for row in rows[:limit]]
    return page, len(rows) > limit

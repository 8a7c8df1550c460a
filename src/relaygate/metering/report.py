"""Usage and spend grouped by key, model or day, read from the daily rollup (never from the raw
records), in the shape of `GET /admin/usage`:

    {"data": [{"key", "model", "day", "requests", "prompt_tokens", "completion_tokens",
               "reasoning_tokens", "cached_tokens", "cost"}], "total": {"requests", "cost"}}

A row carries only the grouping's fields (`group_by="model"` rows have no "key" nor "day");
without a grouping a row is one (day, key, model). Several fields group together, in the order
given (`("day", "model")`: one row per day and model, for charts). `since` and `until` are UTC
days, inclusive.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

import orjson
from sqlalchemy import case, func, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.store.schema import ROLLUP_COUNTS, usage_daily
from relaygate.store.types import Money

GroupBy = Literal["key", "model", "day"]
GROUP_FIELDS: tuple[GroupBy, ...] = ("key", "model", "day")
DEFAULT_GROUPING = ("day", "key", "model")
_COLUMNS = {"key": usage_daily.c.key_name, "model": usage_daily.c.model, "day": usage_daily.c.day}


def parse_day(value: str | date | None) -> date | None:
    """A day from `2026-03-01` or a full ISO-8601 time (its date is taken)."""
    if value is None or isinstance(value, date):
        return value.date() if isinstance(value, datetime) else value
    try:
        return datetime.fromisoformat(value.strip()).date()
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO-8601 date") from None


def _query(fields: tuple[str, ...], key: str | None, model: str | None,
           since: date | None, until: date | None) -> Any:
    groups = [_COLUMNS[f].label(f) for f in fields]
    sums = [func.sum(usage_daily.c[name]).label(name) for name in ROLLUP_COUNTS]
    query = select(*groups, *sums).group_by(*groups).order_by(*groups)
    if key is not None:
        query = query.where(usage_daily.c.key_name == key)
    if model is not None:
        query = query.where(usage_daily.c.model == model)
    if since is not None:
        query = query.where(usage_daily.c.day >= since)
    if until is not None:
        query = query.where(usage_daily.c.day <= until)
    return query


def grouping(group_by: str | tuple[str, ...] | None) -> tuple[str, ...]:
    fields = DEFAULT_GROUPING if group_by is None else (group_by,) if isinstance(group_by, str) else group_by
    if not fields or any(f not in GROUP_FIELDS for f in fields) or len(set(fields)) != len(fields):
        raise ValueError(f"group_by must be one or more of key, model, day (got {group_by!r})")
    return fields


def _row(mapping: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    row: dict[str, Any] = {f: (mapping[f].isoformat() if f == "day" else mapping[f]) for f in fields}
    row.update({name: int(mapping[name]) for name in ROLLUP_COUNTS if name != "cost"})
    row["cost"] = mapping["cost"] if mapping["cost"] is not None else Decimal(0)
    return row


async def usage_report(
    engine: AsyncEngine, *, key: str | None = None, model: str | None = None,
    since: str | date | None = None, until: str | date | None = None,
    group_by: GroupBy | tuple[GroupBy, ...] | None = None,
) -> dict[str, Any]:
    fields = grouping(group_by)
    query = _query(fields, key, model, parse_day(since), parse_day(until))
    async with engine.connect() as connection:
        data = [_row(r._mapping, fields) for r in await connection.execute(query)]
    total = {"requests": sum(r["requests"] for r in data), "cost": sum((r["cost"] for r in data), Decimal(0))}
    return {"data": data, "total": total}


async def spend_by_key(
    engine: AsyncEngine, today: date, key: str | None = None
) -> dict[str, dict[str | None, Decimal]]:
    """Each key's spend per budget period ("daily": the UTC day `today`, "monthly": its month,
    None: all time), in one pass over the rollup; only `key` when given."""
    cost, day = usage_daily.c.cost, usage_daily.c.day

    def spent_when(condition: Any) -> Any:  # the CASE keeps Money's conversion of what the database holds
        return func.sum(type_coerce(case((condition, cost), else_=0), Money()))

    query = select(
        usage_daily.c.key_name, func.sum(cost), spent_when(day >= today.replace(day=1)), spent_when(day == today),
    ).group_by(usage_daily.c.key_name)
    if key is not None:
        query = query.where(usage_daily.c.key_name == key)
    async with engine.connect() as connection:
        rows = (await connection.execute(query)).all()
    return {name: {None: _money(total), "monthly": _money(month), "daily": _money(daily)}
            for name, total, month, daily in rows}


def _money(value: Decimal | None) -> Decimal:
    return value if value is not None else Decimal(0)


async def spend_since(engine: AsyncEngine, key: str, since: date | None) -> Decimal:
    """USD a key spent from the UTC day `since` on (all time with None): what a budget check
    reconciles its counter from at start."""
    query = select(func.sum(usage_daily.c.cost)).where(usage_daily.c.key_name == key)
    if since is not None:
        query = query.where(usage_daily.c.day >= since)
    async with engine.connect() as connection:
        total = (await connection.execute(query)).scalar()
    return total if total is not None else Decimal(0)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)  # JSON numbers; clients read them as doubles anyway
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def to_json(value: Any) -> bytes:
    """JSON for reports and key listings: Decimal amounts as numbers, datetimes in ISO-8601."""
    return orjson.dumps(value, default=_json_default)


async def spend_so_far(
    engine: AsyncEngine, today: date
) -> tuple[list[tuple[str, Decimal]], list[tuple[str, date, Decimal]]]:
    """What budgets start from: each key's total spend, and its spend per day since the 1st of this month."""
    cost = func.sum(usage_daily.c.cost)
    month = today.replace(day=1)
    async with engine.connect() as connection:
        totals = (await connection.execute(
            select(usage_daily.c.key_name, cost).group_by(usage_daily.c.key_name)
        )).all()
        days = (await connection.execute(
            select(usage_daily.c.key_name, usage_daily.c.day, cost)
            .where(usage_daily.c.day >= month).group_by(usage_daily.c.key_name, usage_daily.c.day)
        )).all()
    return ([(k, Decimal(c or 0)) for k, c in totals], [(k, d, Decimal(c or 0)) for k, d, c in days])

"""`relaygate usage`: spend and tokens by key, model or day, as a table or as /admin/usage's JSON.

Before reporting it writes out what dead gateways left in their journals (a live gateway's own
journal is its writer's, and reaches the database within a fraction of a second)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.manage.run import table, usd
from relaygate.metering.journal import slot_paths
from relaygate.metering.report import grouping, to_json, usage_report
from relaygate.metering.writer import replay_orphan

_HEADERS = {"day": "DAY", "key": "KEY", "model": "MODEL", "requests": "REQUESTS", "prompt_tokens": "PROMPT",
            "completion_tokens": "COMPLETION", "reasoning_tokens": "REASONING", "cached_tokens": "CACHED",
            "cost": "COST USD"}


async def replay_left_journals(engine: AsyncEngine, journal: str) -> int:
    return sum([await replay_orphan(engine, path, 1000) for path in slot_paths(Path(journal))])


def usage_table(report: dict[str, Any], group_by: str | None) -> str:
    fields = grouping(group_by)
    columns = [*fields, "requests", "prompt_tokens", "completion_tokens",
               "reasoning_tokens", "cached_tokens", "cost"]
    rows = [[usd(row[c]) if c == "cost" else str(row[c]) for c in columns] for row in report["data"]]
    total = report["total"]
    footer = ["TOTAL", *[""] * (len(fields) - 1), str(total["requests"]), "", "", "", "", usd(total["cost"])]
    return table([_HEADERS[c] for c in columns], [*rows, footer])


async def usage(engine: AsyncEngine, journal: str, filters: dict[str, Any], as_json: bool) -> str:
    await replay_left_journals(engine, journal)
    report = await usage_report(engine, **filters)
    return to_json(report).decode() if as_json else usage_table(report, filters.get("group_by"))

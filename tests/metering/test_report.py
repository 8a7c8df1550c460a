from collections import defaultdict
from datetime import date
from decimal import Decimal

import pytest

from _databases import run_with_engine
from relaygate.metering.report import parse_day, spend_since, to_json, usage_report
from relaygate.metering.sink import write_batch

from .records import entries, mixed

COUNTS = ("requests", "prompt_tokens", "completion_tokens", "reasoning_tokens", "cached_tokens", "cost")
FIELDS = {None: ("day", "key", "model"), "key": ("key",), "model": ("model",), "day": ("day",)}
RECORDS = mixed(300)


def expected(group_by, key=None, model=None, since=None, until=None):
    """The report computed straight from the raw records."""
    rows = defaultdict(lambda: dict.fromkeys(COUNTS, 0))
    for r in RECORDS:
        if (key and r.key != key) or (model and r.model != model) or (since and r.day < since) or (until and r.day > until):
            continue
        values = {"day": r.day.isoformat(), "key": r.key, "model": r.model}
        row = rows[tuple(values[f] for f in FIELDS[group_by])]
        for name, value in zip(COUNTS, (1, r.prompt_tokens, r.completion_tokens, r.reasoning_tokens, r.cached_tokens, r.cost)):
            row[name] += value
    return [{**dict(zip(FIELDS[group_by], k)), **rows[k]} for k in sorted(rows)]


QUERIES = [
    {"group_by": None}, {"group_by": "key"}, {"group_by": "model"}, {"group_by": "day"},
    {"group_by": "model", "key": "team-b"}, {"group_by": "key", "model": "qwen-plus"},
    {"group_by": "day", "since": date(2026, 3, 2), "until": date(2026, 3, 3)},
    {"group_by": None, "key": "team-a", "model": "gpt-4o", "since": date(2026, 3, 4)},
]


def test_reports_match_the_raw_records(database_url):
    async def body(engine):
        await write_batch(engine, entries(RECORDS[:150]))
        await write_batch(engine, entries(RECORDS[100:]))  # overlapping batches: the rollup counts each once
        return [await usage_report(engine, **q) for q in QUERIES]

    for query, report in zip(QUERIES, run_with_engine(database_url, body)):
        want = expected(**query)
        assert report["data"] == want, query
        assert report["total"] == {"requests": sum(r["requests"] for r in want),
                                   "cost": sum((r["cost"] for r in want), Decimal(0))}
        assert all(set(row) == set(FIELDS[query["group_by"]]) | set(COUNTS) for row in report["data"])


def test_an_empty_report(database_url):
    report = run_with_engine(database_url, lambda engine: usage_report(engine, group_by="key"))
    assert report == {"data": [], "total": {"requests": 0, "cost": Decimal(0)}}


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        parse_day("yesterday")
    assert parse_day("2026-03-01T23:59:59+00:00") == date(2026, 3, 1)


def test_json_has_numbers_for_amounts():
    assert to_json({"cost": Decimal("0.0000012345"), "day": "2026-03-01"}) == b'{"cost":1.2345e-6,"day":"2026-03-01"}'


def test_spend_since_sums_one_key_from_a_day_on(database_url):
    async def body(engine):
        await write_batch(engine, entries(RECORDS))
        return [await spend_since(engine, "team-a", since) for since in (None, date(2026, 3, 3))] + [
            await spend_since(engine, "nobody", None)]

    everything, recent, nobody = run_with_engine(database_url, body)
    assert everything == sum((r.cost for r in RECORDS if r.key == "team-a"), Decimal(0))
    assert recent == sum((r.cost for r in RECORDS if r.key == "team-a" and r.day >= date(2026, 3, 3)), Decimal(0))
    assert nobody == 0 and 0 < recent < everything

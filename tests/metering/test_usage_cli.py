import orjson

from _databases import config_file, relaygate_cli, run_with_engine
from relaygate.metering.journal import Journal
from relaygate.metering.report import to_json, usage_report
from relaygate.metering.sink import write_batch

from .records import entries, mixed

RECORDS = mixed(60)


def test_usage_through_the_cli(database_url, tmp_path):
    config = config_file(tmp_path, database_url)

    async def write_and_report(engine):
        await write_batch(engine, entries(RECORDS[:50]))
        return await usage_report(engine, group_by="model", since="2026-03-02")

    run_with_engine(database_url, write_and_report)
    left = Journal.open(tmp_path / "usage.jsonl")  # a gateway that died before writing its last ten
    for r in RECORDS[50:]:
        left.append(r)
    left.close()

    as_json = relaygate_cli(config, "usage", "--group-by", "model", "--since", "2026-03-02", "--json").stdout
    expected = run_with_engine(database_url, lambda e: usage_report(e, group_by="model", since="2026-03-02"))
    assert orjson.loads(as_json) == orjson.loads(to_json(expected))
    assert sum(r["requests"] for r in expected["data"]) == sum(r.day.day >= 2 for r in RECORDS)

    table = relaygate_cli(config, "usage", "--key", "team-a").stdout.splitlines()
    assert table[0].split()[:4] == ["DAY", "KEY", "MODEL", "REQUESTS"]
    assert table[-1].split()[:2] == ["TOTAL", str(sum(r.key == "team-a" for r in RECORDS))]

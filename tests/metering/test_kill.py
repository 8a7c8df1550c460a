import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from sqlalchemy import func, select

from _databases import run_with_engine
from relaygate.metering.journal import Journal
from relaygate.metering.writer import BatchWriter
from relaygate.store.schema import usage_daily, usage_records

APPENDER = Path(__file__).with_name("appender.py")
REPORTED = 1500  # request ids the process must have reported before it is killed


def _run_and_kill(database_url, journal_path):
    process = subprocess.Popen([sys.executable, str(APPENDER), database_url, str(journal_path)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    reported = []
    try:
        while len(reported) < REPORTED:
            line = process.stdout.readline()
            assert line, process.stderr.read().decode()
            reported.append(line)
        os.kill(process.pid, signal.SIGKILL)
        reported += process.stdout.readlines()
    finally:
        process.kill()
        process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL
    return {line.decode().strip() for line in reported if line.endswith(b"\n")}


async def _replay_and_read(engine, journal_path):
    journal = Journal.open(journal_path)
    writer = BatchWriter(engine, journal)
    await writer.drain()
    await writer.replay_orphans()
    journal.close()
    async with engine.connect() as c:
        stored = Counter((await c.execute(select(usage_records.c.request_id))).scalars())
        requests = (await c.execute(select(func.sum(usage_daily.c.requests)))).scalar()
    return stored, requests


def test_kill_9_loses_no_appended_record(database_url, tmp_path):
    journal_path = tmp_path / "usage.jsonl"
    reported = _run_and_kill(database_url, journal_path)
    stored, requests = run_with_engine(database_url, lambda engine: _replay_and_read(engine, journal_path))
    assert len(reported) >= REPORTED
    assert reported <= set(stored), f"lost: {sorted(reported - set(stored))[:5]}"
    assert max(stored.values()) == 1 and requests == len(stored)

"""Run as a process by test_kill.py: meters requests in a loop, as a gateway would, printing each
request id once its record is appended; the test kills it with SIGKILL mid-stride."""

import asyncio
import sys
from datetime import datetime, timezone
from decimal import Decimal

from relaygate.metering.meter import Meter
from relaygate.metering.usage import UsageRecord
from relaygate.store.db import create_engine
from relaygate.store.migrate import migrate


async def main(database_url: str, journal_path: str) -> None:
    await migrate(database_url)
    engine = create_engine(database_url)
    meter = Meter.open(engine, journal_path, interval=0.005, batch_size=37)
    meter.start()
    n = 0
    while True:
        request_id = f"killed-{n:07d}"
        meter.record(UsageRecord(request_id=request_id, key="k", model="m", created_at=datetime.now(timezone.utc),
                                 prompt_tokens=n % 97, completion_tokens=3, cost=Decimal("0.0000000001") * n))
        sys.stdout.write(request_id + "\n")
        sys.stdout.flush()
        n += 1
        if n % 5 == 0:
            await asyncio.sleep(0.001)  # let the batch writer run, as between requests


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))

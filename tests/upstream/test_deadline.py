"""upstream/deadline.py: a stream's first-token, idle and total limits on one lazily moved timer."""

from __future__ import annotations

import asyncio

import pytest

from relaygate.config import Timeout
from relaygate.upstream.deadline import StreamDeadline


async def _events(deadline: StreamDeadline, every: float, count: int) -> int:
    sent = 0
    async with deadline:
        for _ in range(count):
            await asyncio.sleep(every)
            deadline.alive()
            sent += 1
    return sent


def test_events_keep_a_stream_alive_well_past_its_idle_limit():
    async def body() -> int:
        return await _events(StreamDeadline(Timeout(first_token=0.2, idle=0.2, total=5)), 0.05, 16)

    assert asyncio.run(body()) == 16  # 0.8 s of events, four idle limits long


@pytest.mark.parametrize(("limits", "every", "phase"), [
    (Timeout(first_token=0.1, idle=5, total=5), 0.5, "first_token"),
    (Timeout(first_token=5, idle=0.15, total=5), None, "idle"),
    (Timeout(first_token=5, idle=0.2, total=0.4), 0.05, "total"),
])
def test_the_limit_that_ran_out_is_named(limits, every, phase):
    async def body() -> tuple[str, int]:
        deadline = StreamDeadline(limits)
        sent = 0
        with pytest.raises(TimeoutError):
            async with deadline:
                while True:
                    await asyncio.sleep(every if every is not None else (0.02 if sent < 3 else 10))
                    deadline.alive()
                    sent += 1
        return deadline.phase, sent

    named, sent = asyncio.run(body())
    assert named == phase
    if phase == "idle":
        assert sent == 3  # cut after the three events, once the gap outgrew the limit


def test_a_cancel_from_elsewhere_is_not_a_timeout():
    async def body() -> None:
        task = asyncio.create_task(_events(StreamDeadline(Timeout(first_token=5, idle=5, total=5)), 0.05, 100))
        await asyncio.sleep(0.12)
        task.cancel()
        await task

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(body())

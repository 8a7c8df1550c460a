"""governance/limiter.py: local limits without Redis, shared ones with it, and the way between them
when Redis is unreachable at start, goes away, and comes back."""

from __future__ import annotations

import asyncio
import logging

from _redis import RedisServer

from relaygate.governance import limiter as limiter_module
from relaygate.governance.limiter import Limiter
from relaygate.governance.limits import KeyLimits

LIMITS = KeyLimits(rpm=100, max_concurrency=5)


async def until(check, seconds: float = 10.0) -> None:
    """The watcher looks at Redis once a second."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not check():
        assert loop.time() < deadline, "the limiter did not change over"
        await asyncio.sleep(0.05)


def test_without_redis_limits_are_local_and_nothing_is_reported():
    async def main():
        limiter = Limiter(None)
        await limiter.start()
        verdict = await limiter.admit("k", LIMITS, 1)
        limiter.settle("k", LIMITS, verdict, 1)
        await limiter.stop()
        return limiter, verdict
    limiter, verdict = asyncio.run(main())
    assert limiter.redis_up is None and verdict.allowed and not verdict.shared
    assert limiter.memory.in_flight("k") == 0


def test_unreachable_at_start_then_shared_once_redis_answers_and_local_again_when_it_goes(caplog, monkeypatch):
    monkeypatch.setattr(limiter_module, "CHECK", 0.1)
    server = RedisServer(password="hunter2-redis-secret")
    caplog.set_level(logging.INFO, logger="relaygate.limits")

    async def main():
        limiter = Limiter(server.url)
        await limiter.start()  # nothing listens on the port yet
        seen = [limiter.redis_up]
        local = await limiter.admit("k", LIMITS, 1)
        limiter.settle("k", LIMITS, local, 1)
        server.start()
        await until(lambda: limiter.redis_up)
        shared = await limiter.admit("k", LIMITS, 1)
        limiter.settle("k", LIMITS, shared, 1)
        await asyncio.sleep(0.2)  # the settlement went out in the background
        slots = await limiter.shared.batch.client.hgetall("relaygate:limits:k:in-flight")
        server.stop()
        fallback = await limiter.admit("k", LIMITS, 1)
        seen.append(limiter.redis_up)
        server.start()
        await until(lambda: limiter.redis_up)
        seen.append((await limiter.admit("k", LIMITS, 1)).shared is limiter.shared)
        await limiter.stop()
        return seen, local, shared, slots, fallback

    try:
        seen, local, shared, slots, fallback = asyncio.run(main())
    finally:
        server.destroy()
    assert seen == [False, False, True]
    assert not local.shared and shared.shared and not fallback.shared and fallback.allowed
    assert slots == {}  # the shared request's slot was given back
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2 and all("Redis at redis://***@127.0.0.1" in w for w in warnings)
    assert "hunter2" not in caplog.text


def test_a_request_is_settled_by_the_connection_that_admitted_it(redis_server):
    """After a reconnect (a new instance id), a request admitted before it still frees its own slot."""
    limits = KeyLimits(max_concurrency=1)

    async def main():
        limiter = Limiter(redis_server.url)
        await limiter.start()
        before = await limiter.admit("reconnected", limits, 1)
        await limiter._connect()  # what the watcher does when Redis answers again
        limiter.settle("reconnected", limits, before, None)
        await asyncio.sleep(0.2)
        after = await limiter.admit("reconnected", limits, 1)
        await limiter.stop()
        return before, after
    before, after = asyncio.run(main())
    assert before.shared is not after.shared and after.allowed

"""governance/redis_limits.py and store/lua/limits.lua against a real redis-server: MemoryLimiter's
rules, shared by instances. Redis's clock runs on while a test does, so where the allowance refills
meanwhile the assertions leave room for the refill (a 60-per-minute allowance gains one a second)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from relaygate.governance.limits import KeyLimits, MemoryLimiter
from relaygate.governance.redis_limits import LIMITS, RedisLimiter, new_instance
from relaygate.store.redis import connect, redacted
from relaygate.store.redis_batch import ScriptBatch


def instance(client, alive: float = 5.0) -> RedisLimiter:
    """One more gateway instance on the same Redis (its own instance id)."""
    return RedisLimiter(ScriptBatch(client, [LIMITS], on_error=print), new_instance(), alive)


def headers(verdict) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in verdict.headers}


def run(redis_server, body):
    """`await body(limiter, key)` with a fresh key name on the session's Redis."""
    async def main():
        client = connect(redis_server.url)
        try:
            return await body(instance(client), f"key-{uuid.uuid4().hex[:8]}")
        finally:
            await client.aclose()
    return asyncio.run(main())


def test_a_burst_of_n_plus_k_admits_exactly_n(redis_server):
    async def body(limiter, key):
        return [await limiter.admit(key, KeyLimits(rpm=60), 1) for _ in range(65)]
    verdicts = run(redis_server, body)
    assert [v.allowed for v in verdicts] == [True] * 60 + [False] * 5
    refused = verdicts[-1]
    assert refused.reason == "requests" and 0 < refused.retry_after <= 1.0
    assert headers(refused)["x-ratelimit-remaining-requests"] == "0"
    assert all(v.shared for v in verdicts[:60])


def test_limits_that_do_not_divide_the_minute_evenly_admit_exactly_the_limit(redis_server):
    async def body(limiter, key):
        return [(await limiter.admit(key, KeyLimits(rpm=7), 1)).allowed for _ in range(10)]
    assert run(redis_server, body) == [True] * 7 + [False] * 3


def test_headers_are_the_memory_limiters(redis_server):
    limits = KeyLimits(rpm=10, tpm=1000)
    async def body(limiter, key):
        return await limiter.admit(key, limits, 100)
    assert headers(run(redis_server, body)) == headers(MemoryLimiter().admit("k", limits, 100, now=0))


def test_keys_do_not_share_limits(redis_server):
    async def body(limiter, key):
        first = await limiter.admit(key + "a", KeyLimits(rpm=1), 1)
        other = await limiter.admit(key + "b", KeyLimits(rpm=1), 1)
        again = await limiter.admit(key + "a", KeyLimits(rpm=1), 1)
        return first.allowed, other.allowed, again.allowed
    assert run(redis_server, body) == (True, True, False)


def test_tokens_are_reserved_then_settled_with_real_usage(redis_server):
    limits = KeyLimits(tpm=60)  # refills one token a second
    async def body(limiter, key):
        assert (await limiter.admit(key, limits, 40)).allowed
        refused = await limiter.admit(key, limits, 30)  # 40 + 30 > 60
        await limiter.settle(key, limits, give_back=30)  # the answer used only 10
        return refused, await limiter.admit(key, limits, 30)
    refused, verdict = run(redis_server, body)
    assert not refused.allowed and refused.reason == "tokens" and 9 < refused.retry_after <= 10
    assert verdict.allowed and int(headers(verdict)["x-ratelimit-remaining-tokens"]) in (20, 21)


def test_settling_can_charge_more_than_was_reserved(redis_server):
    limits = KeyLimits(tpm=60)
    async def body(limiter, key):
        await limiter.admit(key, limits, 10)
        await limiter.settle(key, limits, give_back=-40)  # reserved 10, the answer used 50
        return await limiter.admit(key, limits, 20)
    refused = run(redis_server, body)
    assert not refused.allowed and int(headers(refused)["x-ratelimit-remaining-tokens"]) in (10, 11)


def test_a_token_refusal_does_not_spend_a_request(redis_server):
    async def body(limiter, key):
        assert (await limiter.admit(key, KeyLimits(rpm=2, tpm=100), 100)).allowed
        refused = await limiter.admit(key, KeyLimits(rpm=2, tpm=100), 50)
        return refused, await limiter.admit(key, KeyLimits(rpm=2), 1)
    refused, after = run(redis_server, body)
    assert refused.reason == "tokens" and not refused.allowed
    assert after.allowed and headers(after)["x-ratelimit-remaining-requests"] == "0"


def test_concurrency_is_held_until_settled(redis_server):
    limits = KeyLimits(max_concurrency=2)
    async def body(limiter, key):
        taken = [(await limiter.admit(key, limits, 1)).allowed for _ in range(2)]
        refused = await limiter.admit(key, limits, 1)
        await limiter.settle(key, limits, 0)
        return taken, refused, await limiter.admit(key, limits, 1)
    taken, refused, again = run(redis_server, body)
    assert taken == [True, True] and refused.reason == "concurrency" and refused.retry_after == 1.0
    assert again.allowed


def test_instances_share_every_limit(redis_server):
    async def body(first, key):
        second = instance(first.batch.client)
        slots = KeyLimits(max_concurrency=3)
        held = [(await limiter.admit(key, slots, 1)).allowed for limiter in (first, second, first, second)]
        rpm = KeyLimits(rpm=4)
        taken = [(await limiter.admit(key + "r", rpm, 1)).allowed for limiter in (first, second) * 3]
        return held, taken
    held, taken = run(redis_server, body)
    assert held == [True, True, True, False]
    assert taken == [True] * 4 + [False] * 2


def test_a_dead_instance_stops_holding_slots(redis_server):
    """An instance that stops beating (it crashed) loses its slots once its heartbeat runs out."""
    limits = KeyLimits(max_concurrency=1)
    async def body(survivor, key):
        dying = instance(survivor.batch.client, alive=0.3)
        assert (await dying.admit(key, limits, 1)).allowed
        refused = await survivor.admit(key, limits, 1)
        await asyncio.sleep(0.5)
        return refused, await survivor.admit(key, limits, 1)
    refused, after = run(redis_server, body)
    assert refused.reason == "concurrency" and after.allowed


def test_a_settlement_without_a_slot_never_frees_another_instances(redis_server):
    limits = KeyLimits(max_concurrency=1)
    async def body(first, key):
        second = instance(first.batch.client)
        assert (await first.admit(key, limits, 1)).allowed
        await second.settle(key, limits, 0)  # e.g. its slot was forgotten when Redis restarted
        return await second.admit(key, limits, 1)
    assert run(redis_server, body).reason == "concurrency"


def test_the_script_is_loaded_again_after_redis_forgot_it(redis_server):
    async def body(limiter, key):
        await limiter.batch.client.script_flush()
        return await limiter.admit(key, KeyLimits(rpm=1), 1)
    assert run(redis_server, body).allowed


@pytest.mark.parametrize("url, shown", [
    ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    ("redis://:s3cret@cache:6380/1", "redis://***@cache:6380/1"),
    ("rediss://user:s3cret@cache/0", "rediss://***@cache/0"),
])
def test_urls_are_logged_without_their_password(url, shown):
    assert redacted(url) == shown

"""store/redis_batch.py's own RESP encoder against redis-py's, and the batch against a real Redis."""

from __future__ import annotations

import asyncio
import hashlib

from redis.asyncio import Redis
from redis.asyncio.connection import Connection
from redis.exceptions import ResponseError

from relaygate.store.redis_batch import Script, ScriptBatch, evalsha


def test_evalsha_is_what_redis_py_would_send():
    script = Script("probe", "return 1", "0123456789abcdef0123456789abcdef01234567")
    reference = Connection()
    cases = [
        # 1 and 1.0 are equal keys to a cache, but not the same text
        (["rg:limits:team-a:requests", "rg:instances"], ["admit", "inst01", 15_000_000, 0, 21, 1, 1.0]),
        (["rg:limits:équipe-京都:tokens"], ["settle", -40, "1", 10_000_000_000, 0.5]),
        ([], []),
        (["k"] * 12, list(range(12))),
    ]
    for keys, args in cases:
        for _ in range(2):  # made, then from the kept pieces
            assert evalsha(script, keys, args) == b"".join(
                reference.pack_command("EVALSHA", script.sha, len(keys), *keys, *args))


def test_a_batch_sends_every_call_and_hands_out_each_answer(redis_server):
    """Calls made in one loop turn go out together; each gets its own answer, an error answer too."""
    text = "if ARGV[1] == 'fail' then return redis.error_reply('refused') end return {KEYS[1], ARGV[1]}"
    script = Script("echo", text, hashlib.sha1(text.encode()).hexdigest())

    async def body() -> list:
        client = Redis.from_url(redis_server.url)
        batch = ScriptBatch(client, [script], lambda exc: None)
        await batch.load()
        futures = [batch.call(script, [f"key-{n}"], [n if n != 3 else "fail"]) for n in range(6)]
        answers = await asyncio.gather(*futures, return_exceptions=True)
        await client.aclose()
        return answers

    answers = asyncio.run(body())
    assert answers[:3] + answers[4:] == [[f"key-{n}".encode(), str(n).encode()] for n in (0, 1, 2, 4, 5)]
    assert isinstance(answers[3], ResponseError) and "refused" in str(answers[3])


def test_calls_made_while_a_batch_is_out_go_together_next(redis_server):
    """One batch at a time: what comes in meanwhile waits for it, then goes as one batch."""
    text = "return ARGV[1]"
    script = Script("one", text, hashlib.sha1(text.encode()).hexdigest())

    async def body() -> tuple[list, list[int]]:
        client = Redis.from_url(redis_server.url)
        batch = ScriptBatch(client, [script], lambda exc: None)
        await batch.load()
        sizes: list[int] = []
        send = batch._send

        async def counted(calls):
            sizes.append(len(calls))
            await send(calls)

        batch._send = counted
        first = [batch.call(script, [], [n]) for n in range(3)]
        await asyncio.sleep(0)  # the first batch is out now
        later = []
        for n in range(3, 10):
            later.append(batch.call(script, [], [n]))
            await asyncio.sleep(0)
        answers = await asyncio.gather(*first, *later)
        await batch.drain()
        await client.aclose()
        return answers, sizes

    answers, sizes = asyncio.run(body())
    assert answers == [str(n).encode() for n in range(10)]
    assert sizes[0] == 3 and sum(sizes) == 10 and len(sizes) < 8  # the later calls did not go one by one

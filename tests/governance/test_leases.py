"""governance/leases.py against a real redis-server: a key with large limits takes its allowance from
Redis in blocks and spends them locally; instances still share the limits, to within a block."""

from __future__ import annotations

import asyncio
import time
import uuid

from _budgets import fronts, spend
from _redis import RedisServer

from hypothesis import given
from hypothesis import strategies as st

from relaygate.governance.leases import IDLE, LeasedLimits, Share, blocks
from relaygate.governance.limits import KeyLimits
from relaygate.governance.redis_limits import LIMITS, RedisLimiter, new_instance
from relaygate.store.redis import connect
from relaygate.store.redis_batch import ScriptBatch


class Counted(ScriptBatch):
    """A ScriptBatch that counts the script calls this instance makes."""

    calls = 0

    def call(self, script, keys, args):
        self.calls += 1
        return super().call(script, keys, args)


def instance(client) -> LeasedLimits:
    return LeasedLimits(RedisLimiter(Counted(client, [LIMITS], on_error=print), new_instance()))


def run(redis_server, body):
    async def main():
        client = connect(redis_server.url)
        try:
            return await body(client, f"key-{uuid.uuid4().hex[:8]}")
        finally:
            await client.aclose()
    return asyncio.run(main())


async def admit(leases: LeasedLimits, key: str, limits: KeyLimits, tokens: int = 1):
    return await leases.admit(key, limits, blocks(limits), tokens, time.monotonic())


def test_only_keys_whose_every_limit_is_large_are_leased():
    assert blocks(KeyLimits(rpm=100_000, tpm=10_000_000, max_concurrency=1000)) == (100, 10_000, 10)
    assert blocks(KeyLimits(rpm=60)) is None  # per request, exactly
    assert blocks(KeyLimits(rpm=100_000, max_concurrency=10)) is None  # one small limit is enough
    assert blocks(KeyLimits()) is None


def test_a_leased_key_asks_redis_once_a_block_and_the_headers_count_down(redis_server):
    limits = KeyLimits(rpm=10_000, tpm=1_000_000)  # blocks of 10 requests and 1,000 tokens

    async def body(client, key):
        leases = instance(client)
        verdicts = [await admit(leases, key, limits, 50) for _ in range(30)]
        return verdicts, leases.shared.batch.calls

    verdicts, calls = run(redis_server, body)
    assert all(v.allowed for v in verdicts)
    assert calls == 3  # 30 requests in blocks of 10 (the tokens' blocks of 1,000 cover 20 requests each)
    remaining = [int(dict(v.headers)[b"x-ratelimit-remaining-requests"]) for v in verdicts]
    assert remaining[0] >= remaining[-1] and 9_960 <= remaining[-1] <= 9_972
    assert all(dict(v.headers)[b"x-ratelimit-limit-tokens"] == b"1000000" for v in verdicts)


def test_two_instances_share_a_leased_limit_to_within_a_block_each(redis_server):
    limits = KeyLimits(rpm=4000)  # blocks of 4

    async def body(client, key):
        first, second = instance(client), instance(client)
        admitted, started = 0, time.monotonic()
        for n in range(4200):
            admitted += (await admit(first if n % 2 else second, key, limits)).allowed
        return admitted, time.monotonic() - started

    admitted, elapsed = run(redis_server, body)
    refilled = elapsed * 4000 / 60 + 1  # the minute's allowance comes back meanwhile
    assert 4000 - 2 * 4 <= admitted <= 4000 + refilled


def test_an_idle_keys_block_goes_back_and_owed_tokens_are_charged(redis_server):
    limits = KeyLimits(tpm=10_000, max_concurrency=300)  # blocks of 10 tokens and 3 slots

    async def body(client, key):
        first, second = instance(client), instance(client)
        verdict = await admit(first, key, limits, 5)
        first.settle(key, limits, verdict.reserved, 45)  # used 40 more than it reserved: owed
        held = (first.shares[key].tokens, first.shares[key].slots, first.shares[key].busy)
        first.give_back(time.monotonic() + IDLE)
        await first.shared.batch.drain()
        probe = await admit(second, key, limits, 1)
        return held, key in first.shares, probe

    began = time.monotonic()
    (tokens, slots, busy), kept, probe = run(redis_server, body)
    refilled = (time.monotonic() - began) * 10_000 / 60 + 1  # the minute's allowance comes back meanwhile
    assert (tokens, slots, busy) == (5 - 40, 3, 0)
    assert not kept  # idle and nothing in flight: the share is gone, its block given back
    # everything the first instance took or owed is charged: 45 tokens, then the second's block of 10
    assert 10_000 - 45 - 10 <= int(dict(probe.headers)[b"x-ratelimit-remaining-tokens"]) <= 10_000 - 45 + refilled


def test_a_request_that_outlives_its_keys_block_settles_with_redis_itself(redis_server):
    """A long request on a key that went idle meanwhile: its block went back, so its real usage
    (here 400 tokens more than it reserved) is charged in Redis directly."""
    limits = KeyLimits(tpm=100_000)  # blocks of 100 tokens

    async def body(client, key):
        first, second = instance(client), instance(client)
        verdict = await admit(first, key, limits, 50)
        first.give_back(time.monotonic() + IDLE)  # idle while the request ran: the block goes back
        first.settle(key, limits, verdict.reserved, 450)
        await first.shared.batch.drain()
        return await admit(second, key, limits, 1)

    began = time.monotonic()
    probe = run(redis_server, body)
    refilled = (time.monotonic() - began) * 100_000 / 60 + 1  # as above: 1.7 tokens a millisecond
    # 450 used by the first instance, then the second's block of 100
    assert 100_000 - 450 - 100 <= int(dict(probe.headers)[b"x-ratelimit-remaining-tokens"]) <= 100_000 - 450 + refilled


def test_concurrency_blocks_refuse_past_the_shared_limit(redis_server):
    limits = KeyLimits(rpm=100_000, max_concurrency=200)  # blocks of 2 slots

    async def body(client, key):
        first, second = instance(client), instance(client)
        verdicts = [await admit(first if n % 2 else second, key, limits) for n in range(201)]
        return verdicts

    verdicts = run(redis_server, body)
    assert [v.allowed for v in verdicts[:200]] == [True] * 200
    assert verdicts[200].reason == "concurrency"


# Budgets: small requests against a large budget are reserved from blocks of it (shared_budgets.py)

from datetime import date  # noqa: E402
from decimal import Decimal  # noqa: E402

from relaygate.governance.budgets import Budget  # noqa: E402
from relaygate.governance.shared_budgets import BudgetShare, Budgets  # noqa: E402

NOW = date(2026, 12, 7)  # the UTC day budgets are counted on


async def shared_state(front: Budgets, key: str, budget: Budget) -> tuple[Decimal, Decimal]:
    """(spent, held by requests in flight) as Redis has them."""
    _, spent, held = await front.limiter.budgets.reserve(key, budget, Decimal(0), NOW)
    return spent, held


def test_a_large_budget_is_reserved_in_blocks_and_booked_exactly(redis_server):
    key, budget = f"key-{uuid.uuid4().hex[:8]}", Budget(Decimal("10"))  # blocks of $0.01

    async def main():
        front, = await fronts(redis_server.url, 1)
        calls = []
        real = front.limiter.budgets.reserve

        async def counted(*args):
            calls.append(args)
            return await real(*args)

        front.limiter.budgets.reserve = counted
        for _ in range(100):
            hold = await front.reserve(key, budget, Decimal("0.0004"), NOW)
            front.settle(key, hold, Decimal("0.0003"), NOW)
        before = len(calls)
        front.book()  # the watcher's round: costs into Redis's counters
        await front.limiter.shared.batch.drain()
        booked = await shared_state(front, key, budget)
        front.shares[key].last -= IDLE  # idle since: its block goes back
        front.book()
        await front.limiter.shared.batch.drain()
        returned = await shared_state(front, key, budget)
        await front.limiter.stop()
        return before, booked, returned, front.ledger.spent(key, None, NOW)

    calls, (spent, held), (spent_after, held_after), local = asyncio.run(main())
    # a block of $0.01 covers a request while $0.0004 of it is free: 33 requests ($0.0003 each) a block
    assert calls == 4
    assert spent == Decimal("0.03") == local and held == Decimal("0.01")  # booked; the rest of the blocks held
    assert (spent_after, held_after) == (Decimal("0.03"), 0)


def test_blocks_on_two_instances_never_pass_the_budget(redis_server):
    key, budget = f"key-{uuid.uuid4().hex[:8]}", Budget(Decimal("0.50"))  # blocks of $0.0005

    async def main():
        first, second = await fronts(redis_server.url, 2)

        admitted = 0
        for _ in range(30):  # rounds of 100 requests at once, booked between rounds
            admitted += sum(await asyncio.gather(*(spend((first, second)[n % 2], key, budget, Decimal("0.0002"),
                                                         Decimal("0.0002"), NOW, 0.01) for n in range(100))))
            for front in (first, second):
                front.book()
                await front.limiter.shared.batch.drain()
        spent, _ = await shared_state(first, key, budget)
        for front in (first, second):
            await front.limiter.stop()
        return admitted, spent

    admitted, spent = asyncio.run(main())
    assert spent == Decimal("0.0002") * admitted <= budget.amount
    assert spent >= budget.amount - 2 * Decimal("0.0005") - Decimal("0.0002")  # at most a block each unused


def test_blocks_through_a_redis_outage_fall_back_and_start_afresh():
    """Redis goes away while a key holds blocks: admissions and reservations go on in memory, what was
    admitted from a block still settles, and once Redis answers again new blocks are taken on the new
    connection (the old ones are forgotten with it: their slots and held budget expire by heartbeat)."""
    server = RedisServer()
    server.start()
    limits, budget = KeyLimits(rpm=100_000, tpm=10_000_000), Budget(Decimal("100"))

    async def main():
        front, = await fronts(server.url, 1)
        limiter = front.limiter
        before = await limiter.admit("k", limits, 10)
        hold = await front.reserve("k", budget, Decimal("0.01"), NOW)
        server.stop()
        during = await limiter.admit("k", limits, 10)  # the lease's block still covers it...
        limiter.lost(ConnectionError("gone"))  # ...until a call fails; here the watcher's beat would
        local = await limiter.admit("k", limits, 10)
        local_hold = await front.reserve("k", budget, Decimal("0.01"), NOW)
        limiter.settle("k", limits, before, 12)  # settled where admitted: no call, no error
        front.settle("k", hold, Decimal("0.005"), NOW)
        server.start()
        deadline = time.monotonic() + 10
        while not limiter.redis_up:
            assert time.monotonic() < deadline, "the limiter did not come back to Redis"
            await asyncio.sleep(0.05)
        after = await limiter.admit("k", limits, 10)
        after_hold = await front.reserve("k", budget, Decimal("0.01"), NOW)
        front.book()
        current = limiter.budgets
        await limiter.stop()
        return before, during, local, local_hold, after, hold, after_hold, front, current

    try:
        before, during, local, local_hold, after, hold, after_hold, front, current = asyncio.run(main())
    finally:
        server.destroy()
    assert isinstance(before.shared, LeasedLimits) and during.shared is before.shared
    assert local.allowed and local.shared is None and local_hold.shared is None  # this process's own
    assert isinstance(after.shared, LeasedLimits) and after.shared is not before.shared
    assert isinstance(hold.shared, BudgetShare) and isinstance(after_hold.shared, BudgetShare)
    assert after_hold.shared.shared is current is not hold.shared.shared  # a new block, on the new connection
    assert front.shares == {"k": after_hold.shared}
    assert front.ledger.spent("k", None, NOW) == Decimal("0.005")  # every cost is in the local ledger too


def test_a_request_the_block_covers_is_admitted_without_a_wait_as_admit_would(redis_server):
    """`admit_held`: what the block holds admits at once, with the headers and the reservation `admit`
    gives; what it does not (no block yet, or more tokens than it holds) is None: a lease, awaited."""
    limits = KeyLimits(rpm=10_000, tpm=1_000_000)  # blocks of 10 requests and 1,000 tokens

    async def body(client, key):
        leases, twin = instance(client), instance(client)
        assert leases.admit_held(key, limits, 50, time.monotonic()) is None  # nothing held yet
        first = await admit(leases, key, limits, 50)
        await admit(twin, key + "-twin", limits, 50)
        calls = leases.shared.batch.calls
        now = time.monotonic()
        held = leases.admit_held(key, limits, 50, now)
        awaited = await twin.admit(key + "-twin", limits, blocks(limits), 50, now)
        too_many = leases.admit_held(key, limits, 5_000, now)  # beyond what the block holds
        return first, held, awaited, too_many, leases.shared.batch.calls - calls

    first, held, awaited, too_many, calls = run(redis_server, body)
    assert (held.allowed, held.reserved, held.shared is not None, calls) == (True, 50, True, 0)
    counted = [(name, value) for name, value in held.headers if b"reset" not in name]  # resets: when each was leased
    assert counted == [(name, value) for name, value in awaited.headers if b"reset" not in name]
    assert [name for name, _ in held.headers] == [name for name, _ in awaited.headers]
    assert held.reserved == awaited.reserved and too_many is None


def test_a_reservation_the_budgets_block_covers_takes_no_wait(redis_server):
    """`reserve_held`: from the key's block as `reserve` would reserve it, with no call to Redis; None
    with no block yet, for more than the block has free, and with Redis away."""
    key, budget = f"key-{uuid.uuid4().hex[:8]}", Budget(Decimal("10"))  # blocks of $0.01

    async def main():
        front, = await fronts(redis_server.url, 1)
        none_yet = front.reserve_held(key, budget, Decimal("0.0004"))
        first = await front.reserve(key, budget, Decimal("0.0004"), NOW)
        held = front.reserve_held(key, budget, Decimal("0.0004"))
        reserved = front.shares[key].reserved
        too_much = front.reserve_held(key, budget, Decimal("0.0099"))  # $0.0092 free
        front.limiter.lost(ConnectionError("gone"))
        away = front.reserve_held(key, budget, Decimal("0.0004"))
        await front.limiter.stop()
        return none_yet, first, held, reserved, too_much, away

    none_yet, first, held, reserved, too_much, away = asyncio.run(main())
    assert none_yet is None and too_much is None and away is None
    assert isinstance(held.shared, BudgetShare) and held.shared is first.shared and held.amount == Decimal("0.0004")
    assert reserved == Decimal("0.0008")


_limit = st.none() | st.integers(1, 10**9)


@given(_limit, _limit, _limit, st.integers(-5, 5), st.integers(-50, 50), st.integers(0, 5), st.integers(0, 5),
       st.integers(0, 50))
def test_a_block_serves_a_request_exactly_when_nothing_is_short(rpm, tpm, most, requests, tokens, slots, busy, asked):
    share = Share(KeyLimits(rpm, tpm, most))
    share.requests, share.tokens, share.slots, share.busy = requests, tokens, slots, busy
    short = share.short(share.limits, asked)
    headers = share.held(share.limits, asked, 5.0)
    if short is not None:
        assert headers is None and (share.requests, share.tokens, share.busy) == (requests, tokens, busy)
    else:  # taken: a request, its tokens and a slot, each where its limit is set
        assert (share.requests, share.tokens, share.busy, share.last) == (
            requests - (rpm is not None), tokens - asked * (tpm is not None), busy + (most is not None), 5.0)
        assert headers == share.headers(share.limits, 5.0)

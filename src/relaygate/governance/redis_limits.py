"""RPM, TPM and concurrency limits shared by every instance through Redis.

The rules are MemoryLimiter's; they run in one Lua script (store/lua/limits.lua, loaded once and
called by its SHA), so admitting a request is one atomic script call however many limits the key
has, and settling it is one more, which the request does not wait for. Calls made in the same turn
of the event loop share one round trip (store/redis_batch.py).

Why the state looks the way it does:
- Time is Redis's clock (`TIME` inside the script), so instances whose clocks differ still agree.
- RPM and TPM are token buckets holding a minute's allowance, stored as the level and the instant it
  was read. This is the same rule as the in-memory GCRA (its "theoretical arrival time" is
  `now + (limit - level) * interval`), but a level keeps full precision where an absolute time in
  microseconds, as a Lua double, would not. A bucket expires when it would be full again.
- Concurrency is one hash per key, a count per instance, plus one hash of instances with the time
  each stays alive unless it beats again. Every admission beats for its instance, and the watcher
  beats once a second (ALIVE is five of them). An admission counts only the slots of living
  instances and deletes the others, so a crashed instance's requests stop holding slots within
  ALIVE seconds, and nothing ever needs to be released by the instance that died. The instance id
  is new for every connection, so slots whose settlement was lost while Redis was away are
  forgotten the same way.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from relaygate.governance.leases import Share, lease_result, wanted
from relaygate.governance.limits import KeyLimits, Verdict, given_headers
from relaygate.store.redis_batch import Script, ScriptBatch

ALIVE = 5.0  # seconds an instance's slots count for after its last heartbeat
PREFIX = "relaygate:limits:"
INSTANCES = PREFIX + "instances"
REASONS = {1: "concurrency", 2: "requests", 3: "tokens"}
LIMITS = Script.named("limits")


def new_instance() -> str:
    return uuid.uuid4().hex[:16]


class RedisLimiter:
    def __init__(self, batch: ScriptBatch, instance: str, alive: float = ALIVE) -> None:
        self.batch = batch
        self.instance = instance
        self.alive_us = str(int(alive * 1_000_000))

    def _keys(self, key: str) -> list[str]:
        base = PREFIX + key
        return [base + ":requests", base + ":tokens", base + ":in-flight", INSTANCES]

    async def admit(self, key: str, limits: KeyLimits, tokens: int) -> Verdict:
        args = ["admit", self.instance, self.alive_us, limits.rpm or 0, limits.tpm or 0, tokens,
                limits.max_concurrency or 0]
        verdict, wait, left_requests, reset_requests, left_tokens, reset_tokens = await self.batch.call(
            LIMITS, self._keys(key), args)
        headers = given_headers(limits.packed, left_requests, reset_requests / 1e6, left_tokens, reset_tokens / 1e6)
        if verdict:
            return Verdict(False, headers, wait / 1e6, REASONS[verdict])
        return Verdict(True, headers, shared=self)

    def settle(self, key: str, limits: KeyLimits, give_back: int) -> asyncio.Future[Any]:
        """Free the request's slot and return its unused tokens (negative: charge the excess); sent with
        the next batch, and nobody needs to wait for it."""
        release = "1" if limits.max_concurrency is not None else "0"
        return self.batch.send(LIMITS, self._keys(key), ["settle", self.instance, self.alive_us, limits.tpm or 0,
                                                         give_back, release])

    async def lease(self, key: str, limits: KeyLimits, share: Share, need: tuple[int, int, int],
                    sizes: tuple[int, int, int], now: float) -> Verdict | None:
        """Top a key's block up (governance/leases.py): None when the needs were granted (with as much
        of a block more as was left), else the refusal."""
        want = (wanted(need[0], share.requests, sizes[0]), wanted(need[1], share.tokens, sizes[1]),
                wanted(need[2], share.slots - share.busy, sizes[2]))
        result = await self.batch.call(LIMITS, self._keys(key), [
            "lease", self.instance, self.alive_us, limits.rpm or 0, limits.tpm or 0, limits.max_concurrency or 0,
            *need, *want])
        verdict, wait = lease_result(share, result, now)
        if verdict:
            return Verdict(False, share.headers(limits, now), wait, REASONS[verdict])
        return None

    def give_back(self, key: str, limits: KeyLimits, requests: int, tokens: int, slots: int) -> asyncio.Future[Any]:
        """Unused requests, tokens and slots of a block go back (negative tokens: owed ones charged)."""
        return self.batch.send(LIMITS, self._keys(key), ["return", self.instance, self.alive_us, limits.rpm or 0,
                                                         limits.tpm or 0, requests, tokens, slots])

    async def beat(self) -> None:
        """This instance is alive (and Redis answers): its slots keep counting."""
        await self.batch.call(LIMITS, self._keys(""), ["beat", self.instance, self.alive_us])

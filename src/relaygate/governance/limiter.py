"""The gateway's rate limiter: shared through Redis when `redis` is set and answering, else local.
It owns the connection to Redis, which the budgets (governance/shared_budgets.py) use too.

With Redis configured but unreachable (at start, or gone away later) the gateway keeps serving on
this process's own limits (MemoryLimiter), logs a warning naming Redis, and reports `redis_up`
False; a watcher tries again every second and goes back to the shared limits once Redis answers.
A request is settled where it was admitted. Without `redis` nothing here awaits anything that
suspends: the memory path costs what it did before limits could be shared.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from relaygate.governance.leases import LeasedLimits, blocks
from relaygate.governance.limits import KeyLimits, MemoryLimiter, Verdict

if TYPE_CHECKING:
    from relaygate.governance.redis_budgets import RedisBudgets
    from relaygate.governance.redis_limits import RedisLimiter

log = logging.getLogger("relaygate.limits")

CHECK = 1.0  # seconds between the watcher's looks at Redis


class Limiter:
    def __init__(self, redis_url: str | None = None) -> None:
        self.memory = MemoryLimiter()
        self.url = redis_url
        self.shared: RedisLimiter | None = None
        self.leases: LeasedLimits | None = None  # blocks of large limits, taken through `shared`
        self.budgets: RedisBudgets | None = None  # the same connection and instance, for budgets
        self.on_connect: list[Callable[[RedisBudgets], Awaitable[None]]] = []  # run before going shared
        self.on_beat: list[Callable[[], None]] = []  # run on the watcher's round while Redis answers
        self.redis_up: bool | None = None  # None: no Redis configured; else whether it answers
        self._client: Any = None
        self.errors: tuple[type[BaseException], ...] = ()
        self._watcher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Connect to Redis when configured (never failing the start: local limits meanwhile)."""
        if self.url is None:
            return
        from relaygate.store.redis import ERRORS, connect

        self._client, self.errors = connect(self.url), ERRORS
        try:
            await self._connect()
        except self.errors as exc:
            self.lost(exc)
        self._watcher = asyncio.get_running_loop().create_task(self._watch())

    async def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
        if self.shared is not None:
            await self.shared.batch.drain()
        if self._client is not None:
            await self._client.aclose()

    async def admit(self, key: str, limits: KeyLimits, tokens: int) -> Verdict:
        if self.redis_up:
            try:
                sizes = blocks(limits)
                if sizes is not None:
                    return await self.leases.admit(key, limits, sizes, tokens, time.monotonic())  # type: ignore[union-attr]
                verdict = await self.shared.admit(key, limits, tokens)  # type: ignore[union-attr]
            except self.errors as exc:
                self.lost(exc)
            else:
                verdict.reserved = tokens
                return verdict
        return self.admit_here(key, limits, tokens)

    def admit_held(self, key: str, limits: KeyLimits, tokens: int) -> Verdict | None:
        """`admit` without a wait when this instance's block of the key's shared limits covers the
        request (most requests, with large limits and Redis answering); None when that takes Redis
        or this process's own limits."""
        if not self.redis_up:
            return None
        return self.leases.admit_held(key, limits, tokens, time.monotonic())  # type: ignore[union-attr]

    def admit_here(self, key: str, limits: KeyLimits, tokens: int) -> Verdict:
        """This process's own limits (no Redis configured, or Redis away)."""
        return self.memory.admit(key, limits, tokens, time.monotonic())

    def settle(self, key: str, limits: KeyLimits, verdict: Verdict, used: int | None) -> None:
        """The request is over: its slot is freed and its token estimate corrected, where it was admitted.
        Through Redis this is sent in the background; the request does not wait for it."""
        shared: RedisLimiter | LeasedLimits | None = verdict.shared
        if shared is None:
            self.memory.settle(key, limits, verdict.reserved, used, time.monotonic())
            return
        if isinstance(shared, LeasedLimits):
            shared.settle(key, limits, verdict.reserved, used)
            return
        give_back = min(verdict.reserved, limits.tpm) - used if limits.tpm is not None and used is not None else 0
        if limits.max_concurrency is not None or give_back:
            shared.settle(key, limits, give_back)

    async def _connect(self) -> None:
        from relaygate.governance.redis_budgets import BUDGETS, RedisBudgets
        from relaygate.governance.redis_limits import LIMITS, RedisLimiter, new_instance
        from relaygate.store.redis_batch import ScriptBatch

        instance = new_instance()
        batch = ScriptBatch(self._client, [LIMITS, BUDGETS], partial(self._failed, instance))
        await batch.load()
        shared = RedisLimiter(batch, instance)
        await shared.beat()
        budgets = RedisBudgets(batch, instance, shared.alive_us)
        for hook in self.on_connect:
            await hook(budgets)
        self.shared, self.leases, self.budgets, self.redis_up = shared, LeasedLimits(shared), budgets, True

    def _failed(self, instance: str, exc: BaseException) -> None:
        """A settlement did not reach Redis: what it would have released is forgotten with its
        connection's instance id, and if that is the current connection, Redis is away."""
        if self.shared is not None and instance == self.shared.instance:
            self.lost(exc)

    def lost(self, exc: BaseException) -> None:
        if self.redis_up is not False:
            from relaygate.store.redis import redacted

            log.warning("Redis at %s is unreachable (%s); serving on this instance's own rate limits and "
                        "budgets until it answers again", redacted(self.url or ""), type(exc).__name__)
        self.redis_up = False

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(CHECK)
            try:
                if self.redis_up:
                    await self.shared.beat()  # type: ignore[union-attr]
                    self.leases.give_back(time.monotonic())  # type: ignore[union-attr]
                    for hook in self.on_beat:
                        hook()
                else:
                    await self._connect()
                    log.info("Redis answers again: rate limits and budgets are shared with the other instances again")
            except self.errors as exc:
                self.lost(exc)

"""Script calls to Redis made in the same turn of the event loop go out together, as one pipeline.

Under load many requests are admitted and settled in each turn of the loop; one call each through
redis-py costs a connection from the pool, two timeouts and a round trip apiece. Gathered, they cost
one write and one round trip for the whole turn, and each script call is still atomic on its own
(a pipeline without MULTI only saves the round trips). A call waits at most one turn to be sent.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from relaygate.store.redis import ERRORS, script_text


@dataclass(frozen=True)
class Script:
    name: str
    text: str = field(repr=False)
    sha: str

    @classmethod
    def named(cls, name: str) -> Script:
        text = script_text(name)
        return cls(name, text, hashlib.sha1(text.encode()).hexdigest())


class ScriptBatch:
    """Collects EVALSHA calls and sends them once per loop turn. `on_error` hears of a failed send
    that nobody awaits (a settlement)."""

    def __init__(self, client: Redis, scripts: list[Script], on_error: Callable[[BaseException], None]) -> None:
        self.client = client
        self.scripts = scripts
        self.on_error = on_error
        self._pending: list[tuple[Script, list[Any], list[Any], asyncio.Future[Any]]] = []
        self._flushing: set[asyncio.Task[None]] = set()

    async def load(self) -> None:
        for script in self.scripts:
            await self.client.script_load(script.text)

    def call(self, script: Script, keys: list[Any], args: list[Any]) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        if not self._pending:
            loop.call_soon(self._flush)
        self._pending.append((script, keys, args, future))
        return future

    def send(self, script: Script, keys: list[Any], args: list[Any]) -> asyncio.Future[Any]:
        """A call nobody needs to wait for; a failure goes to `on_error`."""
        future = self.call(script, keys, args)
        future.add_done_callback(self._check)
        return future

    async def drain(self) -> None:
        if self._flushing:
            await asyncio.wait(self._flushing, timeout=1.0)

    def _check(self, future: asyncio.Future[Any]) -> None:
        if not future.cancelled() and future.exception() is not None:
            self.on_error(future.exception())  # type: ignore[arg-type]

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        task = asyncio.get_running_loop().create_task(self._send(batch))
        self._flushing.add(task)
        task.add_done_callback(self._flushing.discard)

    async def _send(self, batch: list[tuple[Script, list[Any], list[Any], asyncio.Future[Any]]]) -> None:
        try:
            results = await self._pipeline(batch)
            if any(isinstance(r, NoScriptError) for r in results):  # Redis restarted, or its scripts flushed
                await self.load()
                results = await self._pipeline(batch)
        except ERRORS as exc:
            results = [exc] * len(batch)
        for (_, _, _, future), result in zip(batch, results):
            if future.done():
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)

    async def _pipeline(self, batch: list[tuple[Script, list[Any], list[Any], asyncio.Future[Any]]]) -> list[Any]:
        pipe = self.client.pipeline(transaction=False)
        for script, keys, args, _ in batch:
            pipe.evalsha(script.sha, len(keys), *keys, *args)
        return await pipe.execute(raise_on_error=False)

"""Script calls to Redis made in the same turn of the event loop go out together, as one pipeline.

Under load many requests are admitted and settled in each turn of the loop; one call each through
redis-py costs a connection from the pool, two timeouts, its general-purpose encoder and a round
trip apiece. Gathered, they cost one write and one round trip for the whole turn, and each script call is still atomic on its own
(a pipeline without MULTI only saves the round trips). A call waits at most one turn to be sent.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError, ResponseError

from relaygate.store.redis import ERRORS, TIMEOUT, script_text


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
    """Collects EVALSHA calls and sends them once per loop turn, one batch at a time: calls made
    while a batch is out wait for its answers (a round trip to Redis, well under a millisecond)
    and go together next, so the busier the gateway, the fewer and fuller the batches. `on_error`
    hears of a failed send that nobody awaits (a settlement)."""

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
        if not self._pending and not self._flushing:
            loop.call_soon(self._flush)
        self._pending.append((script, keys, args, future))
        return future

    def send(self, script: Script, keys: list[Any], args: list[Any]) -> asyncio.Future[Any]:
        """A call nobody needs to wait for; a failure goes to `on_error`."""
        future = self.call(script, keys, args)
        future.add_done_callback(self._check)
        return future

    async def drain(self, timeout: float = 1.0) -> None:
        """Until every call made so far has its answer (or the time is up)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._flushing and loop.time() < deadline:
            await asyncio.wait(set(self._flushing), timeout=deadline - loop.time())

    def _check(self, future: asyncio.Future[Any]) -> None:
        if not future.cancelled() and future.exception() is not None:
            self.on_error(future.exception())  # type: ignore[arg-type]

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        task = asyncio.get_running_loop().create_task(self._send(batch))
        self._flushing.add(task)
        task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._flushing.discard(task)
        if self._pending:
            self._flush()

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
        """One write of every call, then their answers in order, on one of the pool's connections
        (parsed by hiredis); an error answer is that call's own result."""
        pool = self.client.connection_pool
        connection = await pool.get_connection()
        try:
            await connection.send_packed_command(b"".join([evalsha(s, k, a) for s, k, a, _ in batch]), False)
            results: list[Any] = []
            async with asyncio.timeout(TIMEOUT):  # one limit for the batch, not a timer per answer
                for _ in batch:
                    try:
                        results.append(await connection.read_response(timeout=math.inf))
                    except ResponseError as exc:
                        results.append(exc)
            return results
        except BaseException:
            await connection.disconnect()  # answers may be left unread on it
            raise
        finally:
            await pool.release(connection)


def evalsha(script: Script, keys: list[Any], args: list[Any]) -> bytes:
    """The command in Redis's protocol (RESP). Written here because redis-py's general encoder cost
    five times as much CPU (about 117 against 22 µs per call measured on the test machine); the
    pieces are kept once made, as most values recur in every call (keys, instance, limits)."""
    return b"".join([_head(script.sha, len(keys) + len(args), len(keys)), *map(_bulk, keys), *map(_bulk, args)])


@lru_cache(maxsize=64)
def _head(sha: str, values: int, keys: int) -> bytes:
    count = str(keys).encode()
    return b"*%d\r\n$7\r\nEVALSHA\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (values + 3, len(sha), sha.encode(), len(count), count)


@lru_cache(maxsize=4096, typed=True)
def _bulk(value: Any) -> bytes:
    data = str(value).encode()
    return b"$%d\r\n%s\r\n" % (len(data), data)

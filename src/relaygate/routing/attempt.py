"""Trying deployments in order until one answers: retries and fallback, before the first byte.

An attempt that fails before anything reached the client (connect error, timeout, 429, 5xx, 529,
a provider rejecting its key) moves on to the next deployment in the plan; once every deployment
was tried, the plan starts over with exponential backoff and jitter. A `retry-after` is honoured:
never retried sooner, and when it asks for more than `backoff.max` the error goes to the client.
`max_attempts` and the overall `deadline` bound it all. Errors about the request itself (an
upstream 400) are not retried. Once bytes went out, a failure ends the answer where it is: it is
never retried into a duplicated answer.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, TypeVar

from relaygate.config import Routing
from relaygate.errors import GatewayError, NoHealthyUpstream, UpstreamAuthError, UpstreamClientError
from relaygate.routing.health import HealthBook
from relaygate.routing.plan import plan_attempts
from relaygate.routing.preferences import Preferences
from relaygate.routing.resolve import Target

log = logging.getLogger("relaygate.routing")

T = TypeVar("T")
KEY_OUT_SECONDS = 300.0  # a provider key that was rejected rests this long before it is tried again


@dataclass(slots=True)
class Outcome:
    """What an attempt that reached the client reports about the upstream."""

    ttft: float  # seconds to the first byte of the answer
    duration: float = 0.0
    tokens: int = 0
    broke_off: bool = False  # failed after the first byte


@dataclass(slots=True)
class AttemptRecord:
    provider: str
    model: str
    status: int
    error: str | None
    seconds: float


Call = Callable[[Target, "str | None"], Awaitable[tuple[T, Outcome]]]


class Router:
    def __init__(self, routing: Routing, rng: random.Random | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.routing = routing
        self.health = HealthBook(routing.circuit)
        self.rng = rng or random.Random()
        self.clock = clock

    def plan(self, groups: list[list[Target]], prefs: Preferences, request: dict[str, Any]) -> list[Target]:
        return plan_attempts(groups, prefs, request, self.health, self.rng)

    async def run(self, plan: list[Target], call: Call[T], attempts: list[AttemptRecord]) -> T:
        deadline = self.clock() + self.routing.deadline
        last: GatewayError | None = None
        tried: set[tuple[str, str]] = set()
        position = 0
        for n in range(self.routing.max_attempts):
            target = self._next_admitted(plan, position)
            if target is None:
                break
            position = plan.index(target) + 1
            if target.key in tried:
                wait = self._backoff(n, last)
                if wait > self.routing.backoff.max or self.clock() + wait > deadline:
                    self.health.released(target.key)  # the upstream asks for a longer rest: pass it on
                    break
                await asyncio.sleep(wait)
            tried.add(target.key)
            try:
                return await self._attempt(target, call, attempts)
            except GatewayError as exc:
                if not _worth_another(exc):
                    raise
                last = exc
        if last is not None:
            raise last
        raise NoHealthyUpstream("No healthy deployment can serve this model right now; try again shortly.")

    async def _attempt(self, target: Target, call: Call[T], attempts: list[AttemptRecord]) -> T:
        key = target.upstream.next_key(self.clock())
        started = self.clock()
        try:
            result, outcome = await call(target, key)
        except GatewayError as exc:
            attempts.append(AttemptRecord(target.upstream.name, target.model, exc.status, exc.code,
                                          self.clock() - started))
            self._failed(target, key, exc)
            raise
        except BaseException:
            self.health.released(target.key)
            raise
        attempts.append(AttemptRecord(target.upstream.name, target.model, 200, None, self.clock() - started))
        if outcome.broke_off:
            self.health.failed(target.key, self.clock())
        else:
            self.health.succeeded(target.key, outcome.ttft, outcome.tokens, outcome.duration)
        return result

    def _next_admitted(self, plan: list[Target], position: int) -> Target | None:
        now = self.clock()
        for i in range(len(plan)):
            target = plan[(position + i) % len(plan)]
            if target.upstream.has_usable_key(now) and self.health.admit(target.key, now):
                return target
        return None

    def _failed(self, target: Target, key: str | None, exc: GatewayError) -> None:
        now = self.clock()
        if isinstance(exc, UpstreamAuthError):
            target.upstream.take_key_out(key, now + KEY_OUT_SECONDS)
            index = target.upstream.keys.index(key) + 1 if key in target.upstream.keys else 0
            log.error("provider %s rejected its API key #%d; it rests for %.0fs", target.upstream.name, index,
                      KEY_OUT_SECONDS)
        if not exc.retryable:
            self.health.released(target.key)
            return
        if self.health.failed(target.key, now):
            log.warning("circuit open for %s/%s after repeated failures", target.upstream.name, target.model)

    def _backoff(self, n: int, last: GatewayError | None) -> float:
        backoff = self.routing.backoff
        wait = min(backoff.max, backoff.initial * 2 ** max(n - 1, 0)) * self.rng.uniform(0.5, 1.0)
        if isinstance(last, UpstreamClientError) and last.retry_after:
            try:
                wait = max(wait, float(last.retry_after))
            except ValueError:
                pass
        return wait


def _worth_another(exc: GatewayError) -> bool:
    return exc.retryable or isinstance(exc, UpstreamAuthError)

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
from relaygate.routing.hedge import SOLE, Lease, LostRace, Race
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
    started: float = 0.0  # the router's clock when the attempt began (traces place it in time)


Call = Callable[[Target, "str | None", Lease], Awaitable[tuple[T, Outcome]]]


class Router:
    def __init__(self, routing: Routing, rng: random.Random | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.routing = routing
        self.health = HealthBook(routing.circuit)
        self.rng = rng or random.Random()
        self.clock = clock

    def plan(self, groups: list[list[Target]], prefs: Preferences, request: dict[str, Any]) -> list[Target]:
        return plan_attempts(groups, prefs, request, self.health, self.rng)

    async def run(
        self, plan: list[Target], call: Call[T], attempts: list[AttemptRecord], hedge_after: float | None = None
    ) -> T:
        run = _Run(self, plan, call, attempts)
        if hedge_after is not None and len(plan) > 1:
            won, result = await run.hedged(hedge_after)
            if won:
                return result
        return await run.sequential()

    async def attempt(self, target: Target, call: Call[T], attempts: list[AttemptRecord], lease: Lease) -> T:
        key = target.upstream.next_key(self.clock())
        started = self.clock()
        health = self.health.of(target.key)
        health.requests += 1
        health.in_flight += 1
        try:
            result, outcome = await call(target, key, lease)
        except GatewayError as exc:
            attempts.append(AttemptRecord(target.upstream.name, target.model, exc.status, exc.code,
                                          self.clock() - started, started))
            self._failed(target, key, exc)
            raise
        except (asyncio.CancelledError, LostRace):
            if lease.race is not None:  # a hedge that lost; a client that left records nothing
                attempts.append(AttemptRecord(target.upstream.name, target.model, 0, "hedge_lost",
                                              self.clock() - started, started))
            self.health.released(target.key)
            raise
        finally:
            health.in_flight -= 1
        attempts.append(AttemptRecord(target.upstream.name, target.model, 200, None, self.clock() - started,
                                      started))
        if outcome.broke_off:
            self.health.failed(target.key, self.clock())
        else:
            self.health.succeeded(target.key, outcome.ttft, outcome.tokens, outcome.duration)
        return result

    def hedge_delay(self, setting: float | str | None, plan: list[Target]) -> float | None:
        """Seconds before a second deployment starts: as configured, or the first one's live p95."""
        if setting is None or not plan:
            return None
        if setting == "p95":
            return self.health.of(plan[0].key).ttft_percentile(0.95)
        return float(setting)

    def next_admitted(self, plan: list[Target], position: int, skip: set[tuple[str, str]]) -> Target | None:
        now = self.clock()
        for i in range(len(plan)):
            target = plan[(position + i) % len(plan)]
            if target.key in skip:
                continue
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


class _Run:
    """The state of one request's attempts: what was tried, where the plan stands, the last error."""

    def __init__(self, router: Router, plan: list[Target], call: Call[T], attempts: list[AttemptRecord]) -> None:
        self.router = router
        self.plan = plan
        self.call = call
        self.attempts = attempts
        self.deadline = router.clock() + router.routing.deadline
        self.tried: set[tuple[str, str]] = set()
        self.position = 0
        self.count = 0
        self.last: GatewayError | None = None

    def _take(self, skip: set[tuple[str, str]]) -> Target | None:
        target = self.router.next_admitted(self.plan, self.position, skip)
        if target is not None:
            self.position = self.plan.index(target) + 1
            self.count += 1
        return target

    async def sequential(self) -> T:
        router = self.router
        while self.count < router.routing.max_attempts:
            target = self._take(set())
            if target is None:
                break
            if target.key in self.tried:
                wait = router._backoff(self.count - 1, self.last)
                if wait > router.routing.backoff.max or router.clock() + wait > self.deadline:
                    router.health.released(target.key)  # the upstream asks for a longer rest: pass it on
                    break
                await asyncio.sleep(wait)
            self.tried.add(target.key)
            try:
                return await router.attempt(target, self.call, self.attempts, SOLE)
            except GatewayError as exc:
                if not _worth_another(exc):
                    raise
                self.last = exc
        if self.last is not None:
            raise self.last
        raise NoHealthyUpstream("No healthy deployment can serve this model right now; try again shortly.")

    async def hedged(self, delay: float) -> tuple[bool, Any]:
        """Start the first deployment; if it has not answered within `delay`, race a second one.
        Returns (True, result) when one won; (False, None) leaves the rest to `sequential`."""
        race = Race()
        first = self._take(set())
        if first is None:
            return False, None
        pending = {self._spawn(first, race)}
        done, _ = await asyncio.wait(pending, timeout=delay)
        if not done:
            second = self._take(self.tried)
            if second is not None:
                pending.add(self._spawn(second, race))
        try:
            return await self._first_winner(pending)
        finally:
            for task in pending:
                task.cancel()

    def _spawn(self, target: Target, race: Race) -> asyncio.Task[Any]:
        self.tried.add(target.key)
        lease = race.lease()
        task = asyncio.get_running_loop().create_task(self.router.attempt(target, self.call, self.attempts, lease))
        race.enter(lease, task)
        return task

    async def _first_winner(self, pending: set[asyncio.Task[Any]]) -> tuple[bool, Any]:
        while pending:
            done, rest = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            pending.clear()
            pending.update(rest)
            for task in done:
                if task.cancelled() or isinstance(task.exception(), LostRace):
                    continue
                exc = task.exception()
                if exc is None:
                    return True, task.result()
                if not (isinstance(exc, GatewayError) and _worth_another(exc)):
                    raise exc
                self.last = exc
        return False, None

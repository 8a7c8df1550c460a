"""POST /v1/chat/completions (and under every mount): parse once, authenticate, plan, attempt, relay."""

from __future__ import annotations

import logging
import time
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any, Coroutine

import orjson

from relaygate.errors import GatewayError, InvalidRequest, RateLimited
from relaygate.governance.budgets import ZERO, max_cost, output_allowance, utc_today
from relaygate.governance.limits import estimate_prompt_tokens
from relaygate.ingress.chat_call import ChatCall, choices
from relaygate.ingress.disconnect import cancel_on_disconnect
from relaygate.ingress.http import (
    Headers, Receive, Scope, Send, client_request_id, header, read_body, send_bytes,
)
from relaygate.metering.record import usage_record
from relaygate.routing.preferences import Preferences, parse_preferences
from relaygate.routing.resolve import Target, Upstream
from relaygate.wire.openai_chat import check_chat_request

if TYPE_CHECKING:
    from relaygate.app import Gateway
    from relaygate.governance.keys import ClientKey
    from relaygate.governance.limits import Verdict
    from relaygate.governance.shared_budgets import Hold
    from relaygate.metering.usage import UsageRecord

log = logging.getLogger("relaygate.chat")
Governed = tuple[Any, Any]  # (the budget's Hold or None, the limits' Verdict or None)
LIMIT_NAMES = {"requests": "requests per minute", "tokens": "tokens per minute", "concurrency": "requests in flight"}


class ChatCompletions:
    """One chat endpoint: the default `/v1`, a provider's mount (native model names, `scope` set),
    or an extra mount (whole catalog, optionally answering inside an envelope)."""

    def __init__(self, gateway: Gateway, scope: Upstream | None = None, envelope: bool = False) -> None:
        self.gateway = gateway
        self.scope = scope
        self.envelope = envelope

    async def __call__(self, scope: Scope, receive: Receive, send: Send, headers: Headers) -> None:
        gateway = self.gateway
        began = time.monotonic()
        key: ClientKey | None = None
        body: Any = None
        try:
            key = gateway.keys.authenticate(header(scope, b"authorization"))
            raw = await read_body(receive, gateway.config.server.max_body_bytes)
            body = check_chat_request(parse_json(raw))
            prefs = parse_preferences(body, gateway.resolver.upstreams)
            groups, aliased = self._candidates(body, prefs, key)
            plan = gateway.router.plan(groups, prefs, body)
            hedge = gateway.router.hedge_delay(gateway.config.routing.hedge.get(body["model"]), plan)
            estimate = estimate_prompt_tokens(raw)
            if gateway.limiter.redis_up:
                governed = self._govern_shared(key, body, estimate, plan, headers)
                budget, admission = governed if governed.__class__ is tuple else await governed
            else:
                budget, admission = self._govern_here(key, body, estimate, plan, headers)
        except GatewayError as exc:
            gateway.observer.refused(headers, key, body, exc, began)
            raise
        call = ChatCall(self, key, body, raw, aliased, headers)
        call.admission, call.budget = admission, budget
        gateway.observer.admitted(body.get("stream") is True)
        status, error_code = 200, None
        try:
            async with cancel_on_disconnect(receive) as guard:
                await self._answer(call, plan, hedge, send, guard)
            if guard.client_left:
                status, error_code = 499, "client_disconnected"
        except GatewayError as exc:
            status, error_code = exc.status, exc.code
            raise
        finally:
            record = self._record(call, status, error_code)
            gateway.observer.finished(record, call.body, call.attempts, call.began)

    def _record(self, call: ChatCall, status: int, error_code: str | None) -> UsageRecord:
        """The request's usage record, made and journaled once, and the request settled with the
        key's limits (its real usage) and budget (its real cost). An answer that completed is
        recorded and settled just before its last bytes go out: a process killed once the client has
        it still has its record, and a next request, on any instance, finds this one's reservation
        given back (through Redis, on its way in the same turn of the loop). Any other request
        when it ends."""
        if call.record is not None:
            return call.record
        attempts = call.attempts if call.answering is None else [*call.attempts, call.answering]
        record = call.record = usage_record(
            request_id=call.headers[0][1].decode(), client_request_id=client_request_id(call.headers),
            key=call.key.name, model=call.body["model"],
            target=call.target, usage=call.usage, cost=call.cost, attempts=attempts,
            status=status, error_code=error_code, stream=call.body.get("stream") is True, estimated=call.estimated,
            latency=time.monotonic() - call.began, ttft=call.ttft,
        )
        if self.gateway.meter is not None:
            try:
                self.gateway.meter.record(record)
            except OSError:  # the journal's disk is full or gone: the answer still goes out
                log.exception("usage journal: the record of request %s is lost", record.request_id)
        self._settle(call, record)
        return record

    def _settle(self, call: ChatCall, record: UsageRecord) -> None:
        gateway, key = self.gateway, call.key
        if call.admission is not None:
            used = (call.usage or {}).get("total_tokens")
            gateway.limiter.settle(key.name, key.limits, call.admission, used if isinstance(used, int) else None)
        if gateway.budgets is not None:
            gateway.budgets.settle(key.name, call.budget, record.cost, utc_today())

    async def _answer(self, call: ChatCall, plan: list[Target], hedge: float | None, send: Send,
                      guard: cancel_on_disconnect) -> None:
        router = self.gateway.router
        try:
            if call.body.get("stream") is True:
                await router.run(plan, partial(call.stream, send, guard), call.attempts, hedge)
            else:
                data = await router.run(plan, call.whole, call.attempts, hedge)
                self._record(call, 200, None)
                await send_bytes(send, 200, self._wrap(data), call.response_headers())
        except GatewayError as exc:  # from here on, every error is the upstream's
            call.headers[:] = call.response_headers()
            log.warning("model %s: %s", call.body["model"], exc.message)
            raise

    def _govern_here(self, key: ClientKey, body: dict[str, Any], estimate: int, plan: list[Target],
                     headers: Headers) -> Governed:
        """The key's budget and rate limits in this process (no Redis, or Redis away), with no await:
        reserve the request's most possible cost (governance/budgets.py), then admit it or refuse
        with 429; an admission adds the `x-ratelimit-*` headers. Both are settled at the end."""
        gateway = self.gateway
        budget = None
        if key.budget is not None and gateway.budgets is not None:
            budget = gateway.budgets.reserve_here(key.name, key.budget, self._most_cost(body, estimate, plan),
                                                  utc_today())
        if not key.limits.active:
            return budget, None
        return budget, self._admitted(key, budget, gateway.limiter.admit_here(key.name, key.limits, estimate), headers)

    def _govern_shared(self, key: ClientKey, body: dict[str, Any], estimate: int, plan: list[Target],
                       headers: Headers) -> Governed | Coroutine[Any, Any, Governed]:
        """`_govern_here` through Redis (each step may fall back to this process's own): the answer
        where this instance's blocks cover the request (most requests, on keys with large limits and
        budgets: no await, no coroutine), else a coroutine that asks Redis for the rest."""
        gateway = self.gateway
        budget = None
        if key.budget is not None and gateway.budgets is not None:
            most = self._most_cost(body, estimate, plan)
            budget = gateway.budgets.reserve_held(key.name, key.budget, most)
            if budget is None:
                return self._govern_awaited(key, estimate, headers, most)
        return self._limits_shared(key, budget, estimate, headers)

    async def _govern_awaited(self, key: ClientKey, estimate: int, headers: Headers, most: Decimal) -> Governed:
        """The budget's reservation from Redis (or this process's ledger), then the limits."""
        budget = await self.gateway.budgets.reserve(key.name, key.budget, most, utc_today())
        governed = self._limits_shared(key, budget, estimate, headers)
        return governed if governed.__class__ is tuple else await governed

    def _limits_shared(self, key: ClientKey, budget: Hold | None, estimate: int,
                       headers: Headers) -> Governed | Coroutine[Any, Any, Governed]:
        """The limits' half of `_govern_shared`: answered here where the blocks cover it, else a coroutine."""
        if not key.limits.active:
            return budget, None
        verdict = self.gateway.limiter.admit_held(key.name, key.limits, estimate)
        if verdict is None:
            return self._admit_awaited(key, budget, estimate, headers)
        return budget, self._admitted(key, budget, verdict, headers)

    async def _admit_awaited(self, key: ClientKey, budget: Hold | None, estimate: int, headers: Headers) -> Governed:
        verdict = await self.gateway.limiter.admit(key.name, key.limits, estimate)
        return budget, self._admitted(key, budget, verdict, headers)

    def _admitted(self, key: ClientKey, budget: Hold | None, verdict: Verdict, headers: Headers) -> Verdict:
        """An admission's `x-ratelimit-*` headers join the answer's; a refusal gives back the budget just
        reserved and is a 429."""
        if not verdict.allowed:
            if budget is not None:
                self.gateway.budgets.settle(key.name, budget, ZERO, utc_today())
            raise rate_limited(verdict)
        headers += verdict.headers
        return verdict

    @staticmethod
    def _most_cost(body: dict[str, Any], estimate: int, plan: list[Target]) -> Decimal:
        """The most the request can cost; nothing where no deployment it may reach has a price."""
        for target in plan:
            if target.model_price is not None:
                break
        else:
            return ZERO
        prices = [target.model_price for target in plan]
        copies = choices(body)  # each choice may be a call of its own, prompt and all
        return max_cost(prices, estimate * copies, output_allowance(body, partial(_default_caps, plan)) * copies)

    def _candidates(
        self, body: dict[str, Any], prefs: Preferences, key: ClientKey
    ) -> tuple[list[list[Target]], set[tuple[str, str]]]:
        """The deployments of the request's model and of each model in its `models` array, in order,
        and those reached through a `-thinking` alias."""
        groups: list[list[Target]] = []
        aliased: set[tuple[str, str]] = set()
        for model in (body["model"], *prefs.models):
            key.check_model(model)
            targets, alias = self.gateway.resolver.resolve_request(model, self.scope)
            groups.append(targets)
            if alias:
                aliased.update(t.key for t in targets)
        return groups, aliased

    def _wrap(self, data: bytes) -> bytes:
        return b'{"code":200,"data":' + data + b"}" if self.envelope else data


def _default_caps(plan: list[Target]) -> list[int | None]:
    """The `max_tokens` each deployment of the plan sets by default, if any."""
    return [(t.upstream.defaults_for(t.model) or {}).get("max_tokens") for t in plan]


def rate_limited(verdict: Verdict) -> RateLimited:
    return RateLimited(f"Rate limit reached for this key: {LIMIT_NAMES[verdict.reason]}.",
                       verdict.reason, verdict.retry_after, verdict.headers)


def parse_json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidRequest(
            "We could not parse the JSON body of your request. The body must be valid JSON."
        ) from None

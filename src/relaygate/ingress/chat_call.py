"""One chat request's attempts at upstream deployments (the router calls `whole` or `stream` once
per attempt): the request adapted to each deployment, the call made (or `n` calls, where an upstream
answers one choice per call), the answer or stream relayed, and what it used read for metering."""

from __future__ import annotations

import asyncio
import logging
import time
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any, Callable

import orjson

from relaygate.errors import GatewayError, InvalidRequest, UpstreamProtocolError
from relaygate.governance.limits import estimate_prompt_tokens
from relaygate.ingress.disconnect import cancel_on_disconnect
from relaygate.ingress.errors import error_frame
from relaygate.ingress.http import Headers, Send
from relaygate.ingress.streaming import (
    ClientStream, CopiesPump, PassthroughPump, Pump, TranslatedPump, relay_copies, relay_stream,
)
from relaygate.metering.estimate import completion_estimate, usage_so_far
from relaygate.metering.prices import ModelPrice, cost
from relaygate.providers.aggregate import gather_stream, merged_choices
from relaygate.routing.attempt import AttemptRecord, Outcome
from relaygate.routing.hedge import Lease, LostRace
from relaygate.routing.resolve import Target, Upstream
from relaygate.upstream.client import transport_errors, whole_answer_timeout
from relaygate.upstream.fetch import inline_remote_images, policy_for
from relaygate.wire.openai_chat import wants_usage
from relaygate.wire.usage_cost import read_usage, usage_with_cost, with_cost

if TYPE_CHECKING:
    from relaygate.governance.keys import ClientKey
    from relaygate.governance.limits import Verdict
    from relaygate.governance.shared_budgets import Hold
    from relaygate.ingress.openai_chat import ChatCompletions
    from relaygate.metering.usage import UsageRecord

log = logging.getLogger("relaygate.chat")
MAX_COPIES = 8  # `n` at most, where each choice is an upstream call of its own


class ChatCall:
    """One client request's attempts: each takes a deployment and the provider key to use."""

    def __init__(
        self, endpoint: ChatCompletions, key: ClientKey, body: dict[str, Any], raw: bytes,
        aliased: set[tuple[str, str]], headers: Headers,
    ) -> None:
        self.endpoint = endpoint
        self.key = key
        self.client = endpoint.gateway.client
        self.body = body
        self.raw = raw
        self.aliased = aliased
        self.headers = headers
        self.attempts: list[AttemptRecord] = []
        self.started = 0  # attempts begun; a hedge's loser is recorded only after the answer went out
        self.usage: dict[str, Any] | None = None
        self.cost: Decimal | None = None  # of `usage`, when the answering deployment has a price
        self.target: Target | None = None  # the deployment that answered
        self.answering: AttemptRecord | None = None  # a stream's attempt, for a record made before it returns
        self.estimated = False  # `usage` counted from the text sent: the upstream's never came
        self.broken: GatewayError | None = None  # what ended a stream after it began
        self.record: UsageRecord | None = None  # once made, the one record of this request
        self.admission: Verdict | None = None  # what the key's limits admitted, and its budget held
        self.budget: Hold | None = None
        self.began = time.monotonic()
        self.ttft: float | None = None
        self.provider = b""
        self.images: dict[str, str] = {}  # fetched image URL → data URL, kept across attempts

    def _stream_headers(self, upstream: Upstream) -> Callable[[], Headers]:
        """Headers for a stream, made when it commits: by then the attempt count is known."""
        def made() -> Headers:
            self.provider = upstream.name.encode()
            return [*self.headers, (b"x-relaygate-provider", self.provider),
                    (b"x-relaygate-attempts", str(self.started).encode())]
        return made

    def response_headers(self) -> Headers:
        """The answering provider's name, or on failure the last one tried, and the attempt count."""
        extra = [(b"x-relaygate-attempts", str(self.started).encode())]
        provider = self.provider or (self.attempts[-1].provider.encode() if self.attempts else b"")
        if provider:
            extra.append((b"x-relaygate-provider", provider))
        return [*self.headers, *extra]

    def _prepare(self, target: Target) -> tuple[dict[str, Any], bytes]:
        self.started += 1
        return with_defaults(self.body, self.raw, target, target.key in self.aliased)

    async def _inline_images(self, body: dict[str, Any], target: Target) -> dict[str, Any]:
        """Adapters that take image bytes inline get http(s) image URLs fetched first (upstream/fetch.py)."""
        policy = policy_for(tuple(self.endpoint.gateway.config.server.image_fetch_allow))
        return await inline_remote_images(body, self.client.session, policy, self.images)

    async def whole(self, target: Target, key: str | None, lease: Lease) -> tuple[bytes, Outcome]:
        body, raw = self._prepare(target)
        if upstream_fetches_images(target):
            body = await self._inline_images(body, target)
        started = time.monotonic()
        upstream = target.upstream
        if target.model in upstream.stream_only and upstream.adapter.passthrough:
            data = await self._gathered(body, target, key)
        else:
            data = await self._answer(body, raw, target, key)
        if not lease.claim():
            raise LostRace
        self.provider = upstream.name.encode()
        self.target = target
        data = self._account(data, target.model_price)  # the meter, limits and metrics need its usage
        self.ttft = time.monotonic() - self.began
        return data, Outcome(ttft=time.monotonic() - started)

    def _account(self, data: bytes | dict[str, Any], price: ModelPrice | None) -> bytes:
        """A whole answer's usage is read; with a price, its cost is written into it. A translated
        answer is still an object: its usage is at hand, and it is serialised once, cost and all."""
        if isinstance(data, dict):
            usage = data.get("usage")
            self.usage = usage if isinstance(usage, dict) else None
            if self.usage is not None and price is not None:
                self.cost = cost(price, self.usage)
                data["usage"] = usage_with_cost(self.usage, self.cost)
            return orjson.dumps(data)
        usage, bounds = read_usage(data)
        self.usage = usage
        if usage is None or bounds is None or price is None:
            return data
        self.cost = cost(price, usage)
        return with_cost(data, usage, bounds, self.cost)

    async def _answer(self, body: dict[str, Any], raw: bytes, target: Target, key: str | None) -> bytes | dict[str, Any]:
        """One non-streaming upstream call; the answer in OpenAI shape (an object when translated)."""
        upstream, adapter = target.upstream, target.upstream.adapter
        payload = adapter.chat_body(body, raw, target.model, stream=False)
        if not adapter.passthrough:
            copies = choices_wanted(body, upstream.name) if adapter.one_choice else 1
            if copies > 1:
                answers = await self._copies(target, key, payload, copies)
                return merged_choices([adapter.chat_response(data, body, target.model) for data in answers])
            return adapter.chat_response(await self._post(target, key, payload, stream=False), body, target.model)
        data = await self._post(target, key, payload, stream=False)
        if data.lstrip()[:1] != b"{":
            raise UpstreamProtocolError(f"Provider '{upstream.name}' answered with something other than JSON.")
        return data

    async def _copies(self, target: Target, key: str | None, payload: bytes, count: int) -> list[bytes]:
        """The same call `count` times at once, for an upstream that answers one choice per call: the
        request's `n`. The first to fail cancels the others, and its error is the attempt's."""
        try:
            async with asyncio.TaskGroup() as group:
                calls = [group.create_task(self._post(target, key, payload, stream=False)) for _ in range(count)]
        except BaseExceptionGroup as failed:
            raise failed.exceptions[0] from None
        return [call.result() for call in calls]

    async def _gathered(self, body: dict[str, Any], target: Target, key: str | None) -> dict[str, Any]:
        """A stream-only upstream model asked for one whole answer: stream it and gather the chunks."""
        payload = target.upstream.adapter.chat_body({**body, "stream": True}, b"", target.model, stream=True)
        data = await self._post(target, key, payload, stream=True)
        return gather_stream(target.upstream.name, data)

    async def _post(self, target: Target, key: str | None, payload: bytes, stream: bool) -> bytes:
        upstream = target.upstream
        with transport_errors(upstream.name):
            async with await self.client.post(
                upstream.name, upstream.chat_url(target.model, stream), upstream_headers(upstream, key), payload,
                whole_answer_timeout(upstream.timeout),
            ) as response:
                data = await response.read()
        if not 200 <= response.status < 300:
            raise upstream.adapter.error_from_status(
                upstream.name, response.status, data, response.headers.get("retry-after"), upstream.keys
            )
        return data

    async def stream(
        self, send: Send, guard: cancel_on_disconnect, target: Target, key: str | None, lease: Lease
    ) -> tuple[None, Outcome]:
        body, raw = self._prepare(target)
        if upstream_fetches_images(target):
            body = await self._inline_images(body, target)
        upstream, adapter = target.upstream, target.upstream.adapter
        payload = adapter.chat_body(body, raw, target.model, stream=True)
        url, headers = upstream.chat_url(target.model, True), upstream_headers(upstream, key)
        copies = choices_wanted(body, upstream.name) if adapter.one_choice and not adapter.passthrough else 1
        pump: Pump
        if copies > 1:
            pump = self._copies_pump(body, target, copies)
        elif adapter.passthrough:
            pump = PassthroughPump(upstream.name, wants_usage(body), target.model_price)
        else:
            pump = TranslatedPump(adapter.stream_translator(body, target.model), target.model_price)
        started = time.monotonic()
        stream = ClientStream(send, guard, lease, self._stream_headers(upstream),
                              partial(self._ending, target, pump, started))
        broke_off = False
        try:
            if isinstance(pump, CopiesPump):
                await relay_copies(self.client, stream, pump.pumps, upstream, url, headers, payload)
                if pump.end.done:
                    await stream.finish(pump.tail())
            else:
                await relay_stream(self.client, stream, pump, upstream, url, headers, payload)
        except GatewayError as exc:
            if not stream.committed:
                raise
            log.warning("provider %s: %s (after the stream began)", upstream.name, exc.message)
            broke_off = not stream.finished  # else the answer was complete; only the upstream's tail failed
            if broke_off:
                self.broken = exc
                await stream.finish(error_frame(exc))
        except asyncio.CancelledError:  # the client left (a committed stream has won any hedge race)
            if stream.committed:
                self._used(target, pump, stream, AttemptRecord(upstream.name, target.model, 499, "client_disconnected",
                                                               time.monotonic() - started, started))
            raise
        if not stream.finished:
            broke_off = True
            self.broken = UpstreamProtocolError(f"Provider '{upstream.name}' ended the stream before it was complete.")
            await stream.finish(error_frame(self.broken))
        return None, _stream_outcome(stream, pump, started, broke_off)

    def _copies_pump(self, body: dict[str, Any], target: Target, copies: int) -> CopiesPump:
        """`copies` translated streams as choices 0.. of one answer, under one id (the request's)."""
        adapter = target.upstream.adapter
        quiet = {**body, "stream_options": {"include_usage": False}}  # their usage goes out once, added up
        pumps, id, created = [], f"chatcmpl-{self.headers[0][1].decode()}", int(time.time())
        for choice in range(copies):
            translator = adapter.stream_translator(quiet, target.model)
            translator.as_choice(choice, id, created)
            pumps.append(TranslatedPump(translator, last=False))
        writer = pumps[0].translator.writer
        return CopiesPump(pumps, target.model_price, writer.usage if wants_usage(body) else None)

    def _ending(self, target: Target, pump: Pump, began: float, stream: ClientStream) -> None:
        """A stream's last bytes are about to go out, complete or ending in an error frame: its usage
        record is journaled now, with the attempt that answered (the router lists it only later)."""
        error = self.broken
        self._used(target, pump, stream, AttemptRecord(target.upstream.name, target.model, 200,
                                                       error.code if error else None, time.monotonic() - began, began))
        self.endpoint._record(self, *((error.status, error.code) if error else (200, None)))

    def _used(self, target: Target, pump: Pump, stream: ClientStream, attempt: AttemptRecord) -> None:
        """What a committed stream used: the upstream's usage, counted from the text sent when it
        never came or the stream did not finish."""
        self.target, self.usage, self.cost, self.answering = target, pump.end.usage, pump.end.cost, attempt
        self.ttft = (stream.committed_at or time.monotonic()) - self.began
        if pump.end.done and self.usage is not None:
            return
        self.usage, self.estimated = usage_so_far(
            self.usage, completion_estimate(stream.sample, stream.sent), estimate_prompt_tokens(self.raw)
        )
        if self.estimated:
            self.cost = None  # priced from the counts when recorded


def _stream_outcome(stream: ClientStream, pump: Pump, started: float, broke_off: bool) -> Outcome:
    usage = pump.end.usage or {}
    tokens = usage.get("completion_tokens") if isinstance(usage.get("completion_tokens"), int) else 0
    first = (stream.committed_at or time.monotonic()) - started
    return Outcome(ttft=first, duration=time.monotonic() - started, tokens=tokens, broke_off=broke_off)


def choices(body: dict[str, Any]) -> int:
    """The choices a request asks for (`n`, checked at the ingress to be a positive integer)."""
    n = body.get("n")
    return n if n.__class__ is int and n > 1 else 1


def choices_wanted(body: dict[str, Any], provider: str) -> int:
    """`n` for an upstream that answers one choice per call: that many calls, up to MAX_COPIES."""
    n = choices(body)
    if n == 1:
        return 1
    if n > MAX_COPIES:
        raise InvalidRequest(f"'n' can be at most {MAX_COPIES} for models of provider '{provider}': each choice "
                             "is a call of its own there.", param="n")
    return n


def upstream_fetches_images(target: Target) -> bool:
    return getattr(target.upstream.adapter, "inline_remote_images", False)


def upstream_headers(upstream: Upstream, key: str | None) -> dict[str, str]:
    request_headers = upstream.adapter.auth_headers(key)
    if upstream.headers:
        request_headers.update(upstream.headers)
    return request_headers


def with_defaults(
    body: dict[str, Any], raw: bytes, target: Target, thinking_alias: bool
) -> tuple[dict[str, Any], bytes]:
    """The provider's per-model defaults for parameters the client left out, and thinking switched on
    by a `-thinking` alias unless the client said otherwise; `raw` stays valid only if nothing changed."""
    defaults = target.upstream.defaults_for(target.model)
    missing = {k: v for k, v in defaults.items() if k not in body} if defaults else {}
    if thinking_alias and "thinking" not in body and "reasoning_effort" not in body:
        missing["thinking"] = {"type": "enabled"}
    if not missing:
        return body, raw
    body = {**body, **missing}
    return body, orjson.dumps(body)

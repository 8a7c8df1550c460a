"""POST /v1/chat/completions (and under every mount): parse once, authenticate, route, relay."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import orjson

from relaygate.errors import GatewayError, InvalidRequest, UpstreamError, UpstreamProtocolError
from relaygate.ingress.errors import error_frame
from relaygate.ingress.http import Headers, Receive, Scope, Send, header, read_body, send_bytes
from relaygate.providers.aggregate import chunks_to_completion
from relaygate.ingress.streaming import ClientStream, PassthroughPump, Pump, TranslatedPump, relay_stream
from relaygate.routing.resolve import Target, Upstream
from relaygate.upstream.client import transport_errors, whole_answer_timeout
from relaygate.wire.openai_chat import check_chat_request, wants_usage
from relaygate.wire.sse import SSEDecoder

if TYPE_CHECKING:
    from relaygate.app import Gateway

log = logging.getLogger("relaygate.chat")

class ChatCompletions:
    """One chat endpoint: the default `/v1`, a provider's mount (native model names, `scope` set),
    or an extra mount (whole catalog, optionally answering inside an envelope)."""

    def __init__(self, gateway: Gateway, scope: Upstream | None = None, envelope: bool = False) -> None:
        self.gateway = gateway
        self.scope = scope
        self.envelope = envelope

    async def __call__(self, scope: Scope, receive: Receive, send: Send, headers: Headers) -> None:
        gateway = self.gateway
        key = gateway.keys.authenticate(header(scope, b"authorization"))
        raw = await read_body(receive, gateway.config.server.max_body_bytes)
        body = check_chat_request(parse_json(raw))
        key.check_model(body["model"])
        targets, thinking_alias = gateway.resolver.resolve_request(body["model"], self.scope)
        target = targets[0]
        body, raw = _with_defaults(body, raw, target, thinking_alias)
        headers = [*headers, (b"x-relaygate-provider", target.upstream.name.encode())]
        async with cancel_on_disconnect(receive) as guard:
            try:
                if body.get("stream") is True:
                    await self._stream(send, headers, body, raw, target, guard)
                else:
                    await self._whole(send, headers, body, raw, target)
            except GatewayError as exc:  # from here on, every error is the upstream's
                log.warning("provider %s: %s", target.upstream.name, exc.message)
                raise

    async def _whole(self, send: Send, headers: Headers, body: dict[str, Any], raw: bytes, target: Target) -> None:
        upstream = target.upstream
        adapter = upstream.adapter
        if target.model in upstream.stream_only and adapter.passthrough:
            data = await self._gathered(body, target)
        else:
            data = await self._answer(body, raw, target)
        if self.envelope:
            data = b'{"code":200,"data":' + data + b"}"
        await send_bytes(send, 200, data, headers)

    async def _answer(self, body: dict[str, Any], raw: bytes, target: Target) -> bytes:
        """One non-streaming upstream call; the answer in OpenAI shape."""
        upstream = target.upstream
        adapter = upstream.adapter
        payload = adapter.chat_body(body, raw, target.model, stream=False)
        with transport_errors(upstream.name):
            async with await self.gateway.client.post(
                upstream.name, upstream.chat_url(target.model, False), self._upstream_headers(upstream), payload,
                whole_answer_timeout(upstream.timeout),
            ) as response:
                data = await response.read()
        if not 200 <= response.status < 300:
            raise adapter.error_from_status(
                upstream.name, response.status, data, response.headers.get("retry-after"), upstream.keys
            )
        if not adapter.passthrough:
            return adapter.chat_response(data, body, target.model)
        if data.lstrip()[:1] != b"{":
            raise UpstreamProtocolError(f"Provider '{upstream.name}' answered with something other than JSON.")
        return data

    async def _gathered(self, body: dict[str, Any], target: Target) -> bytes:
        """A stream-only upstream model asked for one whole answer: stream it and gather the chunks."""
        upstream = target.upstream
        streamed = {**body, "stream": True}
        payload = upstream.adapter.chat_body(streamed, b"", target.model, stream=True)
        with transport_errors(upstream.name):
            async with await self.gateway.client.post(
                upstream.name, upstream.chat_url(target.model, True), self._upstream_headers(upstream), payload,
                whole_answer_timeout(upstream.timeout),
            ) as response:
                data = await response.read()
        if not 200 <= response.status < 300:
            raise upstream.adapter.error_from_status(
                upstream.name, response.status, data, response.headers.get("retry-after"), upstream.keys
            )
        return orjson.dumps(gather_stream(upstream.name, data))

    async def _stream(
        self, send: Send, headers: Headers, body: dict[str, Any], raw: bytes, target: Target,
        guard: cancel_on_disconnect,
    ) -> None:
        upstream = target.upstream
        adapter = upstream.adapter
        payload = adapter.chat_body(body, raw, target.model, stream=True)
        pump: Pump = (
            PassthroughPump(upstream.name, wants_usage(body)) if adapter.passthrough
            else TranslatedPump(adapter.stream_translator(body, target.model))
        )
        stream = ClientStream(send, headers, guard)
        try:
            await relay_stream(
                self.gateway.client, stream, pump, upstream, upstream.chat_url(target.model, True),
                self._upstream_headers(upstream), payload,
            )
        except GatewayError as exc:
            if not stream.committed:
                raise
            log.warning("provider %s: %s (after the stream began)", upstream.name, exc.message)
            if not stream.finished:  # else the answer was complete; only the upstream's tail failed
                await stream.finish(error_frame(exc))
            return
        if not stream.finished:
            exc = UpstreamProtocolError(f"Provider '{upstream.name}' ended the stream before it was complete.")
            await stream.finish(error_frame(exc))

    def _upstream_headers(self, upstream: Upstream) -> dict[str, str]:
        request_headers = upstream.adapter.auth_headers(upstream.next_key())
        if upstream.headers:
            request_headers.update(upstream.headers)
        return request_headers


def _with_defaults(
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


def gather_stream(provider: str, data: bytes) -> dict[str, Any]:
    """A whole OpenAI-wire SSE body → one chat.completion; errors in it are the upstream's."""
    decoder = SSEDecoder()
    events = decoder.feed(data) + decoder.flush()
    if not events or events[-1].data != b"[DONE]":
        raise UpstreamProtocolError(f"Provider '{provider}' ended the stream before [DONE].")
    try:
        chunks = [orjson.loads(event.data) for event in events[:-1]]
    except orjson.JSONDecodeError:
        raise UpstreamProtocolError(f"Provider '{provider}' sent a chunk that is not JSON.") from None
    for chunk in chunks:
        if not isinstance(chunk, dict):
            raise UpstreamProtocolError(f"Provider '{provider}' sent a chunk that is not an object.")
        if isinstance(chunk.get("error"), dict):
            raise UpstreamError(f"Provider '{provider}' failed: {str(chunk['error'].get('message'))[:300]}")
    return chunks_to_completion(chunks)


def parse_json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidRequest(
            "We could not parse the JSON body of your request. The body must be valid JSON."
        ) from None


class cancel_on_disconnect:
    """While the body runs, a client that hangs up cancels it (and so the upstream call).

    ASGI servers report the hang-up as `http.disconnect` on `receive`; the request body has already
    been read, so nothing else is waiting on it. Watching costs a task, which is a sizeable share of
    a fast request's CPU, so the watch starts only once the request has run for WATCH_AFTER seconds:
    quick answers never pay for it, and a client leaving a long one is noticed at most that late."""

    WATCH_AFTER = 0.2
    __slots__ = ("receive", "task", "timer", "watcher", "client_left", "response_sent")

    def __init__(self, receive: Receive) -> None:
        self.receive = receive
        self.client_left = False
        self.response_sent = False  # after the last byte went out, `receive` reports a disconnect too
        self.watcher: asyncio.Task[None] | None = None

    async def __aenter__(self) -> cancel_on_disconnect:
        self.task = asyncio.current_task()
        self.timer = asyncio.get_running_loop().call_later(self.WATCH_AFTER, self._start_watching)
        return self

    def _start_watching(self) -> None:
        self.watcher = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        while (await self.receive())["type"] != "http.disconnect":
            pass
        if not self.response_sent:
            self.client_left = True
            self.task.cancel()

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        self.timer.cancel()
        if self.watcher is not None:
            self.watcher.cancel()
        if exc_type is asyncio.CancelledError and self.client_left:
            self.task.uncancel()
            log.info("client disconnected; upstream call cancelled")
            return True
        return False

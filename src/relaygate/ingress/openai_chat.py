"""POST /v1/chat/completions (and under every mount): parse once, authenticate, route, relay."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson

from relaygate.errors import GatewayError, InvalidRequest, UpstreamError, UpstreamProtocolError, UpstreamTimeout
from relaygate.ingress.errors import error_frame
from relaygate.ingress.http import Headers, Receive, Scope, Send, header, read_body, send_bytes
from relaygate.providers.openai_errors import error_from_status
from relaygate.providers.openai_stream import OpenAIStreamRelay, first_event_error, whole_lf_events
from relaygate.routing.resolve import Target, Upstream
from relaygate.upstream.client import streaming_timeout, transport_errors, whole_answer_timeout
from relaygate.wire.openai_chat import check_chat_request, wants_usage
from relaygate.wire.sse import Event, SSEDecoder

if TYPE_CHECKING:
    from relaygate.app import Gateway

log = logging.getLogger("relaygate.chat")

SSE_HEADERS: Headers = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


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
        target = gateway.resolver.resolve(body["model"], self.scope)[0]
        headers = [*headers, (b"x-relaygate-provider", target.upstream.name.encode())]
        async with cancel_on_disconnect(receive) as guard:
            if body.get("stream") is True:
                await self._stream(send, headers, body, raw, target, guard)
            else:
                await self._whole(send, headers, body, raw, target)

    async def _whole(self, send: Send, headers: Headers, body: dict[str, Any], raw: bytes, target: Target) -> None:
        upstream = target.upstream
        payload = upstream.adapter.chat_body(body, raw, target.model, stream=False)
        request_headers = self._upstream_headers(upstream)
        with transport_errors(upstream.name):
            async with await self.gateway.client.post(
                upstream.name, upstream.chat_url, request_headers, payload, whole_answer_timeout(upstream.timeout)
            ) as response:
                data = await response.read()
        if not 200 <= response.status < 300:
            raise self._status_error(upstream, response, data)
        if data.lstrip()[:1] != b"{":
            raise UpstreamProtocolError(f"Provider '{upstream.name}' answered with something other than JSON.")
        if self.envelope:
            data = b'{"code":200,"data":' + data + b"}"
        await send_bytes(send, 200, data, headers)

    async def _stream(
        self, send: Send, headers: Headers, body: dict[str, Any], raw: bytes, target: Target,
        guard: cancel_on_disconnect,
    ) -> None:
        upstream = target.upstream
        payload = upstream.adapter.chat_body(body, raw, target.model, stream=True)
        relay = OpenAIStreamRelay(wants_usage(body))
        stream = _Stream(send, headers, guard)
        try:
            await self._relay(stream, relay, upstream, payload)
        except GatewayError as exc:
            if not stream.committed:
                raise
            if stream.finished:
                return  # [DONE] was already delivered; only the upstream's tail failed
            log.warning("stream from %s failed after it began: %s", upstream.name, exc.message)
            await stream.finish(error_frame(exc))
            return
        if not relay.end.done:
            exc = UpstreamProtocolError(f"Provider '{upstream.name}' ended the stream before [DONE].")
            await stream.finish(error_frame(exc))

    async def _relay(self, stream: _Stream, relay: OpenAIStreamRelay, upstream: Upstream, payload: bytes) -> None:
        """Forward events as they arrive, within first-token, idle and total limits. The client's
        stream is finished as soon as [DONE] arrives; the upstream body is still read to its end so
        that its connection goes back to the pool."""
        limits = upstream.timeout
        loop = asyncio.get_running_loop()
        total_deadline = loop.time() + limits.total
        decoder = SSEDecoder()
        phase = f"Provider '{upstream.name}' sent no first token within {limits.first_token:g}s."
        try:
            async with asyncio.timeout_at(min(loop.time() + limits.first_token, total_deadline)) as timer:
                response = await self.gateway.client.post(
                    upstream.name, upstream.chat_url, self._upstream_headers(upstream), payload,
                    streaming_timeout(limits),
                )
                with transport_errors(upstream.name):
                    async with response:
                        if not 200 <= response.status < 300:
                            raise self._status_error(upstream, response, await response.read())
                        async for piece in response.content.iter_any():
                            if stream.finished:
                                continue
                            out = self._next_out(stream, relay, decoder, upstream, piece)
                            if out is None:
                                continue
                            if not stream.committed:
                                phase = f"Provider '{upstream.name}' went silent for over {limits.idle:g}s."
                            if relay.end.done:
                                await stream.finish(out)
                                continue
                            if out:
                                await stream.write(out)
                            timer.reschedule(min(loop.time() + limits.idle, total_deadline))
        except TimeoutError:
            if loop.time() >= total_deadline:
                phase = f"Provider '{upstream.name}' exceeded the total time limit of {limits.total:g}s."
            raise UpstreamTimeout(phase) from None

    @staticmethod
    def _next_out(
        stream: _Stream, relay: OpenAIStreamRelay, decoder: SSEDecoder, upstream: Upstream, piece: bytes
    ) -> bytes | None:
        """What to send for one piece from the upstream; None while no event is complete yet.
        A piece of whole events takes the fast path; anything else goes through the decoder."""
        if decoder.at_boundary and whole_lf_events(piece):
            if not stream.committed:
                first = piece[: piece.find(b"\n\n")]
                if first[:6] == b"data: " and b"\n" not in first:
                    _raise_first_event_error(upstream, Event(first[6:]))
                    out = relay.forward_piece(piece)
                else:
                    out = None  # a comment or a multi-line event first: let the decoder look
            else:
                out = relay.forward_piece(piece)
            if out is not None:
                return out
        clean = decoder.at_boundary
        events = decoder.feed(piece)
        if not events:
            return None
        if not stream.committed:
            _raise_first_event_error(upstream, events[0])
        return relay.forward(events, piece if clean and decoder.at_boundary else None)

    def _upstream_headers(self, upstream: Upstream) -> dict[str, str]:
        request_headers = upstream.adapter.auth_headers(upstream.next_key())
        if upstream.headers:
            request_headers.update(upstream.headers)
        return request_headers

    @staticmethod
    def _status_error(upstream: Upstream, response: aiohttp.ClientResponse, data: bytes) -> GatewayError:
        error = error_from_status(
            upstream.name, response.status, data, response.headers.get("retry-after"), upstream.keys
        )
        log.warning("provider %s answered %s: %s", upstream.name, response.status, error.message)
        return error


class _Stream:
    """The client side of a stream: headers go out with the first good event (the commit point)."""

    __slots__ = ("send", "headers", "guard", "committed", "finished")

    def __init__(self, send: Send, headers: Headers, guard: cancel_on_disconnect) -> None:
        self.send = send
        self.headers = headers
        self.guard = guard
        self.committed = False
        self.finished = False

    async def write(self, data: bytes) -> None:
        if not self.committed:
            self.committed = True
            await self.send({"type": "http.response.start", "status": 200, "headers": [*SSE_HEADERS, *self.headers]})
        await self.send({"type": "http.response.body", "body": data, "more_body": True})

    async def finish(self, data: bytes) -> None:
        if not self.committed:
            self.committed = True
            await self.send({"type": "http.response.start", "status": 200, "headers": [*SSE_HEADERS, *self.headers]})
        self.finished = self.guard.response_sent = True
        await self.send({"type": "http.response.body", "body": data, "more_body": False})


def _raise_first_event_error(upstream: Upstream, event: Any) -> None:
    error = first_event_error(event)
    if error is not None:
        raise UpstreamError(f"Provider '{upstream.name}' failed: {str(error.get('message', 'error'))[:300]}")


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

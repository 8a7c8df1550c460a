"""`POST /anthropic/v1/messages`: record, check headers, apply a scripted rule, validate, answer.

Scripted rules are the chat flavours' (`script.py`): a status gets Anthropic's error body for it
(429 with `retry-after`), `raw` is sent as it is (as a stream when the request streams, split into
events at blank lines so that `chunk_delay` and `cut_after` apply to it: that is how a test injects
an `error` event in the middle of a stream), `cut_after`/`stall_after`/`delay` pace the stream.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from ..chat import CHUNKS_HEADER, MAX_CHUNKS, decode, is_stream, pacing_of
from ..delivery import merged, send_json, send_stream
from ..recording import Record
from ..render import Stamp, Template, stamp, stamp_events
from ..script import Rule
from ..state import EmulatorState
from . import wire
from .answer import compose
from .checks import ApiError, body_problem, header_problem
from .signing import Signer

PATH = "/anthropic/v1/messages"
CACHEABLE_BYTES = 64 * 1024
# Anthropic's error type for each status ("Errors" in the API reference), for scripted statuses.
SCRIPTED_ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Invalid request (scripted by the emulator)."),
    401: ("authentication_error", "invalid x-api-key"),
    402: ("billing_error", "Your credit balance is too low to access the Anthropic API."),
    403: ("permission_error", "Your API key does not have permission to use the specified resource."),
    404: ("not_found_error", "model: {model}"),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "This request would exceed the rate limit for your organization of 50 requests per "
                              "minute. For details, refer to: https://docs.claude.com/en/api/rate-limits."),
    500: ("api_error", "Internal server error"),
    504: ("timeout_error", "Request timeout"),
    529: ("overloaded_error", "Overloaded"),
}


def error_response(error: ApiError) -> web.Response:
    headers = error_headers(error.status)
    body = wire.error_body(error.type, error.message, headers["request-id"])
    return web.Response(status=error.status, body=body, headers=headers, content_type="application/json")


def error_headers(status: int) -> dict[str, str]:
    """As recorded: `request-id`, `x-should-retry`, and `retry-after` on a 429."""
    retry = status == 429 or status >= 500
    headers = {"request-id": wire.request_id(), "x-should-retry": "true" if retry else "false"}
    if status == 429:
        headers["retry-after"] = "1"
    return headers


def scripted_error(status: int, body: Any) -> ApiError:
    kind, message = SCRIPTED_ERRORS.get(status, ("api_error" if status >= 500 else "invalid_request_error", "Error"))
    model = str(body.get("model", "")) if isinstance(body, dict) else ""
    return ApiError(status, kind, message.replace("{model}", model))


def sse_events(raw: str) -> list[bytes]:
    return [event + b"\n\n" for event in raw.encode().split(b"\n\n") if event]


class MessagesEndpoint:
    def __init__(self, state: EmulatorState, signer: Signer | None = None) -> None:
        self.state = state
        self.signer = signer or Signer()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        parsed, body = decode(raw)
        recorder = self.state.recorder
        record = recorder.add(request, raw, body, parsed) if recorder is not None else None
        denied = header_problem(request.headers, self.state.keys)
        if denied:
            return error_response(denied)
        rule = self._rule(request, body)
        if rule is not None and rule.overrides:
            return await self._scripted(request, rule, body, record)
        problem = body_problem(parsed, body, self.signer)
        if problem:
            return error_response(problem)
        return await self._answer(request, raw, body, rule, record)

    def _rule(self, request: web.Request, body: Any) -> Rule | None:
        if not self.state.script:
            return None
        model = body.get("model") if isinstance(body, dict) else None
        return self.state.script.take(request.path, model, is_stream(body))

    async def _scripted(self, request: web.Request, rule: Rule, body: Any, record: Record | None) -> web.StreamResponse:
        status = rule.status or 200
        pacing = pacing_of(rule, self.state.burst)
        if rule.raw is not None and status < 400 and is_stream(body):
            return await send_stream(request, sse_events(rule.raw), rule.headers, pacing, record)
        if rule.raw is not None or rule.body is not None:
            payload = rule.raw.encode() if rule.raw is not None else orjson.dumps(rule.body)
            return await send_json(request, status, payload, rule.headers, pacing, record)
        error, headers = scripted_error(status, body), error_headers(status)
        payload = wire.error_body(error.type, error.message, headers["request-id"])
        return await send_json(request, status, payload, merged(headers, rule.headers), pacing, record)

    async def _answer(
        self, request: web.Request, raw: bytes, body: dict[str, Any], rule: Rule | None, record: Record | None
    ) -> web.StreamResponse:
        template = self._template(raw, body, self._chunks(request, rule), rule.content if rule else None)
        values = Stamp(wire.message_id().encode(), wire.token(20).encode(), b"")
        pacing = pacing_of(rule, self.state.burst)
        headers = {"request-id": wire.request_id()}
        if isinstance(template, tuple):
            return await send_stream(request, stamp_events(template, values), headers, pacing, record)
        return await send_json(request, 200, stamp(template, values), headers, pacing, record)

    def _template(self, raw: bytes, body: dict[str, Any], chunks: int, content: str | None) -> Template:
        """The rendered answer, from the cache when this exact request was answered before."""
        key = ("anthropic", raw, chunks, content)
        template = self.state.templates.get(key) if len(raw) <= CACHEABLE_BYTES else None
        if template is None:
            template = self._render(body, chunks, content)
            if len(raw) <= CACHEABLE_BYTES:
                self.state.templates.put(key, template)
        return template

    def _render(self, body: dict[str, Any], chunks: int, content: str | None) -> Template:
        reply = compose(body, chunks, content, self.signer)
        model = str(body["model"])
        if is_stream(body):
            return tuple(wire.encode_event(name, data) for name, data in wire.events(reply, model))
        return orjson.dumps(wire.message(reply, model))

    def _chunks(self, request: web.Request, rule: Rule | None) -> int:
        if rule is not None and rule.chunks is not None:
            return min(rule.chunks, MAX_CHUNKS)
        header = request.headers.get(CHUNKS_HEADER, "")
        if header.isdigit() and int(header) > 0:
            return min(int(header), MAX_CHUNKS)
        return self.state.default_chunks


def add_routes(app: web.Application, state: EmulatorState) -> None:
    app.router.add_post(PATH, MessagesEndpoint(state).handle)

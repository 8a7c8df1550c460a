"""`POST /gemini/{version}/models/{model}:generateContent` and `:streamGenerateContent`: record,
check the key, apply a scripted rule, validate, answer.

Scripted rules are the chat flavours' (`script.py`): a status gets Gemini's error body for it (a
429 with a RetryInfo detail), `raw` and `body` are sent as they are, `delay`, `chunk_delay`,
`cut_after` and `stall_after` pace the stream. One addition, for how Gemini fails once a stream
has begun: an error status together with `cut_after` on a streaming request sends that many
events, then the error object as bare JSON (no `data:`), then ends the stream.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from ..answers import Options, compose
from ..chat import CHUNKS_HEADER, MAX_CHUNKS, decode, pacing_of
from ..delivery import merged, send_json, send_stream
from ..recording import Record
from ..script import Rule
from ..state import EmulatorState
from . import wire
from .checks import GeminiError, body_problem, key_problem
from .conversation import as_chat_body, thinking_of
from .signatures import Signer

PREFIX = "/gemini"
METHODS = {"generateContent": False, "streamGenerateContent": True}  # method → streams
SSE_HEADERS = {"Content-Type": "text/event-stream"}
SCRIPTED_MESSAGES = {
    400: "Request contains an invalid argument.",
    401: "Request had invalid authentication credentials.",
    403: "The caller does not have permission",
    404: "models/{model} is not found for API version v1beta, or is not supported for generateContent.",
    429: "You exceeded your current quota, please check your plan and billing details.",
    500: "An internal error has occurred. Please retry or report in "
         "https://developers.generativeai.google/guide/troubleshooting",
    503: "The model is overloaded. Please try again later.",
    504: "Deadline expired before operation could complete.",
}


def error_response(error: GeminiError, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=error.status, body=orjson.dumps(wire.error_body(error)), headers=headers,
                        content_type="application/json")


def scripted_error(status: int, model: str) -> GeminiError:
    message = SCRIPTED_MESSAGES.get(status, "Internal error encountered." if status >= 500 else "Bad request.")
    return GeminiError(status, message.replace("{model}", model))


class GenerateContentEndpoint:
    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.signer = Signer()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        model, _, method = request.match_info["call"].rpartition(":")
        raw = await request.read()
        parsed, body = decode(raw)
        record = self.state.recorder.add(request, raw, body, parsed) if self.state.recorder is not None else None
        if record is not None:
            record["query"] = request.query_string
        if method not in METHODS or not model:
            return error_response(GeminiError(404, f"Method {method} not found."))
        denied = key_problem(request.headers, request.query, self.state.keys)
        if denied:
            return error_response(denied)
        streams = METHODS[method]
        rule = self.state.script.take(request.path, model, streams) if self.state.script else None
        if rule is not None and rule.overrides:
            return await self._scripted(request, rule, body, model, streams, record)
        problem = body_problem(parsed, body, self.signer)
        if problem:
            return error_response(problem)
        return await self._answer(request, body, model, streams, rule, record)

    async def _scripted(
        self, request: web.Request, rule: Rule, body: Any, model: str, streams: bool, record: Record | None
    ) -> web.StreamResponse:
        status = rule.status or 200
        pacing = pacing_of(rule, self.state.burst)
        if rule.raw is not None and status < 400 and streams:
            return await send_stream(request, [rule.raw.encode()], merged(SSE_HEADERS, rule.headers), pacing, record)
        if rule.raw is not None or rule.body is not None:
            payload = rule.raw.encode() if rule.raw is not None else orjson.dumps(rule.body)
            return await send_json(request, status, payload, rule.headers, pacing, record)
        error = scripted_error(status, model)
        if streams and rule.cut_after is not None and not body_problem(True, body, self.signer):
            return await self._failing_stream(request, rule, body, model, error, record)
        payload = orjson.dumps(wire.error_body(error))
        return await send_json(request, status, payload, rule.headers, pacing, record)

    async def _failing_stream(
        self, request: web.Request, rule: Rule, body: dict[str, Any], model: str, error: GeminiError,
        record: Record | None,
    ) -> web.StreamResponse:
        events = self._events(body, model, self._chunks(request, rule), rule.content)[:rule.cut_after]
        pacing = pacing_of(Rule(delay=rule.delay, chunk_delay=rule.chunk_delay), self.state.burst)
        return await send_stream(request, [*events, wire.error_trailer(error)], SSE_HEADERS, pacing, record)

    async def _answer(
        self, request: web.Request, body: dict[str, Any], model: str, streams: bool, rule: Rule | None,
        record: Record | None,
    ) -> web.StreamResponse:
        chunks = self._chunks(request, rule)
        content = rule.content if rule else None
        pacing = pacing_of(rule, self.state.burst)
        if not streams:
            answer = wire.generate_content_response(*self._composed(body, model, chunks, content), self.signer)
            return await send_json(request, 200, orjson.dumps(answer), {}, pacing, record)
        events = self._events(body, model, chunks, content)
        if request.query.get("alt") != "sse":
            return await send_json(request, 200, wire.json_array(events), {}, pacing, record)
        return await send_stream(request, events, SSE_HEADERS, pacing, record)

    def _composed(self, body: dict[str, Any], model: str, chunks: int, content: str | None) -> tuple[Any, wire.Meta]:
        thinking = thinking_of(body)
        answer = compose(as_chat_body(body), Options(chunks, thinking.thoughts, content))
        return answer, wire.Meta(model, wire.response_id(), thinking)

    def _events(self, body: dict[str, Any], model: str, chunks: int, content: str | None) -> list[bytes]:
        return wire.stream_events(*self._composed(body, model, chunks, content), self.signer)

    def _chunks(self, request: web.Request, rule: Rule | None) -> int:
        if rule is not None and rule.chunks is not None:
            return min(rule.chunks, MAX_CHUNKS)
        header = request.headers.get(CHUNKS_HEADER, "")
        if header.isdigit() and int(header) > 0:
            return min(int(header), MAX_CHUNKS)
        return self.state.default_chunks

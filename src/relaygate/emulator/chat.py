"""`POST <prefix>/chat/completions` and `GET <prefix>/models` for one flavour.

Order of checks, as a provider would: record, authenticate, apply a scripted rule, validate the
body, answer (from the template cache when the same request was answered before).
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from .answers import Options, compose
from .auth import bearer_key, key_problem
from .delivery import NO_PACING, PER_EVENT, Pacing, merged, send_json, send_stream
from .errors import BAD_JSON, EMPTY_MESSAGES, MISSING_MESSAGES, fill_message, lookup
from .flavours import Flavour, Meta
from .recording import Record
from .render import Template, new_stamp, render_completion, render_stream, stamp, stamp_events
from .script import Rule
from .state import EmulatorState

CHUNKS_HEADER = "x-emulator-chunks"
MAX_CHUNKS = 10_000
MODELS_CREATED = 1_700_000_000
CACHEABLE_BYTES = 64 * 1024


def decode(raw: bytes) -> tuple[bool, Any]:
    """(parsed, value) for a request body."""
    try:
        return True, orjson.loads(raw)
    except orjson.JSONDecodeError:
        return False, None


def body_problem(parsed: bool, body: Any) -> str | None:
    """The 400 error kind for a body that cannot be answered, or None."""
    if not parsed or not isinstance(body, dict):
        return BAD_JSON
    messages = body.get("messages")
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        return MISSING_MESSAGES
    return EMPTY_MESSAGES if not messages else None


def error_payload(flavour: Flavour, kind: str | int, body: Any, key: str = "") -> tuple[int, bytes]:
    """Status and body of the flavour's error for `kind` (an error kind or an HTTP status)."""
    spec = lookup(flavour.errors, kind)
    model = str(body.get("model", "")) if isinstance(body, dict) else ""
    return spec.status, orjson.dumps(flavour.error_body(spec, fill_message(spec, model=model, key=key)))


def error_response(flavour: Flavour, kind: str | int, body: Any, key: str = "") -> web.Response:
    status, payload = error_payload(flavour, kind, body, key)
    headers = {"Retry-After": "1"} if status == 429 else {}
    return web.Response(status=status, body=payload, headers=headers, content_type="application/json")


def pacing_of(rule: Rule | None, burst: bool) -> Pacing:
    if rule is None:
        return NO_PACING if burst else PER_EVENT
    return Pacing(rule.delay, rule.chunk_delay, rule.cut_after, rule.stall_after, rule.keepalive, burst, rule.linger)


def is_stream(body: Any) -> bool:
    return isinstance(body, dict) and body.get("stream") is True


def include_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


class ChatEndpoint:
    """Answers chat completions the way `flavour` does."""

    def __init__(self, flavour: Flavour, state: EmulatorState) -> None:
        self.flavour = flavour
        self.state = state

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        parsed, body = decode(raw)
        recorder = self.state.recorder
        record = recorder.add(request, raw, body, parsed) if recorder is not None else None
        key = bearer_key(request)
        denied = key_problem(key, self.state.keys)
        if denied:
            return error_response(self.flavour, denied, body, key)
        rule = self._rule(request, body)
        if rule is not None and rule.overrides:
            return await self._scripted(request, rule, body, record)
        problem = body_problem(parsed, body)
        if problem:
            return error_response(self.flavour, problem, body)
        return await self._answer(request, raw, body, rule, record)

    def _rule(self, request: web.Request, body: Any) -> Rule | None:
        if not self.state.script:
            return None
        model = body.get("model") if isinstance(body, dict) else None
        return self.state.script.take(request.path, model, is_stream(body))

    async def _scripted(self, request: web.Request, rule: Rule, body: Any, record: Record | None) -> web.StreamResponse:
        status = rule.status or 200
        headers = merged({"Retry-After": "1"} if status == 429 else {}, rule.headers)
        pacing = pacing_of(rule, self.state.burst)
        if rule.raw is not None and status < 400 and is_stream(body):
            return await send_stream(request, [rule.raw.encode()], headers, pacing, record)
        return await send_json(request, status, self._scripted_payload(rule, status, body), headers, pacing, record)

    def _scripted_payload(self, rule: Rule, status: int, body: Any) -> bytes:
        if rule.raw is not None:
            return rule.raw.encode()
        if rule.body is not None:
            return orjson.dumps(rule.body)
        return error_payload(self.flavour, status, body)[1]

    async def _answer(
        self, request: web.Request, raw: bytes, body: dict[str, Any], rule: Rule | None, record: Record | None
    ) -> web.StreamResponse:
        template = self._template(raw, body, self._chunks(request, rule), rule.content if rule else None)
        values = new_stamp(self.flavour)
        pacing = pacing_of(rule, self.state.burst)
        if isinstance(template, tuple):
            return await send_stream(request, stamp_events(template, values), {}, pacing, record)
        return await send_json(request, 200, stamp(template, values), {}, pacing, record)

    def _template(self, raw: bytes, body: dict[str, Any], chunks: int, content: str | None) -> Template:
        """The rendered answer, from the cache when this exact request was answered before."""
        cacheable = len(raw) <= CACHEABLE_BYTES
        key = (self.flavour.name, raw, chunks, content)
        template = self.state.templates.get(key) if cacheable else None
        if template is None:
            template = self._render(body, chunks, content)
            if cacheable:
                self.state.templates.put(key, template)
        return template

    def _chunks(self, request: web.Request, rule: Rule | None) -> int:
        if rule is not None and rule.chunks is not None:
            return min(rule.chunks, MAX_CHUNKS)
        header = request.headers.get(CHUNKS_HEADER, "")
        if header.isdigit() and int(header) > 0:
            return min(int(header), MAX_CHUNKS)
        return self.state.default_chunks

    def _render(self, body: dict[str, Any], chunks: int, content: str | None) -> Template:
        answer = compose(body, Options(chunks, self.flavour.thinks(body), content))
        meta = Meta(str(body.get("model", "")), include_usage(body))
        if is_stream(body):
            return render_stream(self.flavour, answer, meta)
        return render_completion(self.flavour, answer, meta)


class ModelsEndpoint:
    """The flavour's model list, OpenAI-shaped, behind the same key check."""

    def __init__(self, flavour: Flavour, state: EmulatorState) -> None:
        self.flavour = flavour
        self.state = state
        data = [{"id": m, "object": "model", "created": MODELS_CREATED, "owned_by": flavour.owned_by}
                for m in flavour.models]
        self.body = orjson.dumps({"object": "list", "data": data})

    async def handle(self, request: web.Request) -> web.StreamResponse:
        key = bearer_key(request)
        denied = key_problem(key, self.state.keys)
        if denied:
            return error_response(self.flavour, denied, None, key)
        return web.Response(body=self.body, content_type="application/json")

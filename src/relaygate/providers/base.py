"""What every provider adapter offers the gateway, and the pieces OpenAI-wire vendors share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Protocol

import orjson

from relaygate.errors import GatewayError
from relaygate.providers.openai_errors import error_from_status
from relaygate.providers.openai_stream import StreamEnd
from relaygate.providers.thinking import requested_thinking
from relaygate.wire.sse import Event

# Request fields that steer relaygate itself and never reach an upstream (seed 001's `provider`,
# the `models` fallback array, the unified `thinking`).
GATEWAY_FIELDS = ("provider", "models", "thinking")

ThinkingMap = Callable[[dict[str, Any]], dict[str, Any]]


class StreamTranslator(Protocol):
    """Turns one upstream stream into OpenAI chat chunks; one instance per request.

    `translate` takes each upstream SSE event and returns the data of the chat chunks to send (JSON
    bytes, framed by the caller); `close` is called at the upstream's end of stream and returns the
    last chunks (the finish reason, and usage when the client asked for it). `end` says what metering
    needs; `end.done` is set once the answer is complete. Errors are raised as GatewayError."""

    end: StreamEnd
    # None, or for one whole event's bytes (`fast(piece, end)`: `piece[:end]`, without its blank
    # line): the framed chat chunk (`data: ...` and its blank line; b"" for none) for an event of a
    # kind it knows by its bytes, else None having changed nothing (TranslatedPump). Never a chunk
    # that carries usage or ends the stream.
    fast: Callable[[bytes, int], bytes | None] | None
    # None, or `fast` for the whole events of `piece` from `pos` on, each ending with `blank`
    # (`run(piece, pos, blank)`), as long as `fast` would answer each by itself: (what it wrote, where
    # the first other event begins, how many it took).
    run: Callable[[bytes, int, bytes], tuple[bytes, int, int]] | None

    def translate(self, event: Event) -> list[bytes]: ...

    def close(self) -> list[bytes]: ...


class Adapter(Protocol):
    """Turns an OpenAI chat request into this upstream's request and, unless `passthrough`, the
    upstream's answer back into OpenAI shape. Sans-I/O: no awaits, no config, no clock."""

    needs_base_url: bool
    passthrough: bool  # answers are already OpenAI chat completions and are forwarded as bytes
    one_choice: bool  # the upstream answers one choice per call: the gateway makes `n` calls, streamed or not

    def chat_url(self, base_url: str, model: str = "", stream: bool = False) -> str: ...

    def auth_headers(self, api_key: str | None) -> dict[str, str]: ...

    def chat_body(self, request: dict[str, Any], raw: bytes, model: str, stream: bool) -> bytes: ...

    def error_from_status(
        self, provider: str, status: int, raw: bytes, retry_after: str | None, secrets: Iterable[str]
    ) -> GatewayError: ...

    # Only for adapters that are not `passthrough`. The answer is a chat.completion object, which
    # the gateway serialises once, its cost written in.
    def chat_response(self, raw: bytes, request: dict[str, Any], model: str) -> dict[str, Any]: ...

    def stream_translator(self, request: dict[str, Any], model: str) -> StreamTranslator: ...


def no_thinking_params(thinking: dict[str, Any]) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class OpenAIWire:
    """An upstream speaking OpenAI Chat Completions; vendors differ only in how they take `thinking`."""

    name: str
    thinking: ThinkingMap = no_thinking_params
    needs_base_url: bool = True
    passthrough: bool = True
    one_choice: bool = False
    chat_path: str = "/chat/completions"
    extra_headers: dict[str, str] = field(default_factory=dict)
    default_key: str | None = None  # sent when the provider is configured without a key
    native_effort: bool = True  # False: `reasoning_effort` is unknown upstream and becomes `thinking`

    def chat_url(self, base_url: str, model: str = "", stream: bool = False) -> str:
        return base_url.rstrip("/") + self.chat_path

    def error_from_status(
        self, provider: str, status: int, raw: bytes, retry_after: str | None, secrets: Iterable[str]
    ) -> GatewayError:
        return error_from_status(provider, status, raw, retry_after, secrets)

    def auth_headers(self, api_key: str | None) -> dict[str, str]:
        headers = {"Content-Type": "application/json", **self.extra_headers}
        api_key = api_key or self.default_key
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        return headers

    def chat_body(self, request: dict[str, Any], raw: bytes, model: str, stream: bool) -> bytes:
        """The client's body with the upstream's model name, native thinking parameters and, when
        streaming, usage always requested. Untouched bytes are forwarded when nothing changes."""
        owned = GATEWAY_FIELDS if self.native_effort else (*GATEWAY_FIELDS, "reasoning_effort")
        if request["model"] == model and not any(f in request for f in owned):
            if not stream or (request.get("stream_options") or {}).get("include_usage") is True:
                return raw
        out = {k: v for k, v in request.items() if k not in owned}
        out["model"] = model
        thinking = request.get("thinking") if self.native_effort else requested_thinking(request)
        if thinking:
            for name, value in self.thinking(thinking).items():
                out.setdefault(name, value)
        if stream:
            out["stream_options"] = {**(request.get("stream_options") or {}), "include_usage": True}
        return orjson.dumps(out)

"""What every provider adapter offers the gateway, and the pieces OpenAI-wire vendors share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import orjson

# Request fields that steer relaygate itself and never reach an upstream (seed 001's `provider`).
GATEWAY_FIELDS = ("provider", "thinking")

ThinkingMap = Callable[[dict[str, Any]], dict[str, Any]]


class Adapter(Protocol):
    """Turns an OpenAI chat request into this upstream's request. Sans-I/O: no awaits, no config."""

    needs_base_url: bool
    passthrough: bool  # answers are already OpenAI chat completions and are forwarded as bytes

    def chat_url(self, base_url: str) -> str: ...

    def auth_headers(self, api_key: str | None) -> dict[str, str]: ...

    def chat_body(self, request: dict[str, Any], raw: bytes, model: str, stream: bool) -> bytes: ...


def no_thinking_params(thinking: dict[str, Any]) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class OpenAIWire:
    """An upstream speaking OpenAI Chat Completions; vendors differ only in how they take `thinking`."""

    name: str
    thinking: ThinkingMap = no_thinking_params
    needs_base_url: bool = True
    passthrough: bool = True
    chat_path: str = "/chat/completions"
    extra_headers: dict[str, str] = field(default_factory=dict)
    default_key: str | None = None  # sent when the provider is configured without a key

    def chat_url(self, base_url: str) -> str:
        return base_url.rstrip("/") + self.chat_path

    def auth_headers(self, api_key: str | None) -> dict[str, str]:
        headers = {"Content-Type": "application/json", **self.extra_headers}
        api_key = api_key or self.default_key
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        return headers

    def chat_body(self, request: dict[str, Any], raw: bytes, model: str, stream: bool) -> bytes:
        """The client's body with the upstream's model name, native thinking parameters and, when
        streaming, usage always requested. Untouched bytes are forwarded when nothing changes."""
        if request["model"] == model and not any(f in request for f in GATEWAY_FIELDS):
            if not stream or (request.get("stream_options") or {}).get("include_usage") is True:
                return raw
        out = {k: v for k, v in request.items() if k not in GATEWAY_FIELDS}
        out["model"] = model
        thinking = request.get("thinking")
        if thinking:
            for name, value in self.thinking(thinking).items():
                out.setdefault(name, value)
        if stream:
            out["stream_options"] = {**(request.get("stream_options") or {}), "include_usage": True}
        return orjson.dumps(out)

"""The Gemini API (`generateContent`, `streamGenerateContent?alt=sse`) behind the OpenAI interface.

https://ai.google.dev/api/generate-content. The key travels in `x-goog-api-key`. Modules:
request.py, contents.py and schema.py build the request; reading.py checks what comes back;
response.py and stream.py (with framing.py) turn it into chat completions; errors.py maps failures.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Iterable
from urllib.parse import quote

import orjson

from relaygate.errors import GatewayError
from relaygate.providers.gemini import errors
from relaygate.providers.gemini.request import chat_to_generate_content
from relaygate.providers.gemini.response import generate_content_to_chat
from relaygate.providers.gemini.stream import GeminiStreamTranslator
from relaygate.wire.openai_chat import wants_usage

__all__ = ["ADAPTER", "GeminiAdapter"]


def model_path(model: str) -> str:
    """`gemini-2.5-pro` → `models/gemini-2.5-pro`; a full resource name (`models/...`,
    `tunedModels/...`) is kept as it is."""
    return quote(model if "/" in model else f"models/{model}", safe="/-._~@")


@dataclass(frozen=True)
class GeminiAdapter:
    name: str = "gemini"
    needs_base_url: bool = True
    passthrough: bool = False
    one_choice: bool = False  # `n` is generationConfig.candidateCount
    inline_remote_images: bool = True  # Gemini takes image bytes inline, not URLs to fetch
    api_version: str = "v1beta"

    def chat_url(self, base_url: str, model: str = "", stream: bool = False) -> str:
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        return f"{base_url.rstrip('/')}/{self.api_version}/{model_path(model)}:{method}"

    def auth_headers(self, api_key: str | None) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if api_key:
            headers["x-goog-api-key"] = api_key
        return headers

    def chat_body(self, request: dict[str, Any], raw: bytes, model: str, stream: bool) -> bytes:
        return orjson.dumps(chat_to_generate_content(request, model))

    def error_from_status(
        self, provider: str, status: int, raw: bytes, retry_after: str | None, secrets: Iterable[str]
    ) -> GatewayError:
        return errors.error_from_status(provider, status, raw, retry_after, secrets)

    # The two answer transforms are pure and take `created` as an argument; this shell is the
    # one place that reads the clock, since Gemini's answer carries no creation time.
    def chat_response(self, raw: bytes, request: dict[str, Any], model: str) -> dict[str, Any]:
        return generate_content_to_chat(raw, model, int(time.time()))

    def stream_translator(self, request: dict[str, Any], model: str) -> GeminiStreamTranslator:
        return GeminiStreamTranslator(model, int(time.time()), wants_usage(request))


ADAPTER = GeminiAdapter()

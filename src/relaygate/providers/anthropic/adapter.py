"""The Anthropic Messages adapter: URL, headers and the three transforms, behind the Adapter protocol.

Requests go to `POST {base_url}/v1/messages` with `x-api-key` and `anthropic-version`
(https://docs.anthropic.com/en/api/overview, "Authentication"; /en/api/versioning). The transforms
are pure; the only clock read is `created`, taken here and handed to them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import orjson

from relaygate.errors import GatewayError
from relaygate.providers.anthropic import errors
from relaygate.providers.anthropic.json_mode import wants_json
from relaygate.providers.anthropic.request import chat_request_to_messages
from relaygate.providers.anthropic.response import messages_response_to_chat
from relaygate.providers.anthropic.stream import MessagesStreamTranslator
from relaygate.wire.openai_chat import wants_usage

API_VERSION = "2023-06-01"


@dataclass(frozen=True)
class AnthropicAdapter:
    clock: Callable[[], float] = time.time
    needs_base_url: bool = True
    passthrough: bool = False
    one_choice: bool = True  # the Messages API has no `n`

    def chat_url(self, base_url: str, model: str = "", stream: bool = False) -> str:
        """`base_url` is the API root (`https://api.anthropic.com`); one that already ends in `/v1` works too."""
        return base_url.rstrip("/").removesuffix("/v1") + "/v1/messages"

    def auth_headers(self, api_key: str | None) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "anthropic-version": API_VERSION}
        if api_key:
            headers["x-api-key"] = api_key
        return headers

    def chat_body(self, request: dict[str, Any], raw: bytes, model: str, stream: bool) -> bytes:
        return orjson.dumps(chat_request_to_messages(request, model, stream))

    def error_from_status(
        self, provider: str, status: int, raw: bytes, retry_after: str | None, secrets: Iterable[str]
    ) -> GatewayError:
        return errors.error_from_status(provider, status, raw, retry_after, secrets)

    def chat_response(self, raw: bytes, request: dict[str, Any], model: str) -> dict[str, Any]:
        return messages_response_to_chat(raw, wants_json(request), model, int(self.clock()))

    def stream_translator(self, request: dict[str, Any], model: str) -> MessagesStreamTranslator:
        return MessagesStreamTranslator(model, int(self.clock()), wants_usage(request), wants_json(request))

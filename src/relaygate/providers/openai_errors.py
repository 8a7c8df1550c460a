"""An OpenAI-wire upstream's error status and body → the GatewayError the client sees."""

from __future__ import annotations

from typing import Any, Iterable

import orjson

from relaygate.errors import GatewayError, UpstreamAuthError, UpstreamClientError, UpstreamError

MAX_MESSAGE = 500


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, "***")
    return text


def error_from_status(
    provider: str, status: int, raw: bytes, retry_after: str | None, secrets: Iterable[str]
) -> GatewayError:
    """4xx about the request pass through (status and OpenAI-shaped body); a rejected provider key
    (401/403) or an empty provider account (402) is the gateway's problem, not the client's: those
    become 502 without the upstream's words."""
    if status in (401, 402, 403):
        return UpstreamAuthError(f"Provider '{provider}' rejected the gateway's credentials (status {status}).")
    error = _error_object(raw)
    message = redact(str(error.get("message") or _text(raw) or f"status {status}"), secrets)[:MAX_MESSAGE]
    if 400 <= status < 500:
        body = {"error": {
            "message": message,
            "type": error.get("type") or "invalid_request_error",
            "param": error.get("param"),
            "code": error.get("code") or _default_code(status),
        }}
        return UpstreamClientError(status, body, retry_after)
    return UpstreamError(f"Provider '{provider}' returned {status}: {message}")


def _error_object(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {}
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return body["error"]
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body  # some compatible servers answer {"code", "message"} at top level
    return {}


def _text(raw: bytes) -> str:
    """A non-JSON body as text; cut only after redaction, so no key is ever half shown."""
    return raw[:64 * 1024].decode("utf-8", "replace").strip()


def _default_code(status: int) -> str:
    return {404: "not_found", 413: "request_too_large", 429: "rate_limit_exceeded"}.get(status, "upstream_error")

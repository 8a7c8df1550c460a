"""Anthropic's error status and body → the GatewayError the client sees.

Anthropic answers errors as `{"type": "error", "error": {"type", "message"}, "request_id"}` and
names each error type after its status (https://docs.anthropic.com/en/api/errors, "HTTP errors"):
400 invalid_request_error, 401 authentication_error, 402 billing_error, 403 permission_error,
404 not_found_error, 413 request_too_large, 429 rate_limit_error, 500 api_error,
504 timeout_error, 529 overloaded_error. The same body can also arrive as an `error` event in the
middle of a stream that began with 200 ("Error events" in the streaming guide).

    400, 404, 413 and other 4xx  → UpstreamClientError, same status, OpenAI-shaped body
    401, 402, 403                → UpstreamAuthError 502 (the gateway's provider key, not the client's)
    429                          → UpstreamClientError 429, `retry-after` kept
    529 overloaded, any 5xx      → UpstreamError 502
    an `error` event in a stream → UpstreamError 502, whatever its type
"""

from __future__ import annotations

from typing import Any, Iterable

import orjson

from relaygate.errors import GatewayError, UpstreamAuthError, UpstreamClientError, UpstreamError
from relaygate.providers.openai_errors import MAX_MESSAGE, redact

# Anthropic error type → the OpenAI (type, code) a client of the gateway expects for that status.
OPENAI_ERRORS: dict[str, tuple[str, str]] = {
    "invalid_request_error": ("invalid_request_error", "invalid_request"),
    "not_found_error": ("invalid_request_error", "model_not_found"),
    "request_too_large": ("invalid_request_error", "request_too_large"),
    "rate_limit_error": ("rate_limit_error", "rate_limit_exceeded"),
}
# When the body does not say (an HTML page from a proxy, say), the status does.
TYPE_OF_STATUS: dict[int, str] = {
    400: "invalid_request_error", 404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
}
AUTH_STATUSES = frozenset({401, 402, 403})


def error_from_status(
    provider: str, status: int, raw: bytes, retry_after: str | None, secrets: Iterable[str]
) -> GatewayError:
    if status in AUTH_STATUSES:
        return UpstreamAuthError(f"Provider '{provider}' rejected the gateway's credentials (status {status}).")
    kind, message = error_of(raw)
    message = redact(message or f"status {status}", secrets)[:MAX_MESSAGE]
    if 400 <= status < 500:
        return UpstreamClientError(status, openai_body(kind or TYPE_OF_STATUS.get(status, ""), message), retry_after)
    return UpstreamError(f"Provider '{provider}' returned {status} ({kind or 'no error type'}): {message}")


def error_from_event(payload: dict[str, Any]) -> UpstreamError:
    """An `error` event after the stream began: the answer is lost whatever the cause, so 502."""
    kind, message = _fields(payload.get("error"))
    error = UpstreamError(f"Anthropic failed mid-stream ({kind or 'error'}): {message[:MAX_MESSAGE]}")
    if kind:
        error.code = kind
    return error


def error_of(raw: bytes) -> tuple[str, str]:
    """(Anthropic error type, message) of an error body; ("", text) when it is not Anthropic's shape."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return "", raw[: 64 * 1024].decode("utf-8", "replace").strip()
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return _fields(body["error"])
    return "", raw[: 64 * 1024].decode("utf-8", "replace").strip()


def _fields(error: Any) -> tuple[str, str]:
    if not isinstance(error, dict):
        return "", "no error details"
    kind, message = error.get("type"), error.get("message")
    return (kind if isinstance(kind, str) else ""), (message if isinstance(message, str) else "")


def openai_body(kind: str, message: str) -> dict[str, Any]:
    openai_type, code = OPENAI_ERRORS.get(kind, ("invalid_request_error", kind or "upstream_error"))
    return {"error": {"message": message, "type": openai_type, "param": None, "code": code}}

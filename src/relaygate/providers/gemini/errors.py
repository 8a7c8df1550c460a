"""A Gemini error → the GatewayError the client sees.

Gemini answers errors as `{"error": {"code", "message", "status", "details"}}` (google.rpc.Status
in JSON), with an HTTP status, or inside a stream once it began. Statuses per
https://ai.google.dev/gemini-api/docs/troubleshooting#error-codes. What is about the client's
request passes through OpenAI-shaped; what is about the gateway's own key, account or region is
a 502, since the client cannot fix it and another deployment might serve it.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import orjson

from relaygate.errors import GatewayError, UpstreamAuthError, UpstreamClientError, UpstreamError
from relaygate.providers.openai_errors import MAX_MESSAGE, redact

# Statuses that concern the client's request; their body passes through, OpenAI-shaped.
CLIENT_STATUSES: dict[int, str] = {400: "invalid_argument", 404: "model_not_found", 413: "request_too_large"}
# google.rpc.ErrorInfo reasons that mean the gateway's provider key was refused (a 400 from Gemini).
KEY_REASON_PREFIX = "API_KEY_"
# 400s that are about the gateway's project, not the request: "User location is not supported
# for the API use.", "Gemini API free tier is not available in your country."
GATEWAY_STATUSES = frozenset({"FAILED_PRECONDITION"})
RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"


def error_from_status(
    provider: str, status: int, raw: bytes, retry_after: str | None, secrets: Iterable[str]
) -> GatewayError:
    error = _error_object(raw)
    text = error.get("message") if isinstance(error.get("message"), str) else _text(raw)
    message = redact(text or f"status {status}", secrets)[:MAX_MESSAGE]
    return classify(provider, status, error, message, retry_after)


def error_from_body(provider: str, body: dict[str, Any]) -> GatewayError:
    """An error object that came inside a 200 stream; its `code` is the HTTP status it stands for."""
    error = body["error"] if isinstance(body.get("error"), dict) else {}
    code = error.get("code")
    status = code if isinstance(code, int) and not isinstance(code, bool) else 500
    message = str(error.get("message") or f"status {status}")[:MAX_MESSAGE]
    return classify(provider, status, error, message, None)


def classify(
    provider: str, status: int, error: dict[str, Any], message: str, retry_after: str | None
) -> GatewayError:
    if status in (401, 403) or _key_refused(error):
        return UpstreamAuthError(f"Provider '{provider}' rejected the gateway's credentials (status {status}).")
    if status == 429:
        body = _openai_body(message, "rate_limit_error", "rate_limit_exceeded")
        return UpstreamClientError(429, body, retry_after or retry_delay(error))
    if status in CLIENT_STATUSES and error.get("status") not in GATEWAY_STATUSES:
        return UpstreamClientError(status, _openai_body(message, "invalid_request_error", CLIENT_STATUSES[status]))
    label = f"{status} {error['status']}" if isinstance(error.get("status"), str) else str(status)
    return UpstreamError(f"Provider '{provider}' returned {label}: {message}")


def _openai_body(message: str, kind: str, code: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def _details(error: dict[str, Any]) -> list[dict[str, Any]]:
    details = error.get("details")
    return [d for d in details if isinstance(d, dict)] if isinstance(details, list) else []


def _key_refused(error: dict[str, Any]) -> bool:
    return any(str(d.get("reason", "")).startswith(KEY_REASON_PREFIX) for d in _details(error))


def retry_delay(error: dict[str, Any]) -> str | None:
    """Whole seconds from a google.rpc.RetryInfo detail (`"retryDelay": "37s"`), for `retry-after`."""
    for detail in _details(error):
        delay = detail.get("retryDelay")
        if detail.get("@type") == RETRY_INFO and isinstance(delay, str) and delay.endswith("s"):
            try:
                return str(math.ceil(float(delay[:-1])))
            except (ValueError, OverflowError):  # "nans", "infs"
                return None
    return None


def _error_object(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {}
    return body["error"] if isinstance(body, dict) and isinstance(body.get("error"), dict) else {}


def _text(raw: bytes) -> str:
    return raw[:64 * 1024].decode("utf-8", "replace").strip()

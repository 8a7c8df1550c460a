"""Error kinds the emulator answers with, and the two body shapes providers wrap them in.

Each flavour keeps its own table `kind or status -> ErrorSpec`; `lookup` falls back to a generic
spec for statuses a table does not name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

BAD_JSON = "bad_json"
MISSING_MESSAGES = "missing_messages"
EMPTY_MESSAGES = "empty_messages"
MISSING_KEY = "missing_key"
INVALID_KEY = "invalid_key"


@dataclass(frozen=True)
class ErrorSpec:
    """One error as a provider words it. `{model}` and `{key}` in the message are filled in."""

    status: int
    message: str
    type: str
    code: str | None
    param: str | None = None


def lookup(table: Mapping[str | int, ErrorSpec], kind: str | int) -> ErrorSpec:
    """The spec for an error kind or HTTP status, falling back to a generic one."""
    if kind in table:
        return table[kind]
    status = kind if isinstance(kind, int) else 400
    if status >= 500:
        return ErrorSpec(status, "The server had an error while processing your request.", "server_error", None)
    return ErrorSpec(status, "The request was rejected by the upstream.", "invalid_request_error", None)


def fill_message(spec: ErrorSpec, model: str = "", key: str = "") -> str:
    return spec.message.replace("{model}", model).replace("{key}", mask_key(key))


def mask_key(key: str) -> str:
    """A key shortened the way providers echo it back (first and last characters only)."""
    if len(key) <= 8:
        return "****"
    return key[:3] + "*" * (len(key) - 7) + key[-4:]


def openai_shape(spec: ErrorSpec, message: str) -> dict[str, Any]:
    """`{"error": {"message", "type", "param", "code"}}` (OpenAI, DeepSeek, DashScope compatible-mode)."""
    return {"error": {"message": message, "type": spec.type, "param": spec.param, "code": spec.code}}


def ark_shape(spec: ErrorSpec, message: str) -> dict[str, Any]:
    """Volcengine Ark: `{"error": {"code", "message", "param", "type"}}`, `param` an empty string."""
    return {"error": {"code": spec.code, "message": message, "param": spec.param or "", "type": spec.type}}

"""providers/openai_errors.py: an OpenAI-wire upstream's error answer → the error the client sees."""

from __future__ import annotations

import orjson
import pytest

from relaygate.errors import UpstreamAuthError, UpstreamClientError, UpstreamError
from relaygate.providers.openai_errors import MAX_MESSAGE, error_from_status, redact

SECRET = "sk-proj-Zq3vN8xW1mB5kR7tY2uH9jL4cF6pD0aE"
OTHER_SECRET = "sk-9f8e7d6c5b4a39281706f5e4d3c2b1a0"
SECRETS = (SECRET, OTHER_SECRET)

# Bodies shaped as the providers answer (values are ours).
OPENAI_UNSUPPORTED = {"error": {
    "code": "unsupported_parameter",
    "message": "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
    "param": "max_tokens",
    "type": "invalid_request_error",
}}
OPENAI_MODEL_NOT_FOUND = {"error": {
    "message": "The model `gpt-4.1-nano-typo` does not exist or you do not have access to it.",
    "type": "invalid_request_error", "param": None, "code": "model_not_found",
}}
OPENAI_RATE_LIMIT = {"error": {
    "message": "Rate limit reached for gpt-4o-mini in organization org-abc on requests per min (RPM): Limit 500, "
               "Used 500, Requested 1. Please try again in 120ms.",
    "type": "requests", "param": None, "code": "rate_limit_exceeded",
}}
DASHSCOPE_INVALID_KEY = {"error": {
    "message": f"Incorrect API key provided: {SECRET}.", "type": "invalid_request_error",
    "param": None, "code": "invalid_api_key",
}, "id": "chatcmpl-0b9d1c2e-7f3a-9a41-b6c8-5e2d4f1a0c37", "request_id": "0b9d1c2e-7f3a-9a41-b6c8-5e2d4f1a0c37"}
DASHSCOPE_DATA_INSPECTION = {"error": {
    "code": "data_inspection_failed", "param": None,
    "message": "Input data may contain inappropriate content.", "type": "data_inspection_failed",
}, "id": "chatcmpl-5a1e", "request_id": "5a1e"}


def convert(status: int, body: object, retry_after: str | None = None):
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return error_from_status("alibaba", status, raw, retry_after, SECRETS)


@pytest.mark.parametrize(
    ("status", "body"),
    [(400, OPENAI_UNSUPPORTED), (404, OPENAI_MODEL_NOT_FOUND), (400, DASHSCOPE_DATA_INSPECTION), (422, OPENAI_UNSUPPORTED)],
    ids=["openai_400", "openai_404", "dashscope_400", "422"],
)
def test_request_errors_pass_through_in_openai_shape(status: int, body: dict) -> None:
    error = convert(status, body)
    assert isinstance(error, UpstreamClientError)
    assert error.status == status
    assert error.body() == {"error": {k: body["error"][k] for k in ("message", "type", "param", "code")}}
    assert error.message == body["error"]["message"]
    assert error.retryable is False
    assert error.headers() == []


def test_rate_limit_passes_through_retryable_with_retry_after() -> None:
    error = convert(429, OPENAI_RATE_LIMIT, retry_after="2")
    assert isinstance(error, UpstreamClientError)
    assert error.status == 429
    assert error.retryable is True
    assert error.body()["error"]["code"] == "rate_limit_exceeded"
    assert error.headers() == [(b"retry-after", b"2")]


@pytest.mark.parametrize("status", [401, 403])
def test_rejected_provider_key_is_a_gateway_error(status: int) -> None:
    error = convert(status, DASHSCOPE_INVALID_KEY)
    assert isinstance(error, UpstreamAuthError)
    assert error.status == 502
    assert error.retryable is True
    assert error.code == "upstream_auth_error"
    assert "alibaba" in error.message and str(status) in error.message
    # the upstream's words (which echo the provider key) stay out of it
    body = orjson.dumps(error.body()).decode()
    assert SECRET not in body and "Incorrect API key" not in body


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_become_upstream_errors(status: int) -> None:
    body = {"error": {"message": "The engine is currently overloaded, please try again later.",
                      "type": "server_error", "param": None, "code": None}}
    error = convert(status, body)
    assert type(error) is UpstreamError
    assert error.status == 502
    assert error.retryable is True
    assert "alibaba" in error.message and str(status) in error.message
    assert "overloaded" in error.message
    assert error.body()["error"]["type"] == "upstream_error"


def test_secret_in_a_client_error_message_is_redacted() -> None:
    body = {"error": {"message": f"Key {SECRET} cannot use model qwen-max; also tried {OTHER_SECRET}.",
                      "type": "invalid_request_error", "param": "model", "code": "model_access_denied"}}
    error = convert(400, body)
    text = orjson.dumps(error.body()).decode()
    assert SECRET not in text and OTHER_SECRET not in text
    assert error.body()["error"]["message"] == "Key *** cannot use model qwen-max; also tried ***."
    assert SECRET not in error.message


def test_secret_in_a_server_error_is_redacted() -> None:
    error = convert(500, {"error": {"message": f"upstream auth with {SECRET} failed", "type": "server_error"}})
    assert SECRET not in error.message and "***" in error.message


def test_non_json_body_gives_a_snippet() -> None:
    html = b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>nginx</body>\r\n</html>\r\n"
    error = convert(502, html)
    assert type(error) is UpstreamError
    assert "502 Bad Gateway" in error.message
    client = convert(404, b"404 page not found\n")
    assert isinstance(client, UpstreamClientError)
    assert client.body() == {"error": {
        "message": "404 page not found", "type": "invalid_request_error", "param": None, "code": "not_found",
    }}


def test_non_json_body_with_a_secret_is_redacted() -> None:
    error = convert(500, f"Internal error: bad key {SECRET}".encode())
    assert SECRET not in error.message and "***" in error.message


def test_secret_cut_by_the_snippet_is_not_partly_revealed() -> None:
    # The key begins near the end of the part of a non-JSON body shown to the client.
    raw = ("<html><body>" + "x" * 160 + " key=" + SECRET + "</body></html>").encode()
    error = convert(500, raw)
    assert SECRET[:12] not in error.message


def test_empty_body_names_the_status() -> None:
    assert "status 503" in convert(503, b"").message
    client = convert(413, b"")
    assert client.body()["error"] == {"message": "status 413", "type": "invalid_request_error",
                                      "param": None, "code": "request_too_large"}


def test_top_level_code_and_message_body() -> None:
    # Some compatible servers (and DashScope's native mode) answer {"code", "message", "request_id"}.
    body = {"code": "InvalidParameter", "message": "Range of input length should be [1, 30720]",
            "request_id": "6f0e7c8b-29a1-4d5c-9b3e-1a2f3c4d5e6f"}
    error = convert(400, body)
    assert error.body()["error"] == {"message": body["message"], "type": "invalid_request_error",
                                     "param": None, "code": "InvalidParameter"}


def test_missing_fields_get_defaults() -> None:
    error = convert(429, {"error": {"message": "Too many requests"}})
    assert error.body()["error"] == {"message": "Too many requests", "type": "invalid_request_error",
                                     "param": None, "code": "rate_limit_exceeded"}
    error = convert(409, {"error": {"message": "Conflict"}})
    assert error.body()["error"]["code"] == "upstream_error"


def test_long_message_is_cut() -> None:
    error = convert(400, {"error": {"message": "x" * 5000, "type": "invalid_request_error"}})
    assert len(error.body()["error"]["message"]) == MAX_MESSAGE


def test_redact() -> None:
    assert redact(f"a {SECRET} b {SECRET}", SECRETS) == "a *** b ***"
    assert redact("nothing here", ["", None, SECRET]) == "nothing here"  # type: ignore[list-item]

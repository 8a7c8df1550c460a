"""providers/anthropic/errors.py: Anthropic status and error body → GatewayError."""

from __future__ import annotations

from pathlib import Path

import pytest

from relaygate.errors import UpstreamAuthError, UpstreamClientError, UpstreamError
from relaygate.providers.anthropic import ADAPTER
from relaygate.providers.anthropic.errors import error_from_event

FIXTURES = Path(__file__).parent / "fixtures" / "anthropic"
SECRET = "sk-ant-api03-secret-key-0001"


def mapped(status: int, body: bytes, retry_after: str | None = None):
    return ADAPTER.error_from_status("claude", status, body, retry_after, [SECRET])


def test_400_passes_through_openai_shaped_with_anthropics_message() -> None:
    error = mapped(400, (FIXTURES / "error_400.json").read_bytes())
    assert isinstance(error, UpstreamClientError) and error.status == 400 and not error.retryable
    body = error.body()["error"]
    assert set(body) == {"message", "type", "param", "code"}
    assert body["type"] == "invalid_request_error" and body["code"] == "invalid_request"
    assert body["message"].startswith("messages.2.content.0: unexpected `tool_use_id`")


def test_404_is_model_not_found_and_413_request_too_large() -> None:
    error = mapped(404, (FIXTURES / "error_404.json").read_bytes())
    assert error.status == 404 and error.body()["error"]["code"] == "model_not_found"
    too_big = mapped(413, b'{"type":"error","error":{"type":"request_too_large","message":"Request exceeds the maximum size"}}')
    assert too_big.status == 413 and too_big.body()["error"]["code"] == "request_too_large"


def test_429_keeps_status_and_retry_after_and_is_retryable() -> None:
    error = mapped(429, (FIXTURES / "error_429.json").read_bytes(), retry_after="17")
    assert isinstance(error, UpstreamClientError) and error.status == 429 and error.retryable
    assert error.headers() == [(b"retry-after", b"17")]
    assert error.body()["error"]["code"] == "rate_limit_exceeded"
    assert "rate limit" in error.body()["error"]["message"]


@pytest.mark.parametrize("status", [401, 402, 403])
def test_rejected_provider_key_is_a_502_without_the_upstreams_words(status: int) -> None:
    body = b'{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key ' + SECRET.encode() + b'"}}'
    error = mapped(status, body)
    assert isinstance(error, UpstreamAuthError) and error.status == 502
    assert SECRET not in error.message and "x-api-key" not in error.message


@pytest.mark.parametrize(
    ("status", "body", "words"),
    [
        (529, (FIXTURES / "error_529.json").read_bytes(), "529 (overloaded_error): Overloaded"),
        (500, b'{"type":"error","error":{"type":"api_error","message":"Internal server error"}}', "api_error"),
        (504, b"<html>gateway timeout</html>", "gateway timeout"),
        (503, b"", "status 503"),
    ],
)
def test_overloaded_and_5xx_are_a_retryable_502(status: int, body: bytes, words: str) -> None:
    error = mapped(status, body)
    assert type(error) is UpstreamError and error.status == 502 and error.retryable
    assert words in error.message and "'claude'" in error.message


def test_secrets_in_upstream_messages_are_redacted() -> None:
    body = b'{"type":"error","error":{"type":"invalid_request_error","message":"bad key ' + SECRET.encode() + b' here"}}'
    assert mapped(400, body).body()["error"]["message"] == "bad key *** here"
    assert SECRET not in mapped(500, b"echo " + SECRET.encode()).message


def test_a_4xx_body_that_is_not_anthropics_shape_still_passes_through_by_status() -> None:
    error = mapped(422, b"unprocessable")
    assert error.status == 422 and error.body()["error"]["message"] == "unprocessable"
    assert mapped(429, b"[]").body()["error"]["code"] == "rate_limit_exceeded"


def test_stream_error_event_is_an_upstream_error_carrying_the_type() -> None:
    error = error_from_event({"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}})
    assert error.status == 502 and error.code == "rate_limit_error" and "slow down" in error.message
    bare = error_from_event({"type": "error"})
    assert bare.status == 502 and bare.code == "upstream_error"

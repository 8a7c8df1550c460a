"""Gemini error status and body → GatewayError (providers/gemini/errors.py)."""

from __future__ import annotations

import pytest

from relaygate.errors import UpstreamAuthError, UpstreamClientError, UpstreamError
from relaygate.providers.gemini import ADAPTER
from relaygate.providers.gemini.errors import retry_delay
from tests.providers.gemini_support import fixture

KEY = "AIzaSy-gateway-secret-key"


def mapped(status, name, retry_after=None):
    return ADAPTER.error_from_status("google", status, fixture(name), retry_after, [KEY])


def test_invalid_argument_passes_through_openai_shaped():
    error = mapped(400, "error_invalid_argument.json")
    assert type(error) is UpstreamClientError and error.status == 400
    assert error.body() == {"error": {
        "message": "* GenerateContentRequest.generation_config.temperature: must be between 0 and 2\n",
        "type": "invalid_request_error", "param": None, "code": "invalid_argument"}}
    assert error.retryable is False


def test_not_found_passes_through_as_model_not_found():
    error = mapped(404, "error_not_found.json")
    assert error.status == 404 and error.body()["error"]["code"] == "model_not_found"
    assert "gemini-0.1-nope" in error.body()["error"]["message"]


def test_an_invalid_api_key_is_the_gateways_problem_not_the_clients():
    error = mapped(400, "error_api_key_invalid.json")
    assert type(error) is UpstreamAuthError and error.status == 502
    assert "google" in error.message and "API key not valid" not in error.message


@pytest.mark.parametrize("status", [401, 403])
def test_unauthenticated_and_permission_denied_are_502(status):
    error = mapped(status, "error_permission_denied.json")
    assert type(error) is UpstreamAuthError and error.status == 502 and error.retryable


def test_unsupported_location_is_a_502_another_deployment_may_serve():
    error = mapped(400, "error_location.json")
    assert type(error) is UpstreamError and error.status == 502
    assert "FAILED_PRECONDITION" in error.message


def test_resource_exhausted_is_a_429_with_retry_after_from_retry_info():
    error = mapped(429, "error_quota.json")
    assert type(error) is UpstreamClientError and error.status == 429 and error.retryable
    assert error.body()["error"]["code"] == "rate_limit_exceeded"
    assert error.headers() == [(b"retry-after", b"37")]  # 36.5s, rounded up


def test_a_retry_after_header_wins_over_retry_info():
    assert mapped(429, "error_quota.json", retry_after="3").headers() == [(b"retry-after", b"3")]


@pytest.mark.parametrize("status", [500, 503, 504])
def test_server_errors_are_502(status):
    error = mapped(status, "error_internal.json")
    assert type(error) is UpstreamError and error.status == 502
    assert error.message.startswith(f"Provider 'google' returned {status} INTERNAL: An internal error")


def test_a_body_that_is_not_json_is_still_a_clear_error_without_the_key():
    error = ADAPTER.error_from_status("google", 500, f"<html>oops {KEY}</html>".encode(), None, [KEY])
    assert type(error) is UpstreamError and KEY not in error.message and "***" in error.message
    error = ADAPTER.error_from_status("google", 400, b"", None, [KEY])
    assert error.status == 400 and error.body()["error"]["message"] == "status 400"


def test_the_key_is_redacted_from_passed_through_messages():
    raw = b'{"error": {"code": 400, "message": "bad key AIzaSy-gateway-secret-key here", "status": "INVALID_ARGUMENT"}}'
    error = ADAPTER.error_from_status("google", 400, raw, None, [KEY])
    assert KEY not in error.body()["error"]["message"]


@pytest.mark.parametrize(("delay", "seconds"), [("1s", "1"), ("0.2s", "1"), ("nans", None), ("5m", None)])
def test_retry_delay(delay, seconds):
    error = {"details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}]}
    assert retry_delay(error) == seconds

"""Every error the contract lists, OpenAI-shaped, through the real server."""

from __future__ import annotations

import socket
import time

import httpx
import openai
import pytest

from tests.e2e.conftest import CLIENT_KEY, LIMITED_KEY, UPSTREAM_KEYS

USER = {"role": "user", "content": "Hello"}
AUTH = {"Authorization": f"Bearer {CLIENT_KEY}"}


def post(gateway, body, path="/v1/chat/completions", headers=AUTH, timeout=30.0) -> httpx.Response:
    if isinstance(body, (bytes, str)):
        return httpx.post(gateway.base + path, content=body, headers=headers, timeout=timeout)
    return httpx.post(gateway.base + path, json=body, headers=headers, timeout=timeout)


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    if code is not None:
        assert error["code"] == code
    assert response.headers["x-request-id"]
    return error


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b'{"model": "chat-default", "messages": [', None),
        (b"not json at all", None),
        (b"", None),
        ([1, 2, 3], None),
        ({"messages": [USER]}, "model"),
        ({"model": "", "messages": [USER]}, "model"),
        ({"model": "chat-default"}, "messages"),
        ({"model": "chat-default", "messages": []}, "messages"),
        ({"model": "chat-default", "messages": "hello"}, "messages"),
        ({"model": "chat-default", "messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
        ({"model": "chat-default", "messages": [{"role": "user", "content": 42}]}, "messages[0].content"),
        ({"model": "chat-default", "messages": [USER], "temperature": "hot"}, "temperature"),
        ({"model": "chat-default", "messages": [USER], "stream": "yes"}, "stream"),
        ({"model": "chat-default", "messages": [USER], "max_tokens": True}, "max_tokens"),
        ({"model": "chat-default", "messages": [USER], "tools": {"a": 1}}, "tools"),
        ({"model": "chat-default", "messages": [USER], "thinking": {"type": "maybe"}}, "thinking"),
        ({"model": 12, "messages": [USER]}, "model"),
    ],
)
def test_bad_bodies_are_400(gateway, emulator, body, param):
    error = assert_error(post(gateway, body), 400)
    assert error["type"] == "invalid_request_error" and error["param"] == param
    assert emulator.requests() == []  # nothing went upstream


def test_sdk_sees_bad_request(gateway):
    with pytest.raises(openai.BadRequestError) as caught:
        gateway.client().chat.completions.create(model="chat-default", messages=[])
    assert caught.value.status_code == 400


def test_body_too_large_is_413(gateway):
    huge = {"model": "chat-default", "messages": [{"role": "user", "content": "x" * 1_100_000}]}
    assert_error(post(gateway, huge), 413, "request_too_large")


def test_missing_and_unknown_keys_are_401(gateway):
    assert_error(post(gateway, {"model": "chat-default", "messages": [USER]}, headers={}), 401, "invalid_api_key")
    with pytest.raises(openai.AuthenticationError):
        gateway.client(key="sk-nobody-knows-this").chat.completions.create(model="chat-default", messages=[USER])
    assert_error(httpx.get(gateway.base + "/v1/models"), 401, "invalid_api_key")


def test_model_not_allowed_for_key_is_403(gateway):
    client = gateway.client(key=LIMITED_KEY)
    assert client.chat.completions.create(model="chat-default", messages=[USER]).choices
    with pytest.raises(openai.PermissionDeniedError):
        client.chat.completions.create(model="deepseek/deepseek-chat", messages=[USER])


@pytest.mark.parametrize("model", ["no-such-model", "nobody/gpt-4o", "shared-model"])
def test_unknown_or_ambiguous_model_is_404(gateway, model):
    with pytest.raises(openai.NotFoundError) as caught:
        gateway.client().chat.completions.create(model=model, messages=[USER])
    assert caught.value.code == "model_not_found"


def test_upstream_400_passes_through_with_its_status_and_body(gateway, emulator):
    upstream_error = {"error": {"message": "Unsupported parameter: 'max_tokens'", "type": "invalid_request_error",
                                "param": "max_tokens", "code": "unsupported_parameter"}}
    emulator.script({"status": 400, "body": upstream_error})
    with pytest.raises(openai.BadRequestError) as caught:
        gateway.client("/openai/v1").chat.completions.create(model="gpt-4o-mini", messages=[USER], max_tokens=5)
    assert caught.value.body == upstream_error["error"]


def test_upstream_429_passes_through_with_retry_after(gateway, emulator):
    emulator.script({"status": 429, "headers": {"retry-after": "7"}})
    response = post(gateway, {"model": "deepseek-chat", "messages": [USER]}, path="/deepseek/v1/chat/completions")
    assert_error(response, 429)
    assert response.headers["retry-after"] == "7"


def test_upstream_error_never_leaks_the_provider_key(gateway, emulator):
    leaked = f"Incorrect value for header: Bearer {UPSTREAM_KEYS['openai']}"
    emulator.script({"status": 400, "body": {"error": {"message": leaked, "type": "invalid_request_error"}}})
    response = post(gateway, {"model": "openai/gpt-4o-mini", "messages": [USER]})
    assert_error(response, 400)
    assert UPSTREAM_KEYS["openai"] not in response.text


def test_upstream_rejecting_the_provider_key_is_502_not_401(gateway, emulator):
    emulator.script({"status": 401, "match": {"model": "authfail-model"}})
    error = assert_error(post(gateway, {"model": "authfail-model", "messages": [USER]},
                              path="/authfail/v1/chat/completions"), 502, "upstream_auth_error")
    assert "authfail" in error["message"]
    # the rejected key rests, and with no other key the provider has nothing healthy to offer
    assert_error(post(gateway, {"model": "authfail-model", "messages": [USER]}, path="/authfail/v1/chat/completions"),
                 503, "no_healthy_upstream")


@pytest.mark.parametrize("status", [500, 503])
def test_upstream_5xx_is_502(gateway, emulator, status):
    emulator.script({"status": status})
    with pytest.raises(openai.APIStatusError) as caught:
        gateway.client().chat.completions.create(model="chat-default", messages=[USER])
    assert caught.value.status_code == 502


def test_upstream_5xx_before_streaming_is_a_502_response(gateway, emulator):
    emulator.script({"status": 500})
    response = post(gateway, {"model": "chat-default", "messages": [USER], "stream": True})
    assert_error(response, 502, "upstream_error")


def test_connection_failure_is_502(gateway):
    error = assert_error(post(gateway, {"model": "x", "messages": [USER]}, path="/dead/v1/chat/completions"),
                         502, "upstream_unavailable")
    assert "dead" in error["message"] and "sk-dead-secret" not in error["message"]


def test_upstream_timeout_is_504(gateway, emulator):
    emulator.script({"delay": 5})
    started = time.monotonic()
    assert_error(post(gateway, {"model": "m", "messages": [USER]}, path="/slow/v1/chat/completions"),
                 504, "upstream_timeout")
    assert time.monotonic() - started < 4.5  # the total limit of 3 s, not the upstream's 5 s


def test_no_first_token_in_time_is_504(gateway, emulator):
    emulator.script({"delay": 2})
    response = post(gateway, {"model": "m", "messages": [USER], "stream": True}, path="/slow/v1/chat/completions")
    error = assert_error(response, 504, "upstream_timeout")
    assert "first token" in error["message"]


def test_stream_cut_midway_ends_with_an_error_frame(gateway, emulator):
    emulator.script({"cut_after": 3})
    stream = gateway.client().chat.completions.create(model="chat-default", messages=[USER], stream=True)
    received = []
    with pytest.raises(openai.APIError):
        for chunk in stream:
            received.append(chunk)
    assert 1 <= len(received) <= 3


def test_stalled_stream_is_cut_by_the_idle_limit(gateway, emulator):
    emulator.script({"stall_after": 2})
    response = post(gateway, {"model": "m", "messages": [USER], "stream": True}, path="/slow/v1/chat/completions")
    assert response.status_code == 200
    last = [line for line in response.text.splitlines() if line.startswith("data: ")][-1]
    assert '"upstream_timeout"' in last and "silent" in last


def test_client_disconnect_cancels_the_upstream_call(gateway, emulator):
    emulator.script({"chunk_delay": 0.2, "chunks": 50})
    with httpx.stream("POST", gateway.base + "/v1/chat/completions", headers=AUTH, timeout=10,
                      json={"model": "chat-default", "messages": [USER], "stream": True}) as response:
        for line in response.iter_lines():
            if line.startswith("data: "):
                break
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        records = emulator.requests()
        if records and records[-1].get("disconnected"):
            break
        time.sleep(0.1)
    assert emulator.requests()[-1].get("disconnected") is True


def test_client_disconnect_during_non_streaming_call_cancels_it(gateway, emulator):
    emulator.script({"delay": 3})
    with pytest.raises(httpx.ReadTimeout):
        post(gateway, {"model": "chat-default", "messages": [USER]}, timeout=0.5)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not emulator.requests()[-1].get("disconnected"):
        time.sleep(0.1)
    assert emulator.requests()[-1].get("disconnected") is True


def test_unknown_path_and_wrong_method(gateway):
    assert_error(httpx.get(gateway.base + "/v2/nothing"), 404, "not_found")
    assert_error(httpx.get(gateway.base + "/v1/chat/completions", headers=AUTH), 405, "method_not_allowed")


def test_slowloris_client_body_is_not_a_500(gateway):
    with socket.create_connection(("127.0.0.1", int(gateway.base.rsplit(":", 1)[1]))) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n"
                     b"Authorization: Bearer " + CLIENT_KEY.encode() + b"\r\n\r\n{\"model\":")
    response = post(gateway, {"model": "chat-default", "messages": [USER]})
    assert response.status_code == 200  # the server is fine after a client that left mid-body

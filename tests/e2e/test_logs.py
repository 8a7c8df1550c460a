"""Logs through the real server: with `format: json` every line is one JSON object, each chat
request gets one access line with its outcome, and neither key secrets nor message content
appear unless `content` is switched on."""

from __future__ import annotations

import time

import orjson
import openai
import pytest

from tests.e2e.conftest import CLIENT_KEY, UPSTREAM_KEYS, one_upstream_config, start_gateway

MARKER = "purple-elephant-4711"  # message content that must stay out of the log
USER = {"role": "user", "content": f"Please remember {MARKER}."}
WRONG_KEY = "sk-wrong-but-secret-0042"


def logs_config(e: str, content: bool) -> str:
    logging = f"logging: {{format: json, level: info, access: true, content: {str(content).lower()}}}\n"
    return one_upstream_config(e, "chat", "chat-a", "admin_key: admin-secret-for-logs-1\n" + logging)


def lines(gw) -> list[dict]:
    """Every line the gateway wrote, each of which must be a JSON object."""
    return [orjson.loads(line) for line in gw.log().splitlines() if line.strip()]


def access_lines(gw, count: int) -> list[dict]:
    """The access lines, once `count` of them were written (a request is settled just after its answer)."""
    for _ in range(200):
        found = [line for line in lines(gw) if line["logger"] == "relaygate.access"]
        if len(found) >= count:
            return found
        time.sleep(0.05)
    raise AssertionError(f"expected {count} access lines, found {len(found)}")


@pytest.fixture(scope="module")
def gw(emulator, tmp_path_factory):
    with start_gateway(logs_config(emulator.base, False), tmp_path_factory.mktemp("logs")) as gateway:
        yield gateway


def test_one_json_access_line_per_request_without_secrets_or_content(gw):
    client = gw.client()
    answer = client.chat.completions.with_raw_response.create(model="chat", messages=[USER])
    stream = client.chat.completions.with_raw_response.create(
        model="chat", messages=[USER], stream=True, stream_options={"include_usage": True},
        extra_headers={"x-client-request-id": "logged-2"})
    streamed_usage = [chunk.usage for chunk in stream.parse() if chunk.usage][-1]
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="no-such-model", messages=[USER])
    with pytest.raises(openai.AuthenticationError):
        gw.client(key=WRONG_KEY).chat.completions.create(model="chat", messages=[USER],
                                                         extra_headers={"x-request-id": "refused-4"})

    whole, streamed, missing, unauthorised = access_lines(gw, 4)
    usage = answer.parse().usage
    assert whole["request_id"] == answer.headers["x-request-id"] and whole["client_request_id"] is None
    assert whole == {
        **whole, "key": "team-a", "model": "chat", "provider": "primary", "upstream_model": "chat-a",
        "status": 200, "error_code": None, "stream": False, "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens, "attempts": 1, "ttft_ms": whole["ttft_ms"],
    }
    assert set(whole) == {
        "time", "level", "logger", "request_id", "client_request_id", "key", "model", "provider", "upstream_model", "status",
        "error_code", "stream", "prompt_tokens", "completion_tokens", "reasoning_tokens", "cached_tokens", "cost",
        "latency_ms", "ttft_ms", "attempts",
    }
    assert isinstance(whole["latency_ms"], int) and whole["level"] == "info" and whole["time"].endswith("+00:00")
    assert streamed["request_id"] == stream.headers["x-request-id"]
    assert streamed["client_request_id"] == stream.headers["x-client-request-id"] == "logged-2"
    assert (streamed["stream"], streamed["completion_tokens"]) == (True, streamed_usage.completion_tokens)
    assert isinstance(streamed["ttft_ms"], int) and streamed["ttft_ms"] <= streamed["latency_ms"]
    assert (missing["status"], missing["error_code"], missing["model"], missing["attempts"]) == (
        404, "model_not_found", "no-such-model", 0)
    assert (unauthorised["status"], unauthorised["error_code"], unauthorised["key"]) == (401, "invalid_api_key", None)
    assert unauthorised["client_request_id"] == "refused-4" and unauthorised["request_id"] != "refused-4"

    text = gw.log()
    assert any(line["logger"].startswith("uvicorn") for line in lines(gw))  # the server's own lines are JSON too
    for secret in (CLIENT_KEY, WRONG_KEY, UPSTREAM_KEYS["openai"], "admin-secret-for-logs-1", MARKER):
        assert secret not in text


def test_content_is_logged_only_when_switched_on(emulator, tmp_path):
    with start_gateway(logs_config(emulator.base, True), tmp_path) as gw:
        gw.client().chat.completions.create(model="chat", messages=[USER])
        (line,) = access_lines(gw, 1)
    assert line["messages"] == [USER]
    assert CLIENT_KEY not in gw.log()

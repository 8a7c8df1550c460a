"""The emulator's Gemini flavour on its own: what it refuses and how it words it (emulator/gemini/)."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from tests.e2e.conftest import UPSTREAM_KEYS, Emulator

KEY = {"x-goog-api-key": UPSTREAM_KEYS["gemini"]}
HELLO = {"role": "user", "parts": [{"text": "Hello"}]}
CALL = {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]}
ANSWER = {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {"output": "x"}}}]}


def post(emulator: Emulator, body: Any, method: str = "generateContent", headers: dict[str, str] | None = None,
         query: str = "") -> httpx.Response:
    url = f"{emulator.base}/gemini/v1beta/models/gemini-2.5-flash:{method}{query}"
    return httpx.post(url, content=orjson.dumps(body), headers=KEY if headers is None else headers, timeout=10)


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return response.json()["error"]


def test_no_key_is_403_and_a_wrong_key_the_recorded_400(emulator):
    assert error_of(post(emulator, {"contents": [HELLO]}, headers={}), 403)["status"] == "PERMISSION_DENIED"
    error = error_of(post(emulator, {"contents": [HELLO]}, headers={"x-goog-api-key": "AIza-wrong"}), 400)
    assert error["status"] == "INVALID_ARGUMENT" and error["details"][0]["reason"] == "API_KEY_INVALID"
    assert post(emulator, {"contents": [HELLO]}, headers={}, query=f"?key={UPSTREAM_KEYS['gemini']}").status_code == 200


@pytest.mark.parametrize(("contents", "message"), [
    ([], "contents is not specified"),
    ([{"role": "user", "parts": []}], "must not be empty"),
    ([{"role": "assistant", "parts": [{"text": "x"}]}], "valid role"),
    ([HELLO, HELLO], "alternate between user and model"),
    ([CALL, ANSWER], "function call turn comes immediately after a user turn"),
    ([HELLO, {"role": "model", "parts": [{"text": "hi"}]}, ANSWER], "function response turn comes immediately after"),
    ([HELLO, {"role": "model", "parts": [CALL["parts"][0], CALL["parts"][0]]}, ANSWER], "number of function response"),
    ([{"role": "user", "parts": [{"inlineData": {"mimeType": "image/png", "data": "not base64!"}}]}], "Base64"),
])
def test_invalid_conversations_are_400s(emulator, contents, message):
    assert message in error_of(post(emulator, {"contents": contents}), 400)["message"]


def test_openai_fields_are_unknown_names(emulator):
    error = error_of(post(emulator, {"contents": [HELLO], "messages": []}), 400)
    assert error["message"] == 'Invalid JSON payload received. Unknown name "messages": Cannot find field.'
    error = error_of(post(emulator, {"contents": [HELLO], "generationConfig": {"max_tokens": 5}}), 400)
    assert '"max_tokens"' in error["message"]


def test_a_call_the_emulator_did_not_sign_is_refused_with_thinking_on(emulator):
    thinking = {"thinkingConfig": {"thinkingBudget": 1024}}
    contents = [HELLO, CALL, ANSWER]
    unsigned = post(emulator, {"contents": contents, "generationConfig": thinking})
    assert "missing a thought_signature" in error_of(unsigned, 400)["message"]
    forged = {"role": "model", "parts": [{**CALL["parts"][0], "thoughtSignature": "Zm9yZ2Vk"}]}
    body = {"contents": [HELLO, forged, ANSWER], "generationConfig": thinking}
    assert error_of(post(emulator, body), 400)["message"] == "Corrupted thought signature."
    assert post(emulator, {"contents": contents}).status_code == 200, "not checked with thinking off"


@pytest.mark.parametrize(("thinking", "message"), [
    ({"thinkingLevel": "extreme"}, "Invalid value at 'generation_config.thinking_config.thinking_level'"),
    ({"thinkingLevel": "low", "thinkingBudget": 1024}, "thinking_budget and thinking_level are not supported together"),
])
def test_thinking_levels_are_checked(emulator, thinking, message):
    assert message in error_of(post(emulator, {"contents": [HELLO], "generationConfig": {"thinkingConfig": thinking}}),
                               400)["message"]


@pytest.mark.parametrize(("level", "thinks"), [("low", True), ("HIGH", True), ("minimal", False)])
def test_a_thinking_level_thinks_above_minimal(emulator, level, thinks):
    config = {"thinkingConfig": {"thinkingLevel": level, "includeThoughts": True}}
    answer = post(emulator, {"contents": [HELLO], "generationConfig": config}).json()
    parts = answer["candidates"][0]["content"]["parts"]
    assert any(p.get("thought") for p in parts) is thinks


def test_streams_are_sse_with_crlf_and_cumulative_usage(emulator):
    response = post(emulator, {"contents": [HELLO]}, "streamGenerateContent", query="?alt=sse")
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [orjson.loads(block[len(b"data: "):]) for block in response.content.split(b"\r\n\r\n") if block]
    totals = [e["usageMetadata"]["totalTokenCount"] for e in events]
    assert totals == sorted(totals) and len(events) > 2
    assert "finishReason" not in events[0]["candidates"][0] and events[-1]["candidates"][0]["finishReason"] == "STOP"
    assert len({e["responseId"] for e in events}) == 1


def test_without_alt_sse_the_stream_is_one_json_array(emulator):
    response = post(emulator, {"contents": [HELLO]}, "streamGenerateContent")
    assert isinstance(response.json(), list) and response.json()[-1]["candidates"][0]["finishReason"] == "STOP"


def test_scripted_errors_wear_gemini_bodies(emulator):
    emulator.script({"status": 429})
    error = error_of(post(emulator, {"contents": [HELLO]}), 429)
    assert error["status"] == "RESOURCE_EXHAUSTED"
    assert error["details"] == [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"}]


def test_a_scripted_mid_stream_error_is_bare_json_after_the_events(emulator):
    emulator.script({"status": 500, "cut_after": 2})
    response = post(emulator, {"contents": [HELLO]}, "streamGenerateContent", query="?alt=sse")
    assert response.status_code == 200
    events, _, trailer = response.content.rpartition(b"\r\n\r\n")
    assert events.count(b"data: ") == 2
    assert orjson.loads(trailer)["error"]["status"] == "INTERNAL" and trailer.startswith(b"{\n  ")


def test_an_unknown_method_is_404(emulator):
    assert error_of(post(emulator, {"contents": [HELLO]}, "countTokens"), 404)["status"] == "NOT_FOUND"

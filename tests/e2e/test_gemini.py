"""The openai SDK against a gateway whose upstream is the emulator's Gemini flavour."""

from __future__ import annotations

import base64
import json
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any, Iterator

import httpx
import openai
import pytest

from tests.e2e.conftest import CLIENT_KEY, UPSTREAM_KEYS, Emulator, Gateway, start_gateway

MODEL = "gemini-2.5-pro"
GENERATE = "/gemini/v1beta/models/gemini-2.5-pro:generateContent"
STREAM = "/gemini/v1beta/models/gemini-2.5-pro:streamGenerateContent"
USER = {"role": "user", "content": "Hello there, friend"}
PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH/iZk9HQAAAABJRU5ErkJggg==")
WEATHER = {
    "type": "function",
    "function": {"name": "get_weather", "description": "Weather for a city",
                 "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                                "additionalProperties": False}},
}
CLOCK = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {
    "zone": {"type": "string", "enum": ["Europe/Oslo", "UTC"]}}}}}
THINKING = {"thinking": {"type": "enabled", "budget_tokens": 2048}}
LEVELS_MODEL = "gemini-3-flash-preview"  # asked to think in levels rather than budgets


def config(emulator: Emulator, allow_images: bool) -> str:
    base = f"{emulator.base}/gemini"
    allow = '\n  image_fetch_allow: ["127.0.0.1"]' if allow_images else ""
    return f"""
providers:
  google:
    type: gemini
    base_url: {base}
    api_key: {UPSTREAM_KEYS['gemini']}
    models: [gemini-2.0-flash]
  google_badkey:
    type: gemini
    base_url: {base}
    api_key: AIza-not-a-key-the-emulator-knows
    mount: /badkey/v1
  google_spare:
    type: gemini
    base_url: {base}
    api_key: {UPSTREAM_KEYS['gemini']}
    mount: /spare/v1
models:
  {MODEL}:
    - {{provider: google, model: {MODEL}}}
  {LEVELS_MODEL}:
    - {{provider: google, model: {LEVELS_MODEL}}}
keys:
  - {{key: {CLIENT_KEY}, name: tests}}
routing:
  max_attempts: 1
  circuit: {{failures: 1000}}
server:
  max_body_bytes: 1048576{allow}
"""


@pytest.fixture(scope="module")
def gateways(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Gateway, Gateway]]:
    """Two gateways, started side by side: one trusts the emulator's loopback image URL, one does not."""
    with ExitStack() as stack, ThreadPoolExecutor(2) as pool:
        started = [pool.submit(stack.enter_context, start_gateway(config(emulator, allow), tmp_path_factory.mktemp("g")))
                   for allow in (True, False)]
        trusting, strict = (future.result() for future in started)
        yield trusting, strict


@pytest.fixture(scope="module")
def gemini(gateways: tuple[Gateway, Gateway]) -> Gateway:
    return gateways[0]


_CLIENTS: dict[tuple[str, str], openai.OpenAI] = {}


def client(gateway: Gateway, mount: str = "/v1") -> openai.OpenAI:
    """One SDK client per gateway and mount: making one loads TLS settings, a tenth of a second."""
    key = (gateway.base, mount)
    if key not in _CLIENTS:
        _CLIENTS[key] = gateway.client(mount)
    return _CLIENTS[key]


def chat(gateway: Gateway, **fields: Any) -> Any:
    return client(gateway).chat.completions.create(**{"model": MODEL, "messages": [USER], **fields})


def streamed(gateway: Gateway, **fields: Any) -> list[Any]:
    return list(client(gateway).chat.completions.create(**{"model": MODEL, "messages": [USER], "stream": True,
                                                             **fields}))


def text_of(chunks: list[Any], field: str = "content") -> str:
    return "".join(getattr(c.choices[0].delta, field, None) or "" for c in chunks if c.choices)


def calls_of(chunks: list[Any]) -> list[dict[str, Any]]:
    """Tool calls put together from stream deltas, extra fields (the thought signature) kept."""
    calls: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        for delta in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            call = calls.setdefault(delta.index, {"type": "function", "function": {"name": "", "arguments": ""}})
            extra = delta.model_dump(exclude_none=True, exclude={"index", "function"})
            call.update(extra)
            call["function"]["name"] += delta.function.name or ""
            call["function"]["arguments"] += delta.function.arguments or ""
    return [calls[i] for i in sorted(calls)]


def test_plain_chat_reaches_generate_content_with_the_google_key(gemini, emulator):
    answer = chat(gemini)
    assert answer.choices[0].message.content.startswith("Echo: Hello there, friend")
    assert answer.choices[0].finish_reason == "stop"
    assert answer.model == MODEL and answer.object == "chat.completion"
    assert answer.usage.total_tokens == answer.usage.prompt_tokens + answer.usage.completion_tokens > 0
    seen = emulator.last()
    assert seen["path"] == GENERATE
    assert seen["headers"]["x-goog-api-key"] == UPSTREAM_KEYS["gemini"]
    assert "authorization" not in seen["headers"]
    assert seen["body"] == {"contents": [{"role": "user", "parts": [{"text": "Hello there, friend"}]}]}


def test_provider_slash_model_and_a_system_prompt(gemini, emulator):
    answer = chat(gemini, model="google/gemini-2.0-flash",
                  messages=[{"role": "system", "content": "Be brief."}, USER], temperature=0.2, stop=["\n\n"])
    assert answer.choices[0].message.content.startswith("Echo: Hello there")
    seen = emulator.last()
    assert seen["path"] == "/gemini/v1beta/models/gemini-2.0-flash:generateContent"
    assert seen["body"]["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert seen["body"]["generationConfig"] == {"temperature": 0.2, "stopSequences": ["\n\n"]}


def test_a_bare_model_name_a_provider_lists(gemini, emulator):
    assert chat(gemini, model="gemini-2.0-flash").choices[0].finish_reason == "stop"
    assert emulator.last()["path"].endswith("/gemini-2.0-flash:generateContent")


def test_multi_turn_alternates_user_and_model(gemini, emulator):
    messages = [{"role": "user", "content": "Name a prime."}, {"role": "assistant", "content": "7"},
                {"role": "user", "content": "Another one?"}]
    answer = chat(gemini, messages=messages)
    assert answer.choices[0].message.content.startswith("Echo: Another one?")
    assert [c["role"] for c in emulator.last()["body"]["contents"]] == ["user", "model", "user"]


def test_streaming_matches_the_whole_answer_and_usage_only_when_asked(gemini, emulator):
    whole = chat(gemini).choices[0].message.content
    chunks = streamed(gemini)
    assert text_of(chunks) == whole
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.choices and c.usage is None for c in chunks)
    seen = emulator.last()
    assert seen["path"] == STREAM and seen["query"] == "alt=sse"
    with_usage = streamed(gemini, stream_options={"include_usage": True})
    assert with_usage[-1].choices == [] and with_usage[-1].usage.completion_tokens > 0
    assert sum(1 for c in with_usage if c.usage is not None) == 1


def test_two_round_tool_conversation_with_parallel_calls(gemini, emulator):
    messages: list[Any] = [{"role": "user", "content": "Weather in Oslo, and the time?"}]
    first = chat(gemini, messages=messages, tools=[WEATHER, CLOCK])
    calls = first.choices[0].message.tool_calls
    assert first.choices[0].finish_reason == "tool_calls"
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]
    assert json.loads(calls[0].function.arguments) == {"city": "Tokyo"}
    assert len({c.id for c in calls}) == 2
    declared = emulator.last()["body"]["tools"][0]["functionDeclarations"]
    assert "additionalProperties" not in json.dumps(declared)
    messages += [first.choices[0].message,
                 {"role": "tool", "tool_call_id": calls[0].id, "content": "Sunny, 21 C"},
                 {"role": "tool", "tool_call_id": calls[1].id, "content": '{"time": "12:00"}'}]
    second = chat(gemini, messages=messages, tools=[WEATHER, CLOCK])
    assert second.choices[0].message.content.startswith('Tool said: {"output":"Sunny, 21 C"} | {"time":"12:00"}')
    assert second.choices[0].finish_reason == "stop"
    contents = emulator.last()["body"]["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    assert [p["functionResponse"]["name"] for p in contents[2]["parts"]] == ["get_weather", "get_time"]


def test_two_round_tool_conversation_streamed(gemini, emulator):
    messages: list[Any] = [{"role": "user", "content": "Weather and time, please"}]
    chunks = streamed(gemini, messages=messages, tools=[WEATHER, CLOCK], tool_choice="required")
    calls = calls_of(chunks)
    assert [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in calls] == [
        ("get_weather", {"city": "Tokyo"}), ("get_time", {"zone": "Europe/Oslo"})]
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    assert emulator.last()["body"]["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    messages += [{"role": "assistant", "content": None, "tool_calls": calls},
                 *({"role": "tool", "tool_call_id": c["id"], "content": "done"} for c in calls)]
    answer = streamed(gemini, messages=messages, tools=[WEATHER, CLOCK])
    assert text_of(answer).startswith('Tool said: {"output":"done"} | {"output":"done"}')


def test_a_named_tool_choice(gemini, emulator):
    answer = chat(gemini, tools=[WEATHER, CLOCK], tool_choice={"type": "function", "function": {"name": "get_time"}})
    assert [c.function.name for c in answer.choices[0].message.tool_calls] == ["get_time"]
    assert emulator.last()["body"]["toolConfig"]["functionCallingConfig"] == {
        "mode": "ANY", "allowedFunctionNames": ["get_time"]}


def image_message(url: str) -> dict[str, Any]:
    return {"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                        {"type": "image_url", "image_url": {"url": url}}]}


def test_an_image_as_a_data_url(gemini, emulator):
    answer = chat(gemini, messages=[image_message(f"data:image/png;base64,{PNG}")])
    assert "[saw: inline_data:image/png]" in answer.choices[0].message.content
    parts = emulator.last()["body"]["contents"][0]["parts"]
    assert parts[1] == {"inlineData": {"mimeType": "image/png", "data": PNG}}


def test_an_image_by_http_url_is_fetched_by_the_gateway(gemini, emulator):
    answer = chat(gemini, messages=[image_message(f"{emulator.base}/_emulator/image.png")])
    assert "[saw: inline_data:image/png]" in answer.choices[0].message.content
    inline = emulator.last()["body"]["contents"][0]["parts"][1]["inlineData"]
    assert inline["mimeType"] == "image/png"
    assert base64.b64decode(inline["data"]) == httpx.get(f"{emulator.base}/_emulator/image.png").content


def test_without_the_allow_setting_a_loopback_image_url_is_refused(gateways, emulator):
    with pytest.raises(openai.BadRequestError) as caught:
        chat(gateways[1], messages=[image_message(f"{emulator.base}/_emulator/image.png")])
    error = caught.value.body
    assert error["code"] == "invalid_image_url" and error["type"] == "invalid_request_error"
    assert error["param"] == "messages[0].content[1].image_url.url"
    assert emulator.requests() == []


def test_json_object_mode(gemini, emulator):
    answer = chat(gemini, response_format={"type": "json_object"})
    assert json.loads(answer.choices[0].message.content) == {"echo": "Hello there, friend", "ok": True}
    assert emulator.last()["body"]["generationConfig"] == {"responseMimeType": "application/json"}


def test_json_schema_mode(gemini, emulator):
    schema = {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
              "required": ["city", "days"], "additionalProperties": False}
    answer = chat(gemini, response_format={"type": "json_schema",
                                           "json_schema": {"name": "trip", "schema": schema, "strict": True}})
    assert json.loads(answer.choices[0].message.content) == {"city": "Tokyo", "days": 1}
    sent = emulator.last()["body"]["generationConfig"]
    assert sent["responseSchema"] == {"type": "object", "properties": schema["properties"],
                                      "required": ["city", "days"]}


def test_thinking_on(gemini, emulator):
    answer = chat(gemini, extra_body=THINKING)
    message = answer.choices[0].message
    assert message.reasoning_content.startswith("Thinking about: Hello there")
    assert message.content.startswith("Echo: Hello there")
    assert answer.usage.completion_tokens_details.reasoning_tokens > 0
    assert emulator.last()["body"]["generationConfig"]["thinkingConfig"] == {
        "thinkingBudget": 2048, "includeThoughts": True}


def test_the_thinking_alias_of_a_catalog_model(gemini, emulator):
    answer = chat(gemini, model=f"{MODEL}-thinking")
    assert answer.choices[0].message.reasoning_content.startswith("Thinking about:")
    seen = emulator.last()
    assert seen["path"] == GENERATE
    assert seen["body"]["generationConfig"]["thinkingConfig"] == {"thinkingBudget": -1, "includeThoughts": True}


def test_thinking_on_streamed(gemini, emulator):
    chunks = streamed(gemini, reasoning_effort="low", stream_options={"include_usage": True})
    assert text_of(chunks, "reasoning_content").startswith("Thinking about: Hello there")
    assert text_of(chunks).startswith("Echo: Hello there")
    first_text = next(i for i, c in enumerate(chunks) if c.choices and c.choices[0].delta.content)
    assert all(not getattr(c.choices[0].delta, "reasoning_content", None) for c in chunks[first_text:] if c.choices)
    assert chunks[-1].usage.completion_tokens_details.reasoning_tokens > 0
    assert emulator.last()["body"]["generationConfig"]["thinkingConfig"]["includeThoughts"] is True


def test_tool_round_trip_with_thinking_on(gemini, emulator):
    messages: list[Any] = [{"role": "user", "content": "Weather in Oslo?"}]
    first = chat(gemini, messages=messages, tools=[WEATHER], extra_body=THINKING)
    message = first.choices[0].message
    signature = message.tool_calls[0].model_extra["extra_content"]["google"]["thought_signature"]
    assert message.reasoning_content and signature
    messages += [message, {"role": "tool", "tool_call_id": message.tool_calls[0].id, "content": "Sunny"}]
    second = chat(gemini, messages=messages, tools=[WEATHER], extra_body=THINKING)
    assert second.choices[0].message.content.startswith('Tool said: {"output":"Sunny"}')
    call_part = emulator.last()["body"]["contents"][1]["parts"][0]
    assert call_part["thoughtSignature"] == signature


def test_tool_round_trip_with_thinking_on_streamed(gemini, emulator):
    messages: list[Any] = [{"role": "user", "content": "Weather in Oslo?"}]
    calls = calls_of(streamed(gemini, messages=messages, tools=[WEATHER], extra_body=THINKING))
    assert calls[0]["extra_content"]["google"]["thought_signature"]
    messages += [{"role": "assistant", "content": None, "tool_calls": calls},
                 {"role": "tool", "tool_call_id": calls[0]["id"], "content": "Sunny"}]
    assert text_of(streamed(gemini, messages=messages, tools=[WEATHER], extra_body=THINKING)).startswith("Tool said:")
    unsigned = [{**calls[0], "extra_content": {}}]
    messages[1] = {"role": "assistant", "content": None, "tool_calls": unsigned}
    with pytest.raises(openai.BadRequestError) as caught:
        streamed(gemini, messages=messages, tools=[WEATHER], extra_body=THINKING)
    assert "missing a thought_signature" in caught.value.body["message"]


@pytest.mark.parametrize("stream", [False, True])
def test_gemini_3_thinks_at_the_level_of_the_effort(gemini, emulator, stream):
    fields = {"model": LEVELS_MODEL, "reasoning_effort": "low"}
    if stream:
        chunks = streamed(gemini, **fields, stream_options={"include_usage": True})
        thought, usage = text_of(chunks, "reasoning_content"), chunks[-1].usage
    else:
        answer = chat(gemini, **fields)
        thought, usage = answer.choices[0].message.reasoning_content, answer.usage
    assert thought.startswith("Thinking about: Hello there") and usage.completion_tokens_details.reasoning_tokens > 0
    seen = emulator.last()
    assert seen["path"].startswith(f"/gemini/v1beta/models/{LEVELS_MODEL}:")
    assert seen["body"]["generationConfig"]["thinkingConfig"] == {"thinkingLevel": "low", "includeThoughts": True}


def test_gemini_3_asked_for_no_effort_thinks_minimally(gemini, emulator):
    message = chat(gemini, model=LEVELS_MODEL, reasoning_effort="none").choices[0].message
    assert message.content.startswith("Echo: Hello there")
    assert getattr(message, "reasoning_content", None) is None
    assert emulator.last()["body"]["generationConfig"]["thinkingConfig"] == {"thinkingLevel": "minimal"}


def test_gemini_3_tool_round_trip_with_a_thinking_level(gemini, emulator):
    messages: list[Any] = [{"role": "user", "content": "Weather in Oslo?"}]
    first = chat(gemini, model=LEVELS_MODEL, messages=messages, tools=[WEATHER], reasoning_effort="high")
    message = first.choices[0].message
    assert message.tool_calls[0].model_extra["extra_content"]["google"]["thought_signature"]
    messages += [message, {"role": "tool", "tool_call_id": message.tool_calls[0].id, "content": "Sunny"}]
    second = chat(gemini, model=LEVELS_MODEL, messages=messages, tools=[WEATHER], reasoning_effort="high")
    assert second.choices[0].message.content.startswith('Tool said: {"output":"Sunny"}')
    assert emulator.last()["body"]["generationConfig"]["thinkingConfig"]["thinkingLevel"] == "high"


@pytest.mark.parametrize("stream", [False, True])
def test_max_tokens_stop_is_length(gemini, emulator, stream):
    if stream:
        chunks = streamed(gemini, max_tokens=3)
        text, finish = text_of(chunks), chunks[-1].choices[0].finish_reason
    else:
        choice = chat(gemini, max_tokens=3).choices[0]
        text, finish = choice.message.content, choice.finish_reason
    assert finish == "length" and len(text.split()) == 3
    assert emulator.last()["body"]["generationConfig"] == {"maxOutputTokens": 3}


def test_upstream_400_passes_through_openai_shaped(gemini, emulator):
    emulator.script({"status": 400})
    with pytest.raises(openai.BadRequestError) as caught:
        chat(gemini)
    assert caught.value.body == {"message": "Request contains an invalid argument.", "type": "invalid_request_error",
                                 "param": None, "code": "invalid_argument"}


def test_upstream_404_is_model_not_found(gemini, emulator):
    emulator.script({"status": 404})
    with pytest.raises(openai.NotFoundError) as caught:
        chat(gemini)
    assert caught.value.body["code"] == "model_not_found" and "gemini-2.5-pro" in caught.value.body["message"]


def test_a_key_gemini_refuses_is_a_502_not_the_clients_400(gemini, emulator):
    with pytest.raises(openai.APIStatusError) as caught:
        client(gemini, "/badkey/v1").chat.completions.create(model=MODEL, messages=[USER])
    assert caught.value.status_code == 502 and caught.value.body["code"] == "upstream_auth_error"
    assert "AIza-not-a-key" not in caught.value.response.text


def test_permission_denied_is_a_502(gemini, emulator):
    emulator.script({"status": 403})
    with pytest.raises(openai.APIStatusError) as caught:
        client(gemini, "/spare/v1").chat.completions.create(model=MODEL, messages=[USER])
    assert caught.value.status_code == 502 and caught.value.body["code"] == "upstream_auth_error"


def test_resource_exhausted_is_a_429_with_retry_after(gemini, emulator):
    emulator.script({"status": 429})
    with pytest.raises(openai.RateLimitError) as caught:
        chat(gemini)
    assert caught.value.response.headers["retry-after"] == "1"  # from Gemini's RetryInfo
    assert caught.value.body["code"] == "rate_limit_exceeded"


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_502(gemini, emulator, status):
    emulator.script({"status": status})
    with pytest.raises(openai.APIStatusError) as caught:
        chat(gemini)
    assert caught.value.status_code == 502 and caught.value.body["code"] == "upstream_error"


def test_a_malformed_answer_is_a_clear_502(gemini, emulator):
    emulator.script({"body": {"this": [{"is": "not a response"}]}})
    with pytest.raises(openai.APIStatusError) as caught:
        chat(gemini)
    assert caught.value.status_code == 502 and caught.value.body["code"] == "upstream_protocol_error"


def test_an_error_in_the_middle_of_a_stream_ends_it_with_an_error_frame(gemini, emulator):
    emulator.script({"status": 503, "cut_after": 3, "chunk_delay": 0.02, "match": {"stream": True}})
    received = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in client(gemini).chat.completions.create(model=MODEL, messages=[USER], stream=True):
            received.append(chunk)
    assert len(received) == 3 and text_of(received)
    assert "503 UNAVAILABLE: The model is overloaded" in caught.value.message


def test_an_error_that_arrives_with_the_first_events_is_an_error_response(gemini, emulator):
    """Nothing went out yet, so the attempt fails as a whole (and could fall back)."""
    emulator.script({"status": 503, "cut_after": 2, "match": {"stream": True}})
    with pytest.raises(openai.APIStatusError) as caught:
        streamed(gemini)
    assert caught.value.status_code == 502 and "overloaded" in caught.value.body["message"]


def test_a_cut_stream_ends_with_an_error_frame(gemini, emulator):
    emulator.script({"cut_after": 2, "match": {"stream": True}})
    received = []
    with pytest.raises(openai.APIError):
        for chunk in client(gemini).chat.completions.create(model=MODEL, messages=[USER], stream=True):
            received.append(chunk)
    assert 1 <= len(received) <= 2
    assert all(c.choices[0].finish_reason is None for c in received)

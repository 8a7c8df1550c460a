"""The openai SDK against a gateway whose upstream is the emulator's Anthropic Messages flavour."""

from __future__ import annotations

import base64
import json
import time
from decimal import Decimal
from typing import Any, Iterator

import httpx
import openai
import pytest
from sqlalchemy import select

from relaygate.store.schema import usage_records
from tests.e2e.conftest import (
    CLIENT_KEY,
    UPSTREAM_KEYS,
    Emulator,
    Gateway,
    start_gateway,
)

MODEL = "claude-sonnet-4-5"
UPSTREAM_MODEL = "claude-sonnet-4-5-20250929"
PATH = "/anthropic/v1/messages"
USER = {"role": "user", "content": "Hello there, friend"}
PNG = base64.b64encode(bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000")).decode()
WEATHER = {
    "type": "function",
    "function": {"name": "get_weather", "description": "Weather for a city",
                 "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
}
CLOCK = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {
    "zone": {"type": "string", "enum": ["Asia/Tokyo", "UTC"]}}}}}
THINKING = {"thinking": {"type": "enabled", "budget_tokens": 2048}}
REDACT = "ANTHROPIC_MAGIC_STRING_TRIGGER_REDACTED_THINKING_46C9A13E193C177646C7398A98432ECCCE4C1253"


def config(emulator: Emulator) -> str:
    base = f"{emulator.base}/anthropic"
    return f"""
providers:
  anthropic:
    type: anthropic
    base_url: {base}
    api_key: {UPSTREAM_KEYS['anthropic']}
  anthropic_badkey:
    type: anthropic
    base_url: {base}
    api_key: sk-ant-not-a-key-of-the-emulator
models:
  {MODEL}:
    - {{provider: anthropic, model: {UPSTREAM_MODEL}}}
routing:
  max_attempts: 2
  backoff: {{initial: 0.01, max: 5.0}}
  circuit: {{failures: 1000, cooldown: 1}}
keys:
  - {{key: {CLIENT_KEY}, name: tests}}
"""


@pytest.fixture(scope="module")
def gateway(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    with start_gateway(config(emulator), tmp_path_factory.mktemp("anthropic")) as gateway:
        yield gateway


@pytest.fixture()
def client(gateway: Gateway) -> openai.OpenAI:
    return gateway.client()


def sent(emulator: Emulator) -> list[dict[str, Any]]:
    """Bodies of the Messages requests the emulator received, oldest first."""
    records = [r for r in emulator.requests() if r["path"] == PATH]
    return [r["body"] for r in records]


def back(message: Any) -> dict[str, Any]:
    """The assistant message as a client sends it back: everything it got, unchanged."""
    return message.model_dump(exclude_none=True)


def results_for(calls: list[Any], texts: list[str]) -> list[dict[str, Any]]:
    return [{"role": "tool", "tool_call_id": c.id, "content": t} for c, t in zip(calls, texts)]


def test_plain_chat_goes_to_the_messages_api_with_the_provider_key(client, emulator) -> None:
    answer = client.chat.completions.create(model=MODEL, messages=[USER])
    assert answer.choices[0].message.content.startswith("Echo: Hello there, friend")
    assert answer.choices[0].finish_reason == "stop" and answer.model == UPSTREAM_MODEL
    assert answer.id.startswith("msg_01") and answer.object == "chat.completion"
    assert answer.usage.total_tokens == answer.usage.prompt_tokens + answer.usage.completion_tokens > 0
    record = emulator.last()
    assert record["path"] == PATH
    assert record["headers"]["x-api-key"] == UPSTREAM_KEYS["anthropic"]
    assert record["headers"]["anthropic-version"] == "2023-06-01"
    assert "authorization" not in record["headers"]
    assert record["body"] == {"model": UPSTREAM_MODEL, "max_tokens": 4096, "messages": [USER]}


def test_provider_slash_model_addressing_uses_the_native_name(client, emulator) -> None:
    answer = client.chat.completions.create(model="anthropic/claude-haiku-4-5", messages=[USER], max_tokens=300)
    assert answer.model == "claude-haiku-4-5"
    assert sent(emulator)[-1]["model"] == "claude-haiku-4-5" and sent(emulator)[-1]["max_tokens"] == 300


def test_system_prompt_and_multi_turn(client, emulator) -> None:
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Name a prime."},
        {"role": "assistant", "content": "7"},
        {"role": "user", "content": "Another one?"},
    ]
    answer = client.chat.completions.create(model=MODEL, messages=messages, temperature=1.5, stop=["zzz"])
    assert answer.choices[0].message.content.startswith("Echo: Another one?")
    body = sent(emulator)[-1]
    assert body["system"] == [{"type": "text", "text": "You are terse."}]
    assert body["messages"] == messages[1:]
    assert body["temperature"] == 1.0 and body["stop_sequences"] == ["zzz"]


def test_streaming_gives_the_same_text_and_usage_only_when_asked(client, emulator) -> None:
    whole = client.chat.completions.create(model=MODEL, messages=[USER]).choices[0].message.content
    chunks = list(client.chat.completions.create(model=MODEL, messages=[USER], stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == whole
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop" and all(c.usage is None for c in chunks)
    with_usage = list(client.chat.completions.create(
        model=MODEL, messages=[USER], stream=True, stream_options={"include_usage": True}))
    assert with_usage[-1].choices == [] and with_usage[-1].usage.completion_tokens > 0
    assert sent(emulator)[-1]["stream"] is True and "stream_options" not in sent(emulator)[-1]


def test_two_round_parallel_tool_conversation(client, emulator) -> None:
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Weather and time in Kyoto?"}]
    first = client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER, CLOCK])
    choice = first.choices[0]
    calls = choice.message.tool_calls
    assert choice.finish_reason == "tool_calls" and [c.function.name for c in calls] == ["get_weather", "get_time"]
    assert all(c.id.startswith("toolu_01") for c in calls) and len({c.id for c in calls}) == 2
    assert json.loads(calls[1].function.arguments) == {"zone": "Asia/Tokyo"}
    messages += [back(choice.message), *results_for(calls, ["sunny", "12:00"])]
    second = client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER, CLOCK])
    assert second.choices[0].message.content.startswith("Tool said: sunny | 12:00")
    assert second.choices[0].finish_reason == "stop"
    turn = sent(emulator)[-1]["messages"][-1]
    assert turn["role"] == "user" and [b["tool_use_id"] for b in turn["content"]] == [c.id for c in calls]


def test_two_round_parallel_tool_conversation_streamed_through_the_sdk_helper(client, emulator) -> None:
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Weather and time in Kyoto?"}]
    with client.chat.completions.stream(model=MODEL, messages=messages, tools=[WEATHER, CLOCK]) as stream:
        first = stream.get_final_completion()
    calls = first.choices[0].message.tool_calls
    assert [json.loads(c.function.arguments) for c in calls] == [{"city": "Tokyo"}, {"zone": "Asia/Tokyo"}]
    assert first.choices[0].finish_reason == "tool_calls"
    messages += [back(first.choices[0].message), *results_for(calls, ["rain", "09:00"])]
    chunks = list(client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER, CLOCK], stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks).startswith("Tool said: rain | 09:00")
    assert all(r["body"]["stream"] for r in emulator.requests())


def test_parallel_tool_calls_false_asks_for_one_call(client, emulator) -> None:
    answer = client.chat.completions.create(model=MODEL, messages=[USER], tools=[WEATHER, CLOCK],
                                            parallel_tool_calls=False, tool_choice="required")
    assert len(answer.choices[0].message.tool_calls) == 1
    assert sent(emulator)[-1]["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}


def test_images_by_data_url_and_by_http_url(client, emulator) -> None:
    content = [
        {"type": "text", "text": "Compare these"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/kinkakuji.jpg"}},
    ]
    answer = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": content}])
    assert "[saw: image]" in answer.choices[0].message.content
    blocks = sent(emulator)[-1]["messages"][0]["content"]
    assert blocks[1] == {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    assert blocks[2] == {"type": "image", "source": {"type": "url", "url": "https://example.com/kinkakuji.jpg"}}


def test_json_object_mode(client, emulator) -> None:
    answer = client.chat.completions.create(model=MODEL, messages=[USER], response_format={"type": "json_object"})
    assert json.loads(answer.choices[0].message.content) == {"echo": "Hello there, friend", "ok": True}
    assert answer.choices[0].finish_reason == "stop" and not answer.choices[0].message.tool_calls
    assert sent(emulator)[-1]["tool_choice"] == {"type": "tool", "name": "relaygate_json_response"}


def test_json_schema_mode_streamed(client, emulator) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}, "year": {"type": "integer"}},
              "required": ["city", "year"], "additionalProperties": False}
    fmt = {"type": "json_schema", "json_schema": {"name": "place", "schema": schema, "strict": True}}
    chunks = list(client.chat.completions.create(model=MODEL, messages=[USER], response_format=fmt, stream=True))
    assert json.loads("".join(c.choices[0].delta.content or "" for c in chunks)) == {"city": "Tokyo", "year": 1}
    assert chunks[-1].choices[0].finish_reason == "stop"
    body = sent(emulator)[-1]  # a structured output: Claude Sonnet 4.5 takes the schema natively
    assert body["output_config"] == {"format": {"type": "json_schema", "schema": schema}} and "tools" not in body


def test_json_schema_whole_natively_or_through_the_tool(client, emulator) -> None:
    closed = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
              "additionalProperties": False}
    open_ = {"type": "object", "properties": {"city": {"type": "string"}, "year": {"type": "integer", "minimum": 1}}}
    for schema, native in ((closed, True), (open_, False)):
        fmt = {"type": "json_schema", "json_schema": {"name": "place", "schema": schema}}
        answer = client.chat.completions.create(model=MODEL, messages=[USER], response_format=fmt)
        assert json.loads(answer.choices[0].message.content)["city"] == "Tokyo"
        assert answer.choices[0].finish_reason == "stop" and not answer.choices[0].message.tool_calls
        body = sent(emulator)[-1]
        assert ("output_config" in body) is native and ("tools" in body) is not native


def test_thinking_whole_answer(client, emulator) -> None:
    answer = client.chat.completions.create(model=MODEL, messages=[USER], extra_body=THINKING)
    message = answer.choices[0].message.model_extra
    assert message["reasoning_content"].startswith("Thinking about: Hello there, friend")
    [block] = message["thinking_blocks"]
    assert block["type"] == "thinking" and block["thinking"] == message["reasoning_content"] and block["signature"]
    assert answer.choices[0].message.content.startswith("Echo: Hello there")
    body = sent(emulator)[-1]
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048} and body["max_tokens"] == 4096


def test_thinking_streamed_by_reasoning_effort(client, emulator) -> None:
    chunks = list(client.chat.completions.create(model=MODEL, messages=[USER], reasoning_effort="low", stream=True))
    extras = [c.choices[0].delta.model_extra or {} for c in chunks if c.choices]
    reasoning = "".join(e.get("reasoning_content", "") for e in extras)
    blocks = [b for e in extras for b in e.get("thinking_blocks", [])]
    assert reasoning.startswith("Thinking about:") and blocks[0]["thinking"] == reasoning
    assert sent(emulator)[-1]["thinking"] == {"type": "enabled", "budget_tokens": 2048}


@pytest.mark.parametrize("stream", [False, True])
def test_tool_round_trip_with_thinking_sends_the_signed_blocks_back(client, emulator, stream: bool) -> None:
    messages: list[dict[str, Any]] = [{"role": "user", "content": f"Weather in Kyoto? {REDACT}"}]
    if stream:
        with client.chat.completions.stream(model=MODEL, messages=messages, tools=[WEATHER], extra_body=THINKING) as s:
            first = s.get_final_completion()
    else:
        first = client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER], extra_body=THINKING)
    message = first.choices[0].message
    assert [b["type"] for b in message.model_extra["thinking_blocks"]] == ["thinking", "redacted_thinking"]
    messages += [back(message), *results_for(message.tool_calls, ["sunny"])]
    second = client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER], extra_body=THINKING)
    assert second.choices[0].message.content.startswith("Tool said: sunny")
    replayed = sent(emulator)[-1]["messages"][1]["content"]
    assert [b["type"] for b in replayed] == ["thinking", "redacted_thinking", "tool_use"]
    assert {k: replayed[0][k] for k in ("thinking", "signature")} == {
        k: message.model_extra["thinking_blocks"][0][k] for k in ("thinking", "signature")}


def test_thinking_tool_turn_without_or_with_forged_blocks_is_the_upstreams_400(client, emulator) -> None:
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Weather in Kyoto?"}]
    first = client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER], extra_body=THINKING)
    message = back(first.choices[0].message)
    results = results_for(first.choices[0].message.tool_calls, ["sunny"])
    stripped = {k: v for k, v in message.items() if k != "thinking_blocks"}
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=MODEL, messages=[*messages, stripped, *results], tools=[WEATHER],
                                       extra_body=THINKING)
    assert "must start with a thinking block" in caught.value.message
    forged = {**message, "thinking_blocks": [{**message["thinking_blocks"][0], "thinking": "I changed my mind"}]}
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=MODEL, messages=[*messages, forged, *results], tools=[WEATHER],
                                       extra_body=THINKING)
    assert "Invalid `signature`" in caught.value.message


@pytest.mark.parametrize("stream", [False, True])
def test_max_tokens_stop_is_length(client, emulator, stream: bool) -> None:
    if stream:
        chunks = list(client.chat.completions.create(model=MODEL, messages=[USER], max_tokens=3, stream=True))
        text, finish = "".join(c.choices[0].delta.content or "" for c in chunks), chunks[-1].choices[0].finish_reason
    else:
        answer = client.chat.completions.create(model=MODEL, messages=[USER], max_completion_tokens=3)
        text, finish = answer.choices[0].message.content, answer.choices[0].finish_reason
    assert finish == "length" and text == "Echo: Hello there,"
    assert sent(emulator)[-1]["max_tokens"] == 3


def post(gateway: Gateway, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(gateway.base + "/v1/chat/completions", json=body, timeout=30,
                      headers={"Authorization": f"Bearer {CLIENT_KEY}"})


def test_upstream_400_passes_through_openai_shaped(gateway, emulator) -> None:
    emulator.script({"match": {"path_prefix": PATH}, "status": 400})
    response = post(gateway, {"model": MODEL, "messages": [USER]})
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Invalid request (scripted by the emulator)."
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert len(sent(emulator)) == 1, "a 400 is about the request: never retried"


def test_rejected_provider_key_is_a_502(gateway, emulator) -> None:
    response = post(gateway, {"model": "anthropic_badkey/claude-haiku-4-5", "messages": [USER]})
    assert response.status_code == 502 and response.json()["error"]["code"] == "upstream_auth_error"
    assert "x-api-key" not in response.text
    assert emulator.last()["headers"]["x-api-key"] == "sk-ant-not-a-key-of-the-emulator"


def test_upstream_429_keeps_status_and_retry_after(gateway, emulator) -> None:
    emulator.script({"match": {"path_prefix": PATH}, "status": 429, "headers": {"retry-after": "30"}})
    response = post(gateway, {"model": MODEL, "messages": [USER]})
    assert response.status_code == 429 and response.headers["retry-after"] == "30"
    assert response.json()["error"]["code"] == "rate_limit_exceeded"


@pytest.mark.parametrize(("status", "stream"), [(529, False), (500, False), (529, True)])
def test_overloaded_and_server_errors_are_a_502_after_the_retry(gateway, emulator, status: int, stream: bool) -> None:
    emulator.script({"match": {"path_prefix": PATH}, "status": status, "times": -1})
    response = post(gateway, {"model": MODEL, "messages": [USER], "stream": stream})
    assert response.status_code == 502 and response.json()["error"]["type"] == "upstream_error"
    assert str(status) in response.json()["error"]["message"]
    assert len(sent(emulator)) == 2


def stream_raw(events: list[tuple[str, dict[str, Any]]]) -> str:
    return "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events)


START = ("message_start", {"type": "message_start", "message": {
    "id": "msg_01Scripted", "type": "message", "role": "assistant", "model": UPSTREAM_MODEL, "content": [],
    "stop_reason": None, "usage": {"input_tokens": 5, "output_tokens": 1}}})
OVERLOADED = ("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})


def test_error_event_before_any_content_is_retried_cleanly(client, emulator) -> None:
    raw = stream_raw([START, ("ping", {"type": "ping"}), OVERLOADED])
    emulator.script({"match": {"path_prefix": PATH, "stream": True}, "raw": raw, "times": 1})
    chunks = list(client.chat.completions.create(model=MODEL, messages=[USER], stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks).startswith("Echo: Hello there")
    assert len(sent(emulator)) == 2


def test_error_event_mid_stream_ends_the_stream_with_an_error(client, emulator) -> None:
    block = {"type": "text", "text": ""}
    text = [("content_block_start", {"type": "content_block_start", "index": 0, "content_block": block}),
            ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                     "delta": {"type": "text_delta", "text": "Partial answer"}})]
    raw = stream_raw([START, *text, OVERLOADED])
    emulator.script({"match": {"path_prefix": PATH}, "raw": raw, "chunk_delay": 0.05, "times": -1})
    got: list[str] = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in client.chat.completions.create(model=MODEL, messages=[USER], stream=True):
            got.append(chunk.choices[0].delta.content or "")
    assert "".join(got) == "Partial answer" and "overloaded_error" in str(caught.value.message)
    assert len(sent(emulator)) == 1, "bytes went out: never retried into a duplicated answer"


def test_cut_stream_ends_with_an_error_after_the_text_so_far(client, emulator) -> None:
    # message_start, content_block_start, ping, then three text deltas, then the connection drops
    emulator.script({"match": {"path_prefix": PATH}, "cut_after": 6, "chunk_delay": 0.02, "times": -1})
    got: list[str] = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in client.chat.completions.create(model=MODEL, messages=[USER], stream=True):
            got.append(chunk.choices[0].delta.content or "")
    assert "".join(got) == "Echo: Hello there, friend"[: len("".join(got))] and len("".join(got)) > 5
    assert caught.value.body["type"] == "upstream_error"
    assert len(sent(emulator)) == 1


def test_malformed_answer_is_a_502(gateway, emulator) -> None:
    emulator.script({"match": {"path_prefix": PATH}, "status": 200, "raw": '{"type": "message", "content": "oops"}',
                     "times": -1})
    response = post(gateway, {"model": MODEL, "messages": [USER]})
    assert response.status_code == 502 and response.json()["error"]["code"] == "upstream_protocol_error"


CACHE_USAGE = {"input_tokens": 40, "cache_creation_input_tokens": 3000, "cache_read_input_tokens": 500,
               "cache_creation": {"ephemeral_5m_input_tokens": 2000, "ephemeral_1h_input_tokens": 1000},
               "output_tokens": 20, "service_tier": "standard"}
# claude-sonnet-4-5 in the bundled table: input $3, 5-minute writes $3.75, 1-hour writes $6, reads $0.30,
# output $15 per 1M tokens
CACHE_COST = (40 * 3 + 2000 * Decimal("3.75") + 1000 * 6 + 500 * Decimal("0.3") + 20 * 15) / 1_000_000


def test_cache_writes_are_counted_and_priced_at_anthropics_write_prices(client, emulator) -> None:
    message = {"id": "msg_01Cached", "type": "message", "role": "assistant", "model": UPSTREAM_MODEL,
               "content": [{"type": "text", "text": "Cached."}], "stop_reason": "end_turn", "stop_sequence": None,
               "usage": CACHE_USAGE}
    emulator.script({"match": {"path_prefix": PATH, "stream": False}, "body": message, "times": 1})
    answer = client.chat.completions.create(model=MODEL, messages=[USER])
    usage = answer.usage
    assert usage.prompt_tokens == 3540 and usage.prompt_tokens_details.cached_tokens == 500
    details = usage.prompt_tokens_details.model_dump()
    assert (details["cache_write_tokens"], details["cache_write_1h_tokens"]) == (3000, 1000)
    assert Decimal(str(usage.model_extra["cost"])) == CACHE_COST

    block = {"type": "text", "text": ""}
    start = {"type": "message_start", "message": {"id": "msg_01CachedStream", "type": "message", "role": "assistant",
                                                  "model": UPSTREAM_MODEL, "content": [], "stop_reason": None,
                                                  "usage": {**CACHE_USAGE, "output_tokens": 1}}}
    final = {k: v for k, v in CACHE_USAGE.items() if k not in ("cache_creation", "service_tier")}  # as Anthropic sends it
    raw = stream_raw([("message_start", start),
                      ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": block}),
                      ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                               "delta": {"type": "text_delta", "text": "Cached."}}),
                      ("content_block_stop", {"type": "content_block_stop", "index": 0}),
                      ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn",
                                                                            "stop_sequence": None}, "usage": final}),
                      ("message_stop", {"type": "message_stop"})])
    emulator.script({"match": {"path_prefix": PATH, "stream": True}, "raw": raw, "times": 1})
    chunks = list(client.chat.completions.create(model=MODEL, messages=[USER], stream=True,
                                                 stream_options={"include_usage": True}))
    streamed = chunks[-1].usage
    details = streamed.prompt_tokens_details.model_dump()
    assert (details["cache_write_tokens"], details["cache_write_1h_tokens"]) == (3000, 1000)
    assert Decimal(str(streamed.model_extra["cost"])) == CACHE_COST


def test_n_choices_are_n_calls_merged_into_one_answer(client, emulator) -> None:
    single = client.chat.completions.create(model=MODEL, messages=[USER])
    emulator.reset()
    answer = client.chat.completions.create(model=MODEL, messages=[USER], n=3)
    assert [c.index for c in answer.choices] == [0, 1, 2]
    assert {c.message.content for c in answer.choices} == {single.choices[0].message.content}
    assert len(sent(emulator)) == 3 and all("n" not in body for body in sent(emulator))
    usage = answer.usage  # every call was billed its prompt: the usage and cost are the three calls'
    assert (usage.prompt_tokens, usage.completion_tokens) == (3 * single.usage.prompt_tokens,
                                                              3 * single.usage.completion_tokens)
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert Decimal(str(usage.model_extra["cost"])) == 3 * Decimal(str(single.usage.model_extra["cost"]))


def test_n_with_a_failing_call_fails_the_request_and_too_many_is_a_400(gateway, emulator) -> None:
    emulator.script({"match": {"path_prefix": PATH}, "status": 400, "times": 1})
    response = post(gateway, {"model": MODEL, "messages": [USER], "n": 2})
    assert response.status_code == 400 and response.json()["error"]["type"] == "invalid_request_error"
    response = post(gateway, {"model": MODEL, "messages": [USER], "n": 9})
    assert response.status_code == 400 and response.json()["error"]["param"] == "n"
    assert "at most 8" in response.json()["error"]["message"]
    streamed = post(gateway, {"model": MODEL, "messages": [USER], "n": 9, "stream": True})
    assert streamed.status_code == 400 and streamed.json()["error"]["param"] == "n"


def test_n_choices_streamed_are_n_streams_as_one(client, emulator, gateway) -> None:
    single = client.chat.completions.create(model=MODEL, messages=[USER])
    emulator.reset()
    chunks = list(client.chat.completions.create(model=MODEL, messages=[USER], n=3, stream=True,
                                                 stream_options={"include_usage": True}))
    assert len(sent(emulator)) == 3 and all(body["stream"] is True and "n" not in body for body in sent(emulator))
    texts: dict[int, str] = {}
    finishes: dict[int, str] = {}
    for chunk in chunks[:-1]:
        (choice,) = chunk.choices
        texts[choice.index] = texts.get(choice.index, "") + (choice.delta.content or "")
        if choice.finish_reason:
            finishes[choice.index] = choice.finish_reason
    assert texts == {0: single.choices[0].message.content, 1: texts[0], 2: texts[0]}
    assert list(texts) == [0, 1, 2], "each choice first appears after the one before it"
    assert finishes == {0: "stop", 1: "stop", 2: "stop"}
    assert len({(chunk.id, chunk.created) for chunk in chunks}) == 1, "one answer: one id, one time"
    assert [chunk.usage is not None for chunk in chunks].count(True) == 1 and chunks[-1].choices == []
    usage = chunks[-1].usage  # three calls, each billed its prompt
    assert (usage.prompt_tokens, usage.completion_tokens) == (3 * single.usage.prompt_tokens,
                                                              3 * single.usage.completion_tokens)
    assert Decimal(str(usage.model_extra["cost"])) == 3 * Decimal(str(single.usage.model_extra["cost"]))
    request_id = chunks[0].id.removeprefix("chatcmpl-")
    deadline, rows = time.monotonic() + 5, []
    while not rows and time.monotonic() < deadline:  # the usage record, written within a second
        time.sleep(0.1)
        rows = gateway.fetch(select(usage_records.c.prompt_tokens, usage_records.c.completion_tokens,
                                    usage_records.c.status).where(usage_records.c.request_id == request_id))
    assert rows == [(usage.prompt_tokens, usage.completion_tokens, 200)]
    with client.chat.completions.stream(model=MODEL, messages=[USER], n=2) as stream:  # the SDK's accumulator
        final = stream.get_final_completion()
    assert [c.message.content for c in final.choices] == [single.choices[0].message.content] * 2


def test_n_choices_streamed_without_usage_end_once(gateway, emulator) -> None:
    response = post(gateway, {"model": MODEL, "messages": [USER], "n": 2, "stream": True})
    assert response.status_code == 200
    assert response.text.count("data: [DONE]") == 1 and response.text.endswith("data: [DONE]\n\n")
    assert '"usage"' not in response.text


def test_n_choices_streamed_with_a_failing_call_fail_before_any_byte(gateway, emulator) -> None:
    emulator.script({"match": {"path_prefix": PATH}, "status": 400, "times": 1})
    response = post(gateway, {"model": MODEL, "messages": [USER], "n": 2, "stream": True})
    assert response.status_code == 400 and response.json()["error"]["type"] == "invalid_request_error"


def test_n_choices_streamed_with_a_call_cut_short_end_in_an_error(client, emulator, gateway) -> None:
    """One of the calls loses its connection after its first text: the other is cancelled, what
    went out stays, the stream ends with an error frame, and the record says what happened."""
    whole = client.chat.completions.create(model=MODEL, messages=[USER]).choices[0].message.content
    emulator.script({"match": {"path_prefix": PATH, "stream": True}, "cut_after": 6, "chunk_delay": 0.02,
                     "times": 1})
    got: dict[int, str] = {}
    with pytest.raises(openai.APIError) as caught:
        for chunk in client.chat.completions.create(model=MODEL, messages=[USER], n=2, stream=True):
            for choice in chunk.choices:
                got[choice.index] = got.get(choice.index, "") + (choice.delta.content or "")
    assert caught.value.body["type"] == "upstream_error"
    assert all(whole.startswith(text) for text in got.values()) and min(map(len, got.values())) < len(whole)

"""The openai SDK against the real gateway, with OpenAI-wire upstreams emulated."""

from __future__ import annotations

import base64
import json
from decimal import Decimal

import httpx
import openai
import pytest

from relaygate.metering.prices import price_for
from tests.e2e.conftest import CLIENT_KEY, UPSTREAM_KEYS

USER = {"role": "user", "content": "Hello there, friend"}
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def test_plain_chat_goes_upstream_with_native_name_and_provider_key(gateway, emulator):
    answer = gateway.client().chat.completions.create(model="chat-default", messages=[USER])
    assert answer.choices[0].message.content.startswith("Echo: Hello there, friend")
    assert answer.choices[0].finish_reason == "stop"
    assert answer.model == "qwen-plus"  # the upstream's answer as it came
    assert answer.usage.total_tokens == answer.usage.prompt_tokens + answer.usage.completion_tokens
    seen = emulator.last()
    assert seen["path"] == "/dashscope/compatible-mode/v1/chat/completions"
    assert seen["body"] == {"model": "qwen-plus", "messages": [USER]}
    assert seen["headers"]["authorization"] == f"Bearer {UPSTREAM_KEYS['alibaba']}"


def test_non_streaming_answer_is_the_upstreams_bytes(gateway, emulator):
    body = {"model": "deepseek-chat", "messages": [USER]}
    direct = httpx.post(f"{emulator.base}/deepseek/v1/chat/completions", json=body,
                        headers={"Authorization": f"Bearer {UPSTREAM_KEYS['deepseek']}"})
    relayed = httpx.post(f"{gateway.base}/deepseek/v1/chat/completions", json=body,
                         headers={"Authorization": f"Bearer {CLIENT_KEY}"})
    assert relayed.status_code == 200
    strip = lambda d: {k: v for k, v in d.items() if k not in ("id", "created")}  # noqa: E731
    relayed_answer, direct_answer = relayed.json(), direct.json()
    cost = relayed_answer["usage"].pop("cost")  # the one change: the usage's cost in USD, from the price table
    assert strip(relayed_answer) == strip(direct_answer)
    usage, price = direct_answer["usage"], price_for("deepseek-chat")
    cached = usage["prompt_tokens_details"]["cached_tokens"] if usage.get("prompt_tokens_details") else 0
    assert Decimal(str(cost)) == ((usage["prompt_tokens"] - cached) * price.input + cached * price.cached_input
                                  + usage["completion_tokens"] * price.output) / 1_000_000
    assert relayed.headers["x-relaygate-provider"] == "deepseek"
    assert relayed.headers["x-request-id"]


def test_multi_turn_messages_arrive_unchanged(gateway, emulator):
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Name a prime."},
        {"role": "assistant", "content": "7"},
        {"role": "user", "content": "Another one?"},
    ]
    answer = gateway.client().chat.completions.create(model="deepseek/deepseek-chat", messages=messages)
    assert answer.choices[0].message.content.startswith("Echo: Another one?")
    assert emulator.last()["body"]["messages"] == messages


def test_streaming_matches_non_streaming_and_hides_usage_when_not_asked(gateway, emulator):
    client = gateway.client()
    whole = client.chat.completions.create(model="chat-default", messages=[USER]).choices[0].message.content
    chunks = list(client.chat.completions.create(model="chat-default", messages=[USER], stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == whole
    assert all(c.choices for c in chunks), "the usage-only chunk must be removed"
    assert all(c.usage is None for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert emulator.last()["body"]["stream_options"] == {"include_usage": True}


def test_streaming_with_include_usage_keeps_the_usage_chunk(gateway, emulator):
    stream = gateway.client("/openai/v1").chat.completions.create(
        model="gpt-4o-mini", messages=[USER], stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0
    assert sum(1 for c in chunks if c.usage is not None) == 1


def test_stream_arrives_event_by_event(gateway, emulator):
    """With 0.2 s between upstream chunks, the client sees the first chunk long before the last."""
    import time

    emulator.script({"match": {"model": "gpt-4o-mini"}, "chunk_delay": 0.2, "chunks": 5})
    stream = gateway.client("/openai/v1").chat.completions.create(model="gpt-4o-mini", messages=[USER], stream=True)
    start = time.monotonic()
    arrivals = [time.monotonic() - start for _ in stream]
    assert len(arrivals) >= 5
    assert arrivals[-1] - arrivals[0] > 0.5
    time.sleep(0.3)
    assert emulator.last()["disconnected"] is False  # a finished stream is not mistaken for a client leaving


def test_two_round_tool_conversation(gateway, emulator):
    client = gateway.client()
    messages = [{"role": "user", "content": "Weather in Tokyo?"}]
    first = client.chat.completions.create(model="chat-default", messages=messages, tools=[WEATHER_TOOL])
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Tokyo"}
    messages += [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21C"},
    ]
    second = client.chat.completions.create(model="chat-default", messages=messages, tools=[WEATHER_TOOL])
    assert second.choices[0].message.content.startswith("Tool said: sunny, 21C")
    sent = emulator.last()["body"]["messages"]
    assert sent[-1] == {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21C"}
    assert sent[-2]["tool_calls"][0]["id"] == call.id


def test_two_round_tool_conversation_streamed(gateway, emulator):
    client = gateway.client("/deepseek/v1")
    tools = [WEATHER_TOOL, {**WEATHER_TOOL, "function": {**WEATHER_TOOL["function"], "name": "get_time"}}]
    messages = [{"role": "user", "content": "Weather and time in Tokyo?"}]
    calls: dict[int, dict] = {}
    finish = None
    for chunk in client.chat.completions.create(model="deepseek-chat", messages=messages, tools=tools, stream=True):
        for delta_call in chunk.choices[0].delta.tool_calls or []:
            call = calls.setdefault(delta_call.index, {"id": None, "name": "", "arguments": ""})
            call["id"] = call["id"] or delta_call.id
            call["name"] += delta_call.function.name or ""
            call["arguments"] += delta_call.function.arguments or ""
        finish = chunk.choices[0].finish_reason or finish
    assert finish == "tool_calls"
    assert [c["name"] for c in calls.values()] == ["get_weather", "get_time"]  # parallel calls
    assert all(json.loads(c["arguments"]) == {"city": "Tokyo"} for c in calls.values())
    messages.append({"role": "assistant", "content": None, "tool_calls": [
        {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
        for c in calls.values()
    ]})
    messages += [{"role": "tool", "tool_call_id": c["id"], "content": f"result of {c['name']}"} for c in calls.values()]
    text = "".join(
        chunk.choices[0].delta.content or ""
        for chunk in client.chat.completions.create(model="deepseek-chat", messages=messages, tools=tools, stream=True)
    )
    assert text.startswith("Tool said:") and "result of get_weather" in text


def test_image_audio_and_video_parts_pass_through(gateway, emulator):
    pixel = base64.b64encode(b"\x89PNG\r\n\x1a\nfake").decode()
    content = [
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "high"}},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{pixel}"}},
        {"type": "input_audio", "input_audio": {"data": base64.b64encode(b"ID3 audio").decode(), "format": "mp3"}},
        {"type": "video", "video": ["https://example.com/f1.jpg", "https://example.com/f2.jpg"]},
        {"type": "video_url", "video_url": {"url": "https://example.com/clip.mp4"}},
        {"type": "text", "text": "Describe all of this"},
    ]
    answer = gateway.client("/alibaba/compatible-mode/v1").chat.completions.create(
        model="qwen-vl-max", messages=[{"role": "user", "content": content}], extra_body={"modalities": ["text"]}
    )
    assert emulator.last()["body"]["messages"][0]["content"] == content
    for kind in ("image_url", "input_audio", "video", "video_url"):
        assert kind in answer.choices[0].message.content


def test_json_mode(gateway, emulator):
    answer = gateway.client().chat.completions.create(
        model="alibaba/qwen-plus", messages=[{"role": "user", "content": "Populations as JSON"}],
        response_format={"type": "json_object"},
    )
    assert isinstance(json.loads(answer.choices[0].message.content), dict)
    assert emulator.last()["body"]["response_format"] == {"type": "json_object"}


def test_unknown_and_vendor_parameters_pass_through_untouched(gateway, emulator):
    extra = {
        "enable_search": True,
        "search_options": {"forced_search": True, "search_strategy": "pro"},
        "vl_high_resolution_images": False,
        "top_k": 20,
        "enable_thinking": False,
        "partial": None,
        "x_custom": {"nested": [1, 2.5, "three", None, {"deep": True}]},
    }
    gateway.client().chat.completions.create(
        model="chat-default", messages=[USER], temperature=0.3, seed=7, n=1, stop=["END"], extra_body=extra
    )
    body = emulator.last()["body"]
    assert {k: body[k] for k in extra} == extra
    assert (body["temperature"], body["seed"], body["n"], body["stop"]) == (0.3, 7, 1, ["END"])


@pytest.mark.parametrize(
    ("model", "mount", "expected"),
    [
        ("qwen-plus", "/alibaba/compatible-mode/v1", {"enable_thinking": True, "thinking_budget": 8000}),
        ("deepseek-chat", "/deepseek/v1", {"thinking": {"type": "enabled"}}),
        ("doubao/doubao-seed-1-6-251015", "/v1", {"thinking": {"type": "enabled"}}),
        ("gpt-4o-mini", "/openai/v1", {"reasoning_effort": "medium"}),
    ],
)
def test_thinking_reaches_each_upstream_in_its_native_form(gateway, emulator, model, mount, expected):
    answer = gateway.client(mount).chat.completions.create(
        model=model, messages=[USER], extra_body={"thinking": {"type": "enabled", "budget_tokens": 8000}}
    )
    body = emulator.last()["body"]
    assert {k: body[k] for k in expected} == expected
    if "reasoning_effort" not in expected:
        assert "thinking" not in body or body["thinking"] == expected.get("thinking")
        assert answer.choices[0].message.reasoning_content  # the upstream's reasoning, untouched


def test_thinking_streamed_reasoning_content_from_deepseek(gateway, emulator):
    chunks = list(gateway.client().chat.completions.create(model="reasoner", messages=[USER], stream=True))
    reasoning = "".join(getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in chunks if c.choices)
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert reasoning.startswith("Thinking about:") and content.startswith("Echo:")


@pytest.mark.parametrize(
    ("mount", "model", "path", "native"),
    [
        ("/deepseek/v1", "deepseek-chat", "/deepseek/v1/chat/completions", "deepseek-chat"),  # mount + native
        ("/alibaba/compatible-mode/v1", "qwen-max-custom", "/dashscope/compatible-mode/v1/chat/completions",
         "qwen-max-custom"),
        ("/v1", "chat-default", "/dashscope/compatible-mode/v1/chat/completions", "qwen-plus"),  # catalog id
        ("/v1", "doubao/doubao-seed-1-6-251015", "/doubao/api/v3/chat/completions", "doubao-seed-1-6-251015"),
        ("/v1", "openai/gpt-4o-mini", "/openai/v1/chat/completions", "gpt-4o-mini"),           # provider/model
        ("/v1", "deepseek-reasoner", "/deepseek/v1/chat/completions", "deepseek-reasoner"),    # bare name
        ("/compat/v1", "doubao-seed-1-6-251015", "/doubao/api/v3/chat/completions", "doubao-seed-1-6-251015"),
    ],
)
def test_addressing_styles(gateway, emulator, mount, model, path, native):
    answer = httpx.post(f"{gateway.base}{mount}/chat/completions", headers={"Authorization": f"Bearer {CLIENT_KEY}"},
                        json={"model": model, "messages": [USER]})
    assert answer.status_code == 200
    seen = emulator.last()
    assert (seen["path"], seen["body"]["model"]) == (path, native)


def test_models_lists_what_each_base_url_accepts(gateway):
    ids = [m.id for m in gateway.client().models.list()]
    assert {"chat-default", "reasoner", "deepseek/deepseek-chat", "deepseek-chat", "alibaba/qwen-plus"} <= set(ids)
    assert "shared-model" not in ids  # listed by two providers: not addressable bare
    mount_ids = [m.id for m in gateway.client("/alibaba/compatible-mode/v1").models.list()]
    assert mount_ids == ["qwen-plus", "qwen-vl-max", "qwen-omni-turbo"]


def test_one_model_is_retrieved_as_the_chat_endpoint_would_route_it(gateway):
    client = gateway.client()
    listed = client.models.retrieve("chat-default")
    assert (listed.id, listed.object, listed.owned_by) == ("chat-default", "model", "alibaba")
    assert client.models.retrieve("deepseek/deepseek-chat").owned_by == "deepseek"  # an id with a slash
    assert client.models.retrieve("deepseek/deepseek-coder-new").id == "deepseek/deepseek-coder-new"  # routable
    with pytest.raises(openai.NotFoundError) as caught:
        client.models.retrieve("no-such-model")
    assert caught.value.body["code"] == "model_not_found" and caught.value.body["param"] == "model"
    mounted = gateway.client("/alibaba/compatible-mode/v1").models.retrieve("qwen-plus")
    assert (mounted.id, mounted.owned_by) == ("qwen-plus", "alibaba")
    headers = {"Authorization": f"Bearer {CLIENT_KEY}"}
    wrapped = httpx.get(f"{gateway.base}/compat/v1/models/deepseek-chat", headers=headers).json()
    assert wrapped["code"] == 200 and wrapped["data"]["id"] == "deepseek-chat"
    assert httpx.get(f"{gateway.base}/v1/models/chat-default").status_code == 401
    assert httpx.delete(f"{gateway.base}/v1/models/chat-default", headers=headers).status_code == 405


def test_envelope_mount_wraps_answers_and_errors(gateway):
    headers = {"Authorization": f"Bearer {CLIENT_KEY}"}
    ok = httpx.post(f"{gateway.base}/compat/v1/chat/completions", headers=headers,
                    json={"model": "deepseek-chat", "messages": [USER]})
    assert ok.status_code == 200
    assert ok.json()["code"] == 200 and ok.json()["data"]["object"] == "chat.completion"
    missing = httpx.post(f"{gateway.base}/compat/v1/chat/completions", headers=headers,
                         json={"model": "no-such-model", "messages": [USER]})
    assert missing.status_code == 404
    assert missing.json()["code"] == 404 and missing.json()["error"]["code"] == "model_not_found"
    streamed = httpx.post(f"{gateway.base}/compat/v1/chat/completions", headers=headers,
                          json={"model": "deepseek-chat", "messages": [USER], "stream": True})
    assert streamed.text.rstrip().endswith("data: [DONE]")  # streams are not wrapped


def test_client_key_never_reaches_upstream_and_no_secret_is_logged(gateway, emulator):
    gateway.client().chat.completions.create(model="chat-default", messages=[USER])
    list(gateway.client().chat.completions.create(model="reasoner", messages=[USER], stream=True))
    for record in emulator.requests():
        assert CLIENT_KEY not in json.dumps(record)
    log = gateway.log()
    for secret in [CLIENT_KEY, *UPSTREAM_KEYS.values()]:
        assert secret not in log


def test_upstream_keepalive_comments_are_tolerated(gateway, emulator):
    emulator.script({"keepalive": True, "chunks": 6})
    client = gateway.client()
    chunks = list(client.chat.completions.create(model="chat-default", messages=[USER], stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text.startswith("Echo: Hello there") and chunks[-1].choices[0].finish_reason == "stop"


def _qwen_answer(usage):
    """A Model Studio answer as qwen-plus writes it (field order and all), with the given usage."""
    return {"choices": [{"message": {"role": "assistant", "content": "Cached."}, "finish_reason": "stop", "index": 0,
                         "logprobs": None}],
            "object": "chat.completion", "usage": usage, "created": 1770285809, "system_fingerprint": None,
            "model": "qwen-plus", "id": "chatcmpl-63414f89-e97d-9449-8f3c-1e72cf1f6e40"}


def _qwen_stream(usage):
    frame = {"object": "chat.completion.chunk", "created": 1745485391, "system_fingerprint": None, "model": "qwen-plus",
             "id": "chatcmpl-e2edaf2c-8aaf-9e54-90e2-b21dd5045503"}
    chunks = [
        {"choices": [{"delta": {"content": "Cached.", "role": "assistant"}, "index": 0, "logprobs": None,
                      "finish_reason": None}], **frame, "usage": None},
        {"choices": [{"finish_reason": "stop", "delta": {"content": ""}, "index": 0, "logprobs": None}], **frame,
         "usage": None},
        {"choices": [], **frame, "usage": usage},
    ]
    return "".join(f"data: {json.dumps(chunk)}\n\n" for chunk in chunks) + "data: [DONE]\n\n"


@pytest.mark.parametrize("stream", [False, True])
def test_dashscope_explicit_cache_is_priced_at_its_write_and_read_prices(gateway, emulator, stream):
    """Model Studio's explicit cache: the marked prefix written at 125% of input on the first request,
    read at 10% on the next (qwen-plus: input $0.40, output $1.20 per 1M tokens)."""
    details = {"cache_type": "ephemeral", "cache_creation_input_tokens": 1578,
               "cache_creation": {"ephemeral_5m_input_tokens": 1578}, "cached_tokens": 0}
    written = {"prompt_tokens": 1589, "completion_tokens": 10, "total_tokens": 1599, "prompt_tokens_details": details}
    read = {**written, "prompt_tokens_details": {"cache_type": "ephemeral", "cache_creation_input_tokens": 0,
                                                 "cached_tokens": 1578}}
    marked = {"role": "user", "content": [{"type": "text", "text": "A long manual...",
                                           "cache_control": {"type": "ephemeral"}}]}
    client = gateway.client()
    costs = []
    for usage in (written, read):
        match = {"path_prefix": "/dashscope/", "stream": stream}
        if stream:
            emulator.script({"match": match, "raw": _qwen_stream(usage), "times": 1,
                             "headers": {"content-type": "text/event-stream"}})
            chunks = list(client.chat.completions.create(model="chat-default", messages=[marked], stream=True,
                                                         stream_options={"include_usage": True}))
            answered = chunks[-1].usage
        else:
            emulator.script({"match": match, "body": _qwen_answer(usage), "times": 1})
            answered = client.chat.completions.create(model="chat-default", messages=[marked]).usage
        assert answered.prompt_tokens_details.model_dump()["cache_creation_input_tokens"] == \
            usage["prompt_tokens_details"]["cache_creation_input_tokens"]
        costs.append(Decimal(str(answered.model_extra["cost"])))
        assert emulator.last()["body"]["messages"] == [marked], "the cache marker reaches Model Studio"
    rest = 11 * Decimal("0.4") + 10 * Decimal("1.2")
    assert costs == [(rest + 1578 * Decimal("0.5")) / 10**6, (rest + 1578 * Decimal("0.04")) / 10**6]

"""Per-model options: the `-thinking` alias, configured defaults, and stream-only upstream models."""

from __future__ import annotations

import json

import pytest

USER = {"role": "user", "content": "Hello there, friend"}


@pytest.mark.parametrize(
    ("mount", "model", "native", "expected"),
    [
        ("/v1", "deepseek-chat-thinking", "deepseek-chat", {"thinking": {"type": "enabled"}}),
        ("/v1", "alibaba/qwen-plus-thinking", "qwen-plus-thinking", None),  # provider/model: native, as sent
        ("/alibaba/compatible-mode/v1", "qwen-plus-thinking", "qwen-plus", {"enable_thinking": True}),
        ("/v1", "openai/gpt-4o-mini", "gpt-4o-mini", None),
    ],
)
def test_thinking_alias(gateway, emulator, mount, model, native, expected):
    answer = gateway.client(mount).chat.completions.create(model=model, messages=[USER])
    body = emulator.last()["body"]
    assert body["model"] == native
    if expected is None:
        assert "thinking" not in body and "enable_thinking" not in body
    else:
        assert {k: body[k] for k in expected} == expected
        assert answer.choices[0].message.reasoning_content


def test_thinking_alias_leaves_an_explicit_choice_alone(gateway, emulator):
    gateway.client().chat.completions.create(
        model="deepseek-chat-thinking", messages=[USER], extra_body={"thinking": {"type": "disabled"}}
    )
    assert emulator.last()["body"]["thinking"] == {"type": "disabled"}


def test_model_defaults_fill_what_the_client_left_out(gateway, emulator):
    client = gateway.client("/alibaba/compatible-mode/v1")
    client.chat.completions.create(model="qwen-vl-max", messages=[USER])
    assert (emulator.last()["body"]["max_tokens"], emulator.last()["body"]["temperature"]) == (777, 0.2)
    client.chat.completions.create(model="qwen-vl-max", messages=[USER], max_tokens=5)
    assert (emulator.last()["body"]["max_tokens"], emulator.last()["body"]["temperature"]) == (5, 0.2)
    client.chat.completions.create(model="qwen-plus", messages=[USER])
    assert "max_tokens" not in emulator.last()["body"]


def test_stream_only_model_answers_a_non_streaming_request(gateway, emulator):
    client = gateway.client("/alibaba/compatible-mode/v1")
    answer = client.chat.completions.create(model="qwq-plus", messages=[USER], extra_body={"enable_thinking": True})
    sent = emulator.last()["body"]
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    streamed = list(client.chat.completions.create(
        model="qwq-plus", messages=[USER], stream=True, extra_body={"enable_thinking": True}
    ))
    assert answer.object == "chat.completion"
    assert answer.choices[0].message.content == "".join(c.choices[0].delta.content or "" for c in streamed)
    assert answer.choices[0].message.reasoning_content
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage.completion_tokens > 0


def test_stream_only_model_gathers_tool_calls(gateway, emulator):
    tools = [{"type": "function", "function": {"name": n, "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}}}} for n in ("get_weather", "get_time")]
    answer = gateway.client("/alibaba/compatible-mode/v1").chat.completions.create(
        model="qwq-plus", messages=[USER], tools=tools
    )
    calls = answer.choices[0].message.tool_calls
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]
    assert all(c.id and json.loads(c.function.arguments) == {"city": "Tokyo"} for c in calls)
    assert answer.choices[0].finish_reason == "tool_calls"


def test_stream_only_model_cut_stream_is_502(gateway, emulator):
    emulator.script({"cut_after": 3})
    import httpx

    from tests.e2e.conftest import CLIENT_KEY

    response = httpx.post(f"{gateway.base}/alibaba/compatible-mode/v1/chat/completions",
                          headers={"Authorization": f"Bearer {CLIENT_KEY}"},
                          json={"model": "qwq-plus", "messages": [USER]})
    assert response.status_code == 502 and response.json()["error"]["type"] == "upstream_error"

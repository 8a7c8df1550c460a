"""providers/anthropic/request.py (+ messages.py, thinking.py, json_mode.py): chat request → Messages request."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relaygate.errors import InvalidRequest
from relaygate.providers.anthropic import ADAPTER
from relaygate.providers.anthropic.json_mode import JSON_TOOL
from relaygate.providers.anthropic.request import chat_request_to_messages

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
TIME = {"type": "function", "function": {"name": "get_time"}}
SIGNED = {"type": "thinking", "thinking": "Two cities.", "signature": "EqQBCkYIBxgCKkDsig"}
REDACTED = {"type": "redacted_thinking", "data": "EmwKAhgBEgyRedacted"}


def convert(stream: bool = False, **fields: Any) -> dict[str, Any]:
    request = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "Hi"}], **fields}
    return chat_request_to_messages(request, "claude-sonnet-4-5-20250929", stream)


def test_plain_request_has_the_upstream_model_a_default_max_tokens_and_string_content() -> None:
    assert convert() == {
        "model": "claude-sonnet-4-5-20250929",
        "max_tokens": 4096,
        "messages": [{"role": "user", "content": "Hi"}],
    }


def test_adapter_body_url_and_headers() -> None:
    request = {"model": "m", "messages": [{"role": "user", "content": "Hi"}], "stream": True}
    body = orjson.loads(ADAPTER.chat_body(request, orjson.dumps(request), "claude-haiku-4-5", True))
    assert body["stream"] is True and body["model"] == "claude-haiku-4-5" and "stream_options" not in body
    assert ADAPTER.chat_url("https://api.anthropic.com/") == "https://api.anthropic.com/v1/messages"
    assert ADAPTER.chat_url("http://127.0.0.1:9/anthropic/v1") == "http://127.0.0.1:9/anthropic/v1/messages"
    assert ADAPTER.auth_headers("sk-ant-1") == {
        "Content-Type": "application/json", "anthropic-version": "2023-06-01", "x-api-key": "sk-ant-1",
    }
    assert not ADAPTER.passthrough


def test_system_and_developer_messages_go_to_system_wherever_they_stand() -> None:
    messages = [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "Hi"},
        {"role": "developer", "content": [{"type": "text", "text": "Cite sources.", "cache_control": {"type": "ephemeral"}}]},
    ]
    out = convert(messages=messages)
    assert out["system"] == [
        {"type": "text", "text": "Be terse."},
        {"type": "text", "text": "Cite sources.", "cache_control": {"type": "ephemeral"}},
    ]
    assert out["messages"] == [{"role": "user", "content": "Hi"}]


def test_images_data_url_to_base64_source_and_http_to_url_source() -> None:
    content = [
        {"type": "text", "text": "Compare"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/kinkakuji.jpg", "detail": "high"}},
        {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0xLjQ=", "filename": "a.pdf"}},
    ]
    out = convert(messages=[{"role": "user", "content": content}])
    assert out["messages"][0]["content"] == [
        {"type": "text", "text": "Compare"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/kinkakuji.jpg"}},
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0xLjQ="}},
    ]


@pytest.mark.parametrize(
    ("part", "param"),
    [
        ({"type": "image_url", "image_url": {"url": "ftp://example.com/a.png"}}, "messages[0].content[0]"),
        ({"type": "image_url", "image_url": {"url": "data:image/png,notbase64"}}, "messages[0].content[0]"),
        ({"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}, "messages[0].content[0]"),
        ({"type": "file", "file": {"file_id": "file-abc"}}, "messages[0].content[0]"),
    ],
)
def test_parts_anthropic_cannot_take_are_a_clear_400(part: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        convert(messages=[{"role": "user", "content": [part]}])
    assert caught.value.param == param and caught.value.status == 400


def test_tool_round_trip_merges_consecutive_tool_results_into_one_user_turn() -> None:
    calls = [
        {"id": "toolu_A", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Kyoto"}'}},
        {"id": "toolu_B", "type": "function", "function": {"name": "get_weather", "arguments": ""}},
    ]
    messages = [
        {"role": "user", "content": "Weather in Kyoto and Osaka?"},
        {"role": "assistant", "content": "Looking.", "tool_calls": calls},
        {"role": "tool", "tool_call_id": "toolu_A", "content": "sunny"},
        {"role": "tool", "tool_call_id": "toolu_B", "content": [{"type": "text", "text": "rain"}]},
        {"role": "user", "content": "And tomorrow?"},
    ]
    out = convert(messages=messages)["messages"]
    assert out[1] == {"role": "assistant", "content": [
        {"type": "text", "text": "Looking."},
        {"type": "tool_use", "id": "toolu_A", "name": "get_weather", "input": {"city": "Kyoto"}},
        {"type": "tool_use", "id": "toolu_B", "name": "get_weather", "input": {}},
    ]}
    assert out[2] == {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_A", "content": "sunny"},
        {"type": "tool_result", "tool_use_id": "toolu_B", "content": [{"type": "text", "text": "rain"}]},
        {"type": "text", "text": "And tomorrow?"},
    ]}
    assert [m["role"] for m in out] == ["user", "assistant", "user"]


def test_thinking_blocks_sent_back_come_first_unchanged_and_reasoning_content_is_dropped() -> None:
    call = {"id": "toolu_A", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
    assistant = {
        "role": "assistant", "content": None, "reasoning_content": "Two cities.",
        "thinking_blocks": [SIGNED, REDACTED], "tool_calls": [call],
    }
    out = convert(messages=[{"role": "user", "content": "Hi"}, assistant])["messages"][1]
    assert out["content"] == [SIGNED, REDACTED, {"type": "tool_use", "id": "toolu_A", "name": "get_weather", "input": {}}]


@pytest.mark.parametrize(
    "blocks",
    [[{"type": "thinking", "thinking": "x"}], [{"type": "redacted_thinking"}], [{"type": "summary", "text": "x"}], "x"],
)
def test_malformed_thinking_blocks_from_the_client_are_a_400(blocks: Any) -> None:
    assistant = {"role": "assistant", "content": "ok", "thinking_blocks": blocks}
    with pytest.raises(InvalidRequest) as caught:
        convert(messages=[{"role": "user", "content": "Hi"}, assistant])
    assert caught.value.param.startswith("messages[1].thinking_blocks")


@pytest.mark.parametrize("arguments", ["{not json", "[1, 2]", '"text"'])
def test_tool_call_arguments_that_are_not_a_json_object_are_a_400(arguments: str) -> None:
    call = {"id": "t", "type": "function", "function": {"name": "f", "arguments": arguments}}
    with pytest.raises(InvalidRequest) as caught:
        convert(messages=[{"role": "user", "content": "Hi"}, {"role": "assistant", "tool_calls": [call]}])
    assert caught.value.param == "messages[1].tool_calls[0].function.arguments"


def test_tool_message_without_its_call_id_is_a_400() -> None:
    with pytest.raises(InvalidRequest):
        convert(messages=[{"role": "tool", "content": "x"}])


@pytest.mark.parametrize(
    ("given", "sent"),
    [({"temperature": 1.7}, 1.0), ({"temperature": -0.5}, 0.0), ({"temperature": 0.3}, 0.3)],
)
def test_temperature_is_clamped_to_anthropics_range(given: dict[str, Any], sent: float) -> None:
    assert convert(**given)["temperature"] == sent


def test_one_to_one_parameters_and_dropped_ones() -> None:
    out = convert(
        stream=True, max_completion_tokens=300, max_tokens=999, top_p=0.9, top_k=40, stop="END", user="u-42",
        n=2, seed=7, presence_penalty=0.5, frequency_penalty=0.1, logit_bias={"1": 2}, logprobs=True,
        stream_options={"include_usage": True}, service_tier="auto", metadata={"a": "b"}, provider={"order": ["x"]},
    )
    assert out == {
        "model": "claude-sonnet-4-5-20250929", "max_tokens": 300, "messages": [{"role": "user", "content": "Hi"}],
        "top_p": 0.9, "top_k": 40, "stop_sequences": ["END"], "metadata": {"user_id": "u-42"}, "stream": True,
    }
    assert convert(stop=["a", "b"])["stop_sequences"] == ["a", "b"]


def test_tools_become_input_schemas() -> None:
    out = convert(tools=[WEATHER, TIME])
    assert out["tools"] == [
        {"name": "get_weather", "description": "Weather for a city",
         "input_schema": WEATHER["function"]["parameters"]},
        {"name": "get_time", "input_schema": {"type": "object", "properties": {}}},
    ]
    assert "tool_choice" not in out


@pytest.mark.parametrize(
    ("choice", "parallel", "sent"),
    [
        ("auto", None, {"type": "auto"}),
        ("none", None, {"type": "none"}),
        ("required", None, {"type": "any"}),
        ({"type": "function", "function": {"name": "get_time"}}, None, {"type": "tool", "name": "get_time"}),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
        ("required", False, {"type": "any", "disable_parallel_tool_use": True}),
        ("none", False, {"type": "none"}),
        ("auto", True, {"type": "auto"}),
    ],
)
def test_tool_choice_and_parallel_tool_calls(choice: Any, parallel: bool | None, sent: dict[str, Any]) -> None:
    fields = {k: v for k, v in {"tool_choice": choice, "parallel_tool_calls": parallel}.items() if v is not None}
    assert convert(tools=[WEATHER, TIME], **fields)["tool_choice"] == sent


def test_tool_choice_without_tools_is_dropped_and_a_bad_one_is_a_400() -> None:
    assert "tool_choice" not in convert(tool_choice="required")
    with pytest.raises(InvalidRequest) as caught:
        convert(tools=[WEATHER], tool_choice="sometimes")
    assert caught.value.param == "tool_choice"


def test_non_function_tools_are_a_400() -> None:
    with pytest.raises(InvalidRequest) as caught:
        convert(tools=[{"type": "custom", "custom": {"name": "grammar"}}])
    assert caught.value.param == "tools[0]"


def test_json_object_mode_forces_the_json_tool() -> None:
    out = convert(response_format={"type": "json_object"})
    assert out["tools"] == [{"name": JSON_TOOL, "description": "Give the final answer as this tool's input.",
                             "input_schema": {"type": "object"}}]
    assert out["tool_choice"] == {"type": "tool", "name": JSON_TOOL}
    assert "system" not in out


def test_json_schema_mode_uses_the_schema_as_input_schema() -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    out = convert(response_format={"type": "json_schema", "json_schema": {"name": "place", "schema": schema}})
    assert out["tools"][0]["input_schema"] == schema


CLOSED = {"type": "object", "properties": {"city": {"type": "string"}, "tags": {"type": "array", "items": {
    "type": "object", "properties": {"name": {"type": "string", "format": "email"}}, "additionalProperties": False}}},
    "required": ["city"], "additionalProperties": False}


def test_a_closed_schema_goes_as_a_structured_output_to_models_that_take_one() -> None:
    out = convert(response_format={"type": "json_schema", "json_schema": {"name": "place", "schema": CLOSED}})
    assert out["output_config"] == {"format": {"type": "json_schema", "schema": CLOSED}}
    assert "tools" not in out and "tool_choice" not in out and "system" not in out
    with_tools = convert(tools=[WEATHER], response_format={"type": "json_schema", "json_schema": {"schema": CLOSED}})
    assert [t["name"] for t in with_tools["tools"]] == ["get_weather"] and "output_config" in with_tools


@pytest.mark.parametrize("schema", [
    {"type": "object", "properties": {"city": {"type": "string"}}},  # open: additionalProperties not false
    {**CLOSED, "properties": {"year": {"type": "integer", "minimum": 1900}}},  # a numeric constraint
    {**CLOSED, "properties": {"next": {"$ref": "#"}}},  # a reference (could recurse)
    {**CLOSED, "properties": {"site": {"type": "string", "format": "regex"}}},  # a format it does not know
])
def test_other_schemas_take_the_json_tool(schema) -> None:
    out = convert(response_format={"type": "json_schema", "json_schema": {"name": "place", "schema": schema}})
    assert "output_config" not in out and out["tools"][0]["input_schema"] == schema


@pytest.mark.parametrize(("model", "native"), [
    ("claude-sonnet-4-5-20250929", True), ("claude-opus-4-5", True), ("claude-haiku-4-5-20251001", True),
    ("claude-sonnet-4-6", True), ("claude-opus-4-7", True), ("claude-sonnet-5", True),
    ("claude-sonnet-4-20250514", False), ("claude-opus-4-1", False), ("claude-opus-4-1-20250805", False),
    ("claude-3-7-sonnet-20250219", False), ("claude-3-5-haiku-latest", False), ("my-claude-proxy", False),
])
def test_which_models_take_structured_outputs(model, native) -> None:
    request = {"model": "m", "messages": [{"role": "user", "content": "Hi"}],
               "response_format": {"type": "json_schema", "json_schema": {"schema": CLOSED}}}
    assert ("output_config" in chat_request_to_messages(request, model, False)) is native


def test_json_mode_beside_client_tools_is_offered_not_forced_and_asked_for_in_system() -> None:
    out = convert(tools=[WEATHER], response_format={"type": "json_object"}, messages=[
        {"role": "system", "content": "Be terse."}, {"role": "user", "content": "Hi"},
    ])
    assert [t["name"] for t in out["tools"]] == ["get_weather", JSON_TOOL]
    assert "tool_choice" not in out
    assert out["system"][0] == {"type": "text", "text": "Be terse."}
    assert JSON_TOOL in out["system"][1]["text"]


def test_json_mode_text_format_and_tool_choice_none_add_nothing() -> None:
    assert "tools" not in convert(response_format={"type": "text"})
    assert [t["name"] for t in convert(tools=[WEATHER], tool_choice="none",
                                       response_format={"type": "json_object"})["tools"]] == ["get_weather"]


def test_bad_json_schema_is_a_400() -> None:
    with pytest.raises(InvalidRequest):
        convert(response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": [1]}})


@pytest.mark.parametrize(
    ("fields", "budget", "max_tokens"),
    [
        ({"thinking": {"type": "enabled", "budget_tokens": 2000}}, 2000, 4096),
        ({"thinking": {"type": "enabled", "budget_tokens": 10}}, 1024, 4096),
        ({"thinking": {"type": "enabled"}}, 8192, 8192 + 4096),
        ({"thinking": {"type": "enabled", "budget_tokens": 8000}, "max_tokens": 500}, 8000, 8500),
        ({"reasoning_effort": "minimal"}, 1024, 4096),
        ({"reasoning_effort": "low"}, 2048, 4096),
        ({"reasoning_effort": "medium", "max_completion_tokens": 100}, 8192, 8292),
        ({"reasoning_effort": "high"}, 24576, 24576 + 4096),
    ],
)
def test_thinking_controls_become_a_budget_below_max_tokens(fields: dict[str, Any], budget: int, max_tokens: int) -> None:
    out = convert(**fields)
    assert out["thinking"] == {"type": "enabled", "budget_tokens": budget}
    assert out["max_tokens"] == max_tokens and budget < out["max_tokens"]


@pytest.mark.parametrize(
    "fields",
    [{}, {"reasoning_effort": "none"}, {"thinking": {"type": "disabled"}, "reasoning_effort": "high"},
     {"thinking": {"type": "auto"}}, {"thinking": {"type": "auto"}, "reasoning_effort": "high"}],
)
def test_no_thinking_unless_asked(fields: dict[str, Any]) -> None:
    assert "thinking" not in convert(**fields)


def test_thinking_drops_sampling_knobs_and_never_forces_the_json_tool() -> None:
    out = convert(thinking={"type": "enabled", "budget_tokens": 2048}, temperature=0.2, top_p=0.5, top_k=5,
                  response_format={"type": "json_object"})
    assert not {"temperature", "top_p", "top_k"} & set(out)
    assert "tool_choice" not in out and out["tools"][0]["name"] == JSON_TOOL
    assert JSON_TOOL in out["system"][0]["text"]


def test_function_role_is_a_400() -> None:
    with pytest.raises(InvalidRequest) as caught:
        convert(messages=[{"role": "function", "name": "f", "content": "x"}])
    assert caught.value.param == "messages[0].role"


def test_empty_assistant_text_is_left_out() -> None:
    messages = [{"role": "user", "content": "a"}, {"role": "assistant", "content": ""}, {"role": "user", "content": "b"}]
    out = convert(messages=messages)["messages"]
    assert out == [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]


_plain = st.builds(lambda role, text, named: {"role": role, "content": text, **({"name": "n"} if named else {})},
                   st.sampled_from(["system", "developer", "user", "assistant"]), st.text(max_size=3), st.booleans())


@settings(max_examples=300, deadline=None)
@given(st.lists(_plain, min_size=1, max_size=6))
def test_text_given_as_a_string_goes_as_the_same_text_given_as_a_part(messages: list[dict[str, Any]]) -> None:
    """A message of text alone takes a shorter way than one of parts; the same conversation with
    every text given as one text part takes the general way, and the two requests are the same."""
    as_parts = [{**m, "content": [{"type": "text", "text": m["content"]}]} for m in messages]
    plain = chat_request_to_messages({"model": "m", "messages": messages}, "claude", False)
    parted = chat_request_to_messages({"model": "m", "messages": as_parts}, "claude", False)
    assert orjson.dumps(plain) == orjson.dumps(parted)

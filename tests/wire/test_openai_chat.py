"""wire/openai_chat.py: what the gateway accepts, and a 400 naming the parameter for what it does not."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from relaygate.errors import InvalidRequest
from relaygate.wire.openai_chat import check_chat_request, wants_usage

USER = [{"role": "user", "content": "東京の天気は?"}]

# Bodies shaped as the seed documents write them.
VALID_BODIES: dict[str, dict[str, Any]] = {
    "minimal": {"model": "qwen-turbo", "messages": USER},
    "seed000_thinking_and_sampling": {
        "model": "qwen3-max",
        "messages": [
            {"role": "system", "content": "あなたは優秀なアシスタントです。"},
            {"role": "user", "content": "この数学の問題を解いてください: 2^10"},
        ],
        "stream": False,
        "max_tokens": 2048,
        "temperature": 0.7,
        "top_p": 1.0,
        "thinking": {"type": "enabled", "budget_tokens": 8000},
    },
    "seed000_tools_and_json_mode": {
        "model": "deepseek-chat",
        "messages": USER,
        "tools": [{
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "指定した都市の天気を取得する",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string", "description": "都市名"}},
                    "required": ["city"],
                },
            },
        }],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "response_format": {"type": "json_object"},
    },
    "seed000_image_and_audio_parts": {
        "model": "qwen-omni-turbo",
        "messages": [{
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": "https://example.com/image.jpg"}},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAE="}},
                {"type": "input_audio", "input_audio": {"data": "SUQzBAAAAAAAI1RTU0UAAAAPAAADTGF2ZjU4Ljc2LjEwMAAAAAAAAAAAAAAA", "format": "mp3"}},
                {"type": "text", "text": "この音声を文字起こしして要約してください"},
            ],
        }],
        "stream": True,
        "stream_options": {"include_usage": True},
        "modalities": ["text"],
    },
    "seed001_provider_tools_and_tool_role": {
        "model": "openai/gpt-4o",
        "messages": [
            {"role": "system", "content": "あなたは親切なアシスタントです。"},
            {"role": "user", "content": [
                {"type": "text", "text": "この画像には何が写っていますか?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/image.jpg", "detail": "high"}},
            ]},
            {"role": "assistant", "content": None, "tool_calls": [{
                "id": "call_abc123", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\": \"東京\"}"},
            }]},
            {"role": "tool", "tool_call_id": "call_abc123", "content": "{\"temp\": 21}"},
        ],
        "temperature": 0.7,
        "frequency_penalty": -0.5,
        "presence_penalty": 2,
        "provider": {"order": ["azure", "openai"], "allow_fallbacks": True},
    },
    "seed002_dashscope_parameters": {
        "model": "qwen-plus",
        "messages": [
            {"role": "user", "content": "杭州の観光地を教えて"},
            {"role": "assistant", "content": "杭州には", "partial": True},
        ],
        "stream": True,
        "stream_options": {"include_usage": True},
        "enable_thinking": True,
        "thinking_budget": 4000,
        "top_k": 20,
        "enable_search": True,
        "search_options": {"forced_search": True, "search_strategy": "turbo"},
        "vl_high_resolution_images": False,
        "n": 2,
        "seed": 1234,
        "logprobs": True,
        "top_logprobs": 0,
        "stop": ["###", "END"],
        "parallel_tool_calls": True,
        "max_input_tokens": 129024,
        "enable_code_interpreter": False,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "spots", "schema": {"type": "object", "properties": {"name": {"type": "string"}}}},
        },
    },
    "seed002_video_parts_and_audio_output": {
        "model": "qwen-omni-turbo",
        "messages": [{"role": "user", "content": [
            {"type": "video", "video": ["https://example.com/f1.jpg", "https://example.com/f2.jpg"], "fps": 2},
            {"type": "video_url", "video_url": {"url": "https://example.com/clip.mp4"}, "max_pixels": 655360},
            {"type": "text", "text": "このビデオのプロセスを説明してください。"},
        ]}],
        "stream": True,
        "modalities": ["text", "audio"],
        "audio": {"voice": "Cherry", "format": "wav"},
    },
    "seed002_stop_string": {"model": "qwen-plus", "messages": USER, "stop": "\n\n"},
    "seed004_flat_names": {
        "model": "doubao-seed-1-6-251015",
        "messages": [{"role": "developer", "content": "Be brief."}, *USER],
        "max_completion_tokens": 512,
        "reasoning_effort": "minimal",
        "user": "user-1234",
        "thinking": {"type": "auto"},
    },
    "nulls_are_accepted": {
        "model": "gpt-4o", "messages": USER, "temperature": None, "max_tokens": None, "stop": None,
        "stream_options": None, "thinking": None, "tools": None,
    },
}


def body_with(**params: Any) -> dict[str, Any]:
    return {"model": "qwen-plus", "messages": copy.deepcopy(USER), **params}


@pytest.mark.parametrize("name", VALID_BODIES)
def test_valid_bodies_are_accepted_unchanged(name: str) -> None:
    body = copy.deepcopy(VALID_BODIES[name])
    assert check_chat_request(body) == VALID_BODIES[name]


def test_stop_token_ids_are_accepted() -> None:
    # Seed 002: `stop` may list token ids instead of strings (only mixing the two is invalid).
    body = body_with(stop=[104307, 151643])
    assert check_chat_request(body) is body


# (parameter, a value of the wrong type); each must be refused naming that parameter.
WRONG_TYPES = [
    ("stream", "true"),
    ("stream", 1),
    ("stream_options", True),
    ("stream_options", "include_usage"),
    ("temperature", "0.7"),
    ("temperature", True),
    ("top_p", False),
    ("presence_penalty", True),
    ("frequency_penalty", [0.5]),
    ("max_tokens", True),
    ("max_tokens", 0),
    ("max_tokens", 10.5),
    ("max_tokens", "100"),
    ("max_completion_tokens", True),
    ("max_completion_tokens", -1),
    ("n", True),
    ("n", 0),
    ("seed", True),
    ("seed", "42"),
    ("top_logprobs", True),
    ("top_logprobs", -1),
    ("logprobs", 1),
    ("logprobs", "true"),
    ("parallel_tool_calls", 0),
    ("stop", 5),
    ("stop", ["a", None]),
    ("tools", {"type": "function"}),
    ("tools", ["get_weather"]),
    ("tool_choice", True),
    ("tool_choice", ["auto"]),
    ("response_format", "json_object"),
    ("response_format", {"json_schema": {}}),
    ("user", 42),
    ("reasoning_effort", "extreme"),
    ("reasoning_effort", True),
    ("reasoning_effort", ["low"]),
    ("reasoning_effort", {"effort": "low"}),
]


@pytest.mark.parametrize(("param", "value"), WRONG_TYPES, ids=[f"{p}={v!r}" for p, v in WRONG_TYPES])
def test_wrong_type_is_refused_naming_the_param(param: str, value: Any) -> None:
    body = body_with(**{param: value})
    if param == "stream_options":
        body["stream"] = True
    with pytest.raises(InvalidRequest) as caught:
        check_chat_request(body)
    assert caught.value.param == param
    assert f"'{param}'" in caught.value.message
    assert caught.value.status == 400
    assert caught.value.body()["error"]["type"] == "invalid_request_error"


def test_bools_are_not_numbers_but_ints_and_floats_are() -> None:
    for param in ("temperature", "top_p", "presence_penalty", "frequency_penalty"):
        assert check_chat_request(body_with(**{param: 1}))
        assert check_chat_request(body_with(**{param: 0.5}))
        with pytest.raises(InvalidRequest):
            check_chat_request(body_with(**{param: True}))


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ([], None),
        ("model=gpt-4o", None),
        ({"messages": USER}, "model"),
        ({"model": "", "messages": USER}, "model"),
        ({"model": "   ", "messages": USER}, "model"),
        ({"model": 4, "messages": USER}, "model"),
        ({"model": "gpt-4o"}, "messages"),
        ({"model": "gpt-4o", "messages": []}, "messages"),
        ({"model": "gpt-4o", "messages": {"role": "user", "content": "hi"}}, "messages"),
        ({"model": "gpt-4o", "messages": ["hi"]}, "messages[0]"),
        ({"model": "gpt-4o", "messages": [*USER, {"role": "bot", "content": "hi"}]}, "messages[1].role"),
        ({"model": "gpt-4o", "messages": [{"content": "hi"}]}, "messages[0].role"),
        ({"model": "gpt-4o", "messages": [{"role": ["user"], "content": "hi"}]}, "messages[0].role"),
        ({"model": "gpt-4o", "messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        ({"model": "gpt-4o", "messages": [{"role": "user", "content": {"type": "text"}}]}, "messages[0].content"),
        ({"model": "gpt-4o", "messages": [{"role": "user", "content": [{"text": "hi"}]}]}, "messages[0].content[0]"),
        ({"model": "gpt-4o", "messages": [{"role": "user", "content": ["hi"]}]}, "messages[0].content[0]"),
    ],
    ids=["array_body", "string_body", "no_model", "empty_model", "blank_model", "numeric_model", "no_messages",
         "empty_messages", "object_messages", "string_message", "unknown_role", "no_role", "role_list",
         "numeric_content", "object_content", "part_without_type", "string_part"],
)
def test_malformed_model_and_messages(body: Any, param: str | None) -> None:
    with pytest.raises(InvalidRequest) as caught:
        check_chat_request(body)
    assert caught.value.param == param
    if param:
        assert f"'{param}" in caught.value.message


@pytest.mark.parametrize(
    ("thinking", "param"),
    [
        ("enabled", "thinking"),
        (True, "thinking"),
        ({}, "thinking"),
        ({"budget_tokens": 8000}, "thinking"),
        ({"type": "on"}, "thinking"),
        ({"type": ["enabled"]}, "thinking"),
        ({"type": "enabled", "budget_tokens": 0}, "thinking.budget_tokens"),
        ({"type": "enabled", "budget_tokens": -5}, "thinking.budget_tokens"),
        ({"type": "enabled", "budget_tokens": True}, "thinking.budget_tokens"),
        ({"type": "enabled", "budget_tokens": "8000"}, "thinking.budget_tokens"),
        ({"type": "enabled", "budget_tokens": 8000.5}, "thinking.budget_tokens"),
    ],
    ids=repr,
)
def test_malformed_thinking(thinking: Any, param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        check_chat_request(body_with(thinking=thinking))
    assert caught.value.param == param


@pytest.mark.parametrize("kind", ["enabled", "disabled", "auto"])
def test_thinking_types(kind: str) -> None:
    assert check_chat_request(body_with(thinking={"type": kind}))


def test_stream_options_need_stream() -> None:
    for stream in (None, False):
        with pytest.raises(InvalidRequest) as caught:
            check_chat_request(body_with(stream=stream, stream_options={"include_usage": True}))
        assert caught.value.param == "stream_options"
    assert check_chat_request(body_with(stream=True, stream_options={"include_usage": True}))


def test_error_names_the_first_problem_in_declared_order() -> None:
    with pytest.raises(InvalidRequest) as caught:
        check_chat_request({"model": "", "messages": [], "temperature": "hot"})
    assert caught.value.param == "model"
    with pytest.raises(InvalidRequest) as caught:
        check_chat_request(body_with(temperature="hot", thinking="yes"))
    assert caught.value.param == "temperature"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"stream": True, "stream_options": {"include_usage": True}}, True),
        ({"stream": True, "stream_options": {"include_usage": False}}, False),
        ({"stream": True, "stream_options": {}}, False),
        ({"stream": True, "stream_options": None}, False),
        ({"stream": True}, False),
        ({}, False),
    ],
)
def test_wants_usage(body: dict[str, Any], expected: bool) -> None:
    assert wants_usage(body) is expected

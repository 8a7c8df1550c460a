"""providers/anthropic/response.py: Messages response → chat.completion, over fixture payloads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from openai.types.chat import ChatCompletion

from relaygate.errors import UpstreamProtocolError
from relaygate.providers.anthropic import AnthropicAdapter
from relaygate.providers.anthropic.response import messages_response_to_chat

FIXTURES = Path(__file__).parent / "fixtures" / "anthropic"
REQUEST = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "Hi"}]}


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def convert(name: str, json_mode: bool = False) -> dict[str, Any]:
    return messages_response_to_chat(raw(name), json_mode, "claude-sonnet-4-5", 1_750_000_000)


def test_text_answer_with_cache_usage_counted_the_openai_way() -> None:
    out = convert("message_text_cached.json")
    assert out == {
        "id": "msg_01Xq7LmP2vRt9KwZsAbCdEfG",
        "object": "chat.completion",
        "created": 1_750_000_000,
        "model": "claude-sonnet-4-5-20250929",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": "Kyoto was the imperial capital for more than a thousand years.",
                        "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }],
        "usage": {"prompt_tokens": 31 + 2048 + 120, "completion_tokens": 17, "total_tokens": 31 + 2048 + 120 + 17,
                  "prompt_tokens_details": {"cached_tokens": 2048, "cache_write_tokens": 120}},
    }


def test_the_openai_sdk_parses_the_answer() -> None:
    completion = ChatCompletion.model_validate(convert("message_thinking_parallel_tools.json"))
    assert completion.choices[0].message.tool_calls[1].function.arguments == '{"city":"Osaka","units":"c"}'


def test_thinking_and_parallel_tool_calls_keep_ids_and_signed_blocks() -> None:
    message = convert("message_thinking_parallel_tools.json")["choices"][0]
    assert message["finish_reason"] == "tool_calls"
    assert message["message"] == {
        "role": "assistant",
        "content": "I'll look up both cities.",
        "reasoning_content": "Two cities, so two weather lookups.",
        "thinking_blocks": [
            {"type": "thinking", "thinking": "Two cities, so two weather lookups.",
             "signature": "EqQBCkYIBxgCKkDfakeButShapedLikeTheRealOne0001"},
            {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP"},
        ],
        "tool_calls": [
            {"id": "toolu_01KyotoLookup00000000001", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city":"Kyoto","units":"c"}'}},
            {"id": "toolu_01OsakaLookup00000000002", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city":"Osaka","units":"c"}'}},
        ],
        "refusal": None,
    }


def test_json_mode_tool_becomes_content_and_a_plain_stop() -> None:
    choice = convert("message_json_tool.json", json_mode=True)["choices"][0]
    assert orjson.loads(choice["message"]["content"]) == {"city": "Kyoto", "founded": 794, "capital": False}
    assert "tool_calls" not in choice["message"] and choice["finish_reason"] == "stop"


def test_without_json_mode_the_reserved_tool_is_an_ordinary_call() -> None:
    choice = convert("message_json_tool.json", json_mode=False)["choices"][0]
    assert choice["message"]["tool_calls"][0]["function"]["name"] == "relaygate_json_response"
    assert choice["finish_reason"] == "tool_calls"


def test_max_tokens_is_length_and_server_tool_blocks_are_dropped() -> None:
    assert convert("message_max_tokens.json")["choices"][0]["finish_reason"] == "length"
    out = convert("message_server_tools.json")
    assert out["choices"][0]["message"]["content"] == "It is sunny in Kyoto."
    assert "tool_calls" not in out["choices"][0]["message"]


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"), ("tool_use", "tool_calls"),
     ("refusal", "content_filter"), ("pause_turn", "stop"), ("model_context_window_exceeded", "length"),
     ("something_new", "stop"), (None, "stop")],
)
def test_stop_reasons(stop_reason: str | None, finish: str) -> None:
    content = [{"type": "tool_use", "id": "t", "name": "f", "input": {}}] if stop_reason == "tool_use" else []
    body = {"type": "message", "id": "m", "content": content, "stop_reason": stop_reason, "usage": {}}
    out = messages_response_to_chat(orjson.dumps(body), False, "m", 0)
    assert out["choices"][0]["finish_reason"] == finish
    assert out["usage"]["total_tokens"] == 0 and out["model"] == "m"


def test_adapter_answers_with_a_created_time_from_its_clock() -> None:
    adapter = AnthropicAdapter(clock=lambda: 1_700_000_123.9)
    out = orjson.loads(orjson.dumps(adapter.chat_response(raw("message_json_tool.json"),
                                             {**REQUEST, "response_format": {"type": "json_object"}}, "claude")))
    assert out["created"] == 1_700_000_123
    assert orjson.loads(out["choices"][0]["message"]["content"])["founded"] == 794


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<html>502 Bad Gateway</html>",
        b'{"type": "message", "content": [{"type": "text", "text": "cut',
        b"[1, 2]",
        b'{"id": "m", "content": []}',
        b'{"type": "message", "content": "text"}',
        b'{"type": "message", "content": [42]}',
        b'{"type": "message", "content": [{"text": "no type"}]}',
        b'{"type": "message", "content": [{"type": "text", "text": 7}]}',
        b'{"type": "message", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": "x"}]}',
        b'{"type": "message", "content": [{"type": "tool_use", "name": "f", "input": {}}]}',
        b'{"type": "message", "content": [{"type": "thinking", "thinking": "x"}]}',
        b'{"type": "message", "content": [{"type": "redacted_thinking"}]}',
        b'{"type": "message", "content": [], "usage": []}',
        b'{"type": "message", "content": [], "usage": {"input_tokens": "12"}}',
        b'{"type": "message", "content": [], "usage": {"output_tokens": -1}}',
    ],
)
def test_malformed_answers_are_a_clear_502(body: bytes) -> None:
    with pytest.raises(UpstreamProtocolError) as caught:
        messages_response_to_chat(body, False, "m", 0)
    assert caught.value.status == 502 and "Anthropic" in caught.value.message


@pytest.mark.parametrize("stop_reason", ["end_turn", "max_tokens", "tool_use", None])
@pytest.mark.parametrize("text", ["", "ab", "naïve \"quoted\"\n"])
def test_one_text_block_answers_as_the_same_text_in_pieces_does(stop_reason: str | None, text: str) -> None:
    """The answer of one text block takes a shorter way than the general one; split into blocks, the
    same text takes the general way, and the two answers are the same."""
    message = orjson.loads(raw("message_text_cached.json"))
    message["stop_reason"] = stop_reason
    whole = messages_response_to_chat(orjson.dumps({**message, "content": [{"type": "text", "text": text}]}),
                                      False, "m", 1)
    pieces = [{"type": "text", "text": text[:1]}, {"type": "text", "text": text[1:]}]
    split = messages_response_to_chat(orjson.dumps({**message, "content": pieces}), False, "m", 1)
    assert orjson.dumps(whole) == orjson.dumps(split)
    assert whole["choices"][0]["message"]["content"] == text

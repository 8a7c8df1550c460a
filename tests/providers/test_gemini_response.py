"""Whole generateContent answers → chat.completion (providers/gemini/response.py, reading.py)."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openai.types.chat import ChatCompletion

from relaygate.errors import UpstreamClientError, UpstreamError, UpstreamProtocolError
from relaygate.providers.gemini import ADAPTER
from relaygate.providers.gemini.response import generate_content_to_chat
from tests.providers.gemini_support import CREATED, fixture, run_stream


def answer(name: str, model: str = "gemini-2.5-pro"):
    return generate_content_to_chat(fixture(name), model, CREATED)


def test_text_answer_is_a_chat_completion_the_sdk_parses():
    out = answer("generate_text.json")
    parsed = ChatCompletion.model_validate(out)
    assert parsed.id == "chatcmpl-rgTxt01aBcDeFgHiJkLmNo"
    assert parsed.model == "gemini-2.0-flash"  # Gemini's modelVersion
    assert parsed.created == CREATED
    assert parsed.choices[0].message.content == "Cheyenne is the capital of Wyoming."
    assert parsed.choices[0].message.role == "assistant"
    assert parsed.choices[0].finish_reason == "stop"
    assert out["usage"] == {
        "prompt_tokens": 9, "completion_tokens": 8, "total_tokens": 17,
        "prompt_tokens_details": {"cached_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 0},
    }


def test_thought_parts_become_reasoning_content_and_the_call_keeps_its_signature():
    out = answer("generate_thinking_call.json")
    message = out["choices"][0]["message"]
    assert message["content"] is None
    assert message["reasoning_content"].startswith("**Planning the lookup**")
    (call,) = message["tool_calls"]
    assert call["function"] == {"name": "get_weather", "arguments": '{"city":"Oslo"}'}
    assert call["id"].startswith("call_") and call["type"] == "function"
    assert call["extra_content"]["google"]["thought_signature"].startswith("CiQBVKhc7kR2")
    assert out["choices"][0]["finish_reason"] == "tool_calls"  # Gemini says STOP
    assert out["usage"]["completion_tokens"] == 7 + 162
    assert out["usage"]["completion_tokens_details"] == {"reasoning_tokens": 162}
    assert out["usage"]["total_tokens"] == 41 + 169


def test_a_signature_on_the_answers_text_rides_on_the_message():
    message = answer("generate_thinking_text.json")["choices"][0]["message"]
    assert message["content"] == "Mount Everest"
    assert message["reasoning_content"].startswith("**Recalling the fact**")
    signature = "CiIBVKhc7kJ0ZXN0LXNpZ25hdHVyZS10d28tZm9yLXRleHQ="
    assert message["extra_content"] == {"google": {"thought_signature": signature}}


def test_parallel_calls_get_distinct_ids_that_are_stable_for_the_same_answer():
    first = answer("generate_parallel_calls.json")
    again = answer("generate_parallel_calls.json")
    calls = first["choices"][0]["message"]["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["get_weather", "get_weather", "get_time"]
    assert [orjson.loads(c["function"]["arguments"]) for c in calls] == [{"city": "Oslo"}, {"city": "Bergen"}, {}]
    ids = [c["id"] for c in calls]
    assert len(set(ids)) == 3
    assert ids == [c["id"] for c in again["choices"][0]["message"]["tool_calls"]]
    assert all("extra_content" not in c for c in calls)


def test_mixed_text_and_calls_and_parts_without_a_place_are_dropped():
    out = answer("generate_mixed_parts.json", model="gemini-x")
    message = out["choices"][0]["message"]
    assert message["content"] == "Adding 2 and 3: then 4 and 5:"
    assert len(message["tool_calls"]) == 2
    assert out["model"] == "gemini-x" and out["usage"] is None
    assert out["id"] == answer("generate_mixed_parts.json")["id"], "no responseId: the id comes from the answer"


def test_cached_thought_and_tool_prompt_tokens():
    usage = answer("generate_cached_usage.json")["usage"]
    assert usage == {
        "prompt_tokens": 10240 + 8, "completion_tokens": 12 + 70, "total_tokens": 10248 + 82,
        "prompt_tokens_details": {"cached_tokens": 9000}, "completion_tokens_details": {"reasoning_tokens": 70},
    }


@pytest.mark.parametrize(("name", "finish", "content"), [
    ("generate_safety.json", "content_filter", "<redacted>"),
    ("generate_max_tokens_thinking.json", "length", None),
    ("generate_blocked.json", "content_filter", None),
    ("generate_unknown_finish.json", "stop", "Some text"),
])
def test_finish_reasons(name, finish, content):
    choice = answer(name)["choices"][0]
    assert choice["finish_reason"] == finish
    assert choice["message"]["content"] == content


@pytest.mark.parametrize("name", [
    "generate_not_json.txt", "generate_no_candidates.json", "generate_parts_not_list.json",
    "generate_text_not_string.json", "generate_call_without_name.json", "generate_usage_not_counts.json",
])
def test_malformed_answers_are_a_clear_502(name):
    with pytest.raises(UpstreamProtocolError) as caught:
        answer(name)
    assert caught.value.status == 502
    assert caught.value.message.startswith("Gemini answered with a malformed payload")


@pytest.mark.parametrize("raw", [b"[]", b"null", b'"text"', b'{"candidates": "x"}', b'{"candidates": [1]}',
                                 b'{"candidates": [{"content": {"parts": [[]]}}]}', b'{"usageMetadata": 3}',
                                 b'{"promptFeedback": []}', b'{"candidates": [{"index": true}]}'])
def test_odd_shapes_never_crash(raw):
    with pytest.raises(UpstreamProtocolError):
        generate_content_to_chat(raw, "m", CREATED)


def test_adapter_shell_serialises_the_completion():
    out = orjson.loads(orjson.dumps(ADAPTER.chat_response(fixture("generate_text.json"), {}, "gemini-2.0-flash")))
    assert out["object"] == "chat.completion" and isinstance(out["created"], int) and out["created"] > CREATED


# Keys Gemini answers with, so generated payloads reach the reader's corners.
KEYS = ["candidates", "content", "parts", "text", "thought", "thoughtSignature", "functionCall", "name", "args",
        "finishReason", "index", "usageMetadata", "promptTokenCount", "candidatesTokenCount", "thoughtsTokenCount",
        "promptFeedback", "blockReason", "responseId", "modelVersion", "error", "code", "message"]
PAYLOADS = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2, max_value=99) | st.sampled_from([400, 403, 429, 503])
    | st.sampled_from(["STOP", "SAFETY", "x", ""]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=5),
    max_leaves=16,
)


@settings(max_examples=250, deadline=None)
@given(PAYLOADS)
def test_any_upstream_payload_is_an_answer_or_a_502_never_a_crash(payload):
    raw = orjson.dumps(payload)
    try:
        ChatCompletion.model_validate(generate_content_to_chat(raw, "m", CREATED))
    except UpstreamProtocolError:
        pass
    try:
        run_stream(b"data: " + raw + b"\r\n\r\n")
    except (UpstreamError, UpstreamClientError) as exc:
        assert exc.status in (400, 429, 502)

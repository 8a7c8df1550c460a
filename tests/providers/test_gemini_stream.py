"""streamGenerateContent SSE → chat.completion.chunk (providers/gemini/stream.py, framing.py)."""

from __future__ import annotations

import orjson
import pytest
from openai.types.chat import ChatCompletionChunk

from relaygate.errors import UpstreamClientError, UpstreamError, UpstreamProtocolError
from relaygate.providers.gemini.framing import GeminiEventDecoder, bare_json_start
from relaygate.providers.gemini.response import generate_content_to_chat
from tests.providers.gemini_support import CREATED, fixture, run_stream


def deltas(chunks, field="content", index=0):
    return "".join(c["choices"][0]["delta"].get(field) or "" for c in chunks
                   if c["choices"] and c["choices"][0]["index"] == index)


def finishes(chunks):
    return [(c["choices"][0]["index"], c["choices"][0]["finish_reason"])
            for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]


def test_text_stream_without_usage_asked():
    translator, chunks = run_stream(fixture("stream_text.sse"))
    for chunk in chunks:
        ChatCompletionChunk.model_validate(chunk)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "The"}
    assert all("role" not in c["choices"][0]["delta"] for c in chunks[1:])
    assert deltas(chunks) == "The capital of Wyoming is Cheyenne.\n"
    assert finishes(chunks) == [(0, "stop")]
    assert chunks[-1]["choices"][0]["delta"] == {}
    assert all(c["choices"] and "usage" not in c for c in chunks)
    assert {c["id"] for c in chunks} == {"chatcmpl-rgStr06aaa"}
    assert {c["model"] for c in chunks} == {"gemini-2.0-flash"} and {c["created"] for c in chunks} == {CREATED}
    assert translator.end.done is True
    assert translator.end.usage["prompt_tokens"] == 7 and translator.end.usage["completion_tokens"] == 10


def test_usage_is_cumulative_so_the_last_one_counts_never_the_sum():
    translator, chunks = run_stream(fixture("stream_text.sse"), include_usage=True)
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {
        "prompt_tokens": 7, "completion_tokens": 10, "total_tokens": 17,
        "prompt_tokens_details": {"cached_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 0},
    }
    assert translator.end.usage == chunks[-1]["usage"]
    assert sum(1 for c in chunks if "usage" in c) == 1


@pytest.mark.parametrize("size", [1, 2, 7, 13, 64])
def test_bytes_split_anywhere_give_the_same_chunks(size):
    for name in ("stream_text.sse", "stream_thinking_call.sse", "stream_repeated_stop.sse"):
        assert run_stream(fixture(name), True, size)[1] == run_stream(fixture(name), True)[1]


def test_thoughts_then_a_whole_function_call_with_its_signature():
    translator, chunks = run_stream(fixture("stream_thinking_call.sse"), include_usage=True)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert deltas(chunks, "reasoning_content").startswith("**Planning**")
    assert deltas(chunks) == ""
    calls = [call for c in chunks if c["choices"] for call in c["choices"][0]["delta"].get("tool_calls", [])]
    assert len(calls) == 1
    assert calls[0]["index"] == 0 and calls[0]["type"] == "function"
    assert calls[0]["function"] == {"name": "get_weather", "arguments": '{"city":"Oslo"}'}
    assert calls[0]["extra_content"]["google"]["thought_signature"].startswith("CiQBVKhc7kR2")
    assert finishes(chunks) == [(0, "tool_calls")]
    assert chunks[-1]["usage"]["completion_tokens_details"] == {"reasoning_tokens": 150}
    assert chunks[-1]["usage"]["completion_tokens"] == 156


def test_streamed_and_whole_answers_with_one_response_id_give_the_same_tool_call_ids():
    whole = fixture("generate_parallel_calls.json")
    _, chunks = run_stream(b"data: " + orjson.dumps(orjson.loads(whole)) + b"\r\n\r\n")
    streamed = [call["id"] for c in chunks if c["choices"] for call in c["choices"][0]["delta"].get("tool_calls", [])]
    message = generate_content_to_chat(whole, "m", CREATED)["choices"][0]["message"]
    expected = [call["id"] for call in message["tool_calls"]]
    assert streamed == expected and len(set(streamed)) == 3


def test_parallel_calls_are_indexed_in_order():
    _, chunks = run_stream(fixture("stream_parallel_calls.sse"))
    calls = [call for c in chunks if c["choices"] for call in c["choices"][0]["delta"].get("tool_calls", [])]
    assert [(call["index"], orjson.loads(call["function"]["arguments"])) for call in calls] == [
        (0, {"city": "Oslo"}), (1, {"city": "Bergen"})]
    assert deltas(chunks) == "Checking both cities."
    assert finishes(chunks) == [(0, "tool_calls")]


@pytest.mark.parametrize(("name", "finish", "text"), [
    ("stream_max_tokens.sse", "length", "One two three"),
    ("stream_repeated_stop.sse", "stop", "First second third."),  # one finish, at the end
    ("stream_recitation.sse", "content_filter", "Some quoted text"),
    ("stream_blocked.sse", "content_filter", ""),
])
def test_finish_reasons(name, finish, text):
    translator, chunks = run_stream(fixture(name))
    assert finishes(chunks) == [(0, finish)]
    assert deltas(chunks) == text
    assert translator.end.done is True


def test_several_candidates_are_kept_apart_by_index():
    _, chunks = run_stream(fixture("stream_two_candidates.sse"))
    assert deltas(chunks, index=0) == "Red fox" and deltas(chunks, index=1) == "Blue whale"
    assert finishes(chunks) == [(0, "stop"), (1, "stop")]
    assert {c["choices"][0]["delta"].get("role") for c in chunks[:2]} == {"assistant"}


def test_a_stream_that_ends_without_a_finish_reason_is_not_done():
    translator, chunks = run_stream(fixture("stream_cut.sse"), include_usage=True)
    assert deltas(chunks) == "Partial answer"
    assert finishes(chunks) == [] and all(c["choices"] for c in chunks)
    assert translator.end.done is False
    assert translator.end.usage["completion_tokens"] == 2


@pytest.mark.parametrize("size", [None, 1, 5, 40])
def test_an_error_written_outside_sse_after_events_raises(size):
    with pytest.raises(UpstreamError) as caught:
        run_stream(fixture("stream_error_mid.sse"), size=size)
    assert type(caught.value) is UpstreamError and caught.value.status == 502
    assert "503 UNAVAILABLE: The model is overloaded" in caught.value.message


def test_an_error_event_inside_sse_raises_too():
    with pytest.raises(UpstreamError, match="overloaded"):
        run_stream(fixture("stream_error_event.sse"))


def test_an_error_before_any_event_keeps_its_status():
    body = (b'{\n  "error": {\n    "code": 429,\n    "message": "Quota exceeded.",\n'
            b'    "status": "RESOURCE_EXHAUSTED"\n  }\n}\n')
    with pytest.raises(UpstreamClientError) as caught:
        run_stream(body)
    assert caught.value.status == 429 and caught.value.body()["error"]["code"] == "rate_limit_exceeded"


@pytest.mark.parametrize("name", ["stream_invalid.sse", "stream_not_json.sse"])
def test_malformed_events_are_a_clear_502(name):
    with pytest.raises(UpstreamProtocolError):
        run_stream(fixture(name))


def test_a_bare_json_trailer_that_never_completes_is_malformed_at_the_end():
    with pytest.raises(UpstreamProtocolError):
        run_stream(fixture("stream_text.sse")[:-2] + b"\n{\n  \"error\": {\n")


def test_bare_json_start():
    assert bare_json_start(b"{", True) == 0
    assert bare_json_start(b"{", False) == -1
    assert bare_json_start(b'data: {"a": 1}\r\n\r\n{', False) == len(b'data: {"a": 1}\r\n\r\n')
    assert bare_json_start(b'data: {"a": 1}', True) == -1


def test_decoder_passes_sse_through_and_hands_on_the_trailer_once():
    decoder = GeminiEventDecoder()
    events = decoder.feed(b'data: {"x": 1}\r\n\r\n{\n "error": {"code": 500}\n')
    assert [e.data for e in events] == [b'{"x": 1}']
    events = decoder.feed(b"}\n")
    assert [orjson.loads(e.data) for e in events] == [{"error": {"code": 500}}]
    assert decoder.feed(b"\n\n") == [] and decoder.flush() == []

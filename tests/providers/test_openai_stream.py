"""providers/openai_stream.py: the relay forwards each event, reads usage, and strips it when not asked for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from relaygate.providers.openai_stream import OpenAIStreamRelay, first_event_error, whole_lf_events
from relaygate.wire.sse import DONE, Event, SSEDecoder

FIXTURES = Path(__file__).parent / "fixtures"
STREAMS = {
    "openai_text": "openai/stream_text_include_usage.sse",
    "openai_parallel_tools": "openai/stream_parallel_tool_calls.sse",
    "dashscope_thinking": "dashscope/stream_qwen_plus_thinking_include_usage.sse",
    "dashscope_tool_call": "dashscope/stream_qwen_plus_tool_call_include_usage.sse",
    "deepseek_reasoner": "deepseek/stream_reasoner.sse",
}
# What each stream reports, read off the fixture by eye (not by the code under test).
USAGE = {
    "openai_text": {"prompt_tokens": 19, "completion_tokens": 14, "total_tokens": 33},
    "openai_parallel_tools": {"prompt_tokens": 88, "completion_tokens": 52, "total_tokens": 140},
    "dashscope_thinking": {"prompt_tokens": 16, "completion_tokens": 87, "total_tokens": 103},
    "dashscope_tool_call": {"prompt_tokens": 212, "completion_tokens": 24, "total_tokens": 236},
    "deepseek_reasoner": {"prompt_tokens": 12, "completion_tokens": 41, "total_tokens": 53},
}


def events_of(raw: bytes) -> list[Event]:
    decoder = SSEDecoder()
    return decoder.feed(raw) + decoder.flush()


def load(name: str) -> list[Event]:
    return events_of((FIXTURES / STREAMS[name]).read_bytes())


def relay_all(relay: OpenAIStreamRelay, events: list[Event]) -> bytes:
    return b"".join(relay.relay(event) for event in events)


def chunk(event: Event) -> dict[str, Any]:
    return orjson.loads(event.data)


def is_usage_only(event: Event) -> bool:
    return event.data != b"[DONE]" and chunk(event).get("choices") == [] and isinstance(chunk(event).get("usage"), dict)


@pytest.mark.parametrize("name", STREAMS)
def test_client_asking_for_usage_gets_the_stream_unchanged(name: str) -> None:
    events = load(name)
    relay = OpenAIStreamRelay(client_wants_usage=True)
    out = relay_all(relay, events)
    assert [e.data for e in events_of(out)] == [e.data for e in events]
    assert out.endswith(DONE)
    assert relay.end.done is True
    assert relay.end.error is None
    for key, value in USAGE[name].items():
        assert relay.end.usage[key] == value


@pytest.mark.parametrize("name", STREAMS)
def test_client_not_asking_gets_the_stream_minus_the_usage_chunk(name: str) -> None:
    events = load(name)
    relay = OpenAIStreamRelay(client_wants_usage=False)
    out_events = events_of(relay_all(relay, events))

    expected = [e for e in events if not is_usage_only(e)]
    assert len(out_events) == len(expected)
    for got, sent in zip(out_events, expected):
        if sent.data == b"[DONE]" or chunk(sent).get("usage") is None:
            assert got.data == sent.data  # forwarded byte for byte
        else:  # usage riding on a chunk with choices is nulled, the rest kept
            assert chunk(got) == {**chunk(sent), "usage": None}
    assert not any(e.data != b"[DONE]" and isinstance(chunk(e).get("usage"), dict) for e in out_events)
    assert relay.end.done is True
    for key, value in USAGE[name].items():
        assert relay.end.usage[key] == value


def test_openai_usage_chunk_is_dropped_and_details_recorded() -> None:
    events = load("openai_text")
    relay = OpenAIStreamRelay(client_wants_usage=False)
    outputs = [relay.relay(e) for e in events]
    assert outputs[-2] == b""  # the choices:[] usage chunk
    assert outputs[-1] == DONE
    assert all(out == b"data: " + e.data + b"\n\n" for out, e in zip(outputs[:-2], events[:-2]))
    assert relay.end.usage["completion_tokens_details"]["reasoning_tokens"] == 0
    assert relay.end.usage["prompt_tokens_details"] == {"cached_tokens": 0, "audio_tokens": 0}


def test_dashscope_usage_null_on_every_chunk_is_forwarded_untouched() -> None:
    events = load("dashscope_thinking")
    relay = OpenAIStreamRelay(client_wants_usage=False)
    content_chunks = [e for e in events if b'"usage":null' in e.data]
    assert len(content_chunks) == len(events) - 2
    for event in content_chunks:
        assert relay.relay(event) == b"data: " + event.data + b"\n\n"
    assert relay.end.usage is None  # nothing recorded from usage:null


def test_dashscope_thinking_text_survives() -> None:
    relay = OpenAIStreamRelay(client_wants_usage=False)
    out_events = events_of(relay_all(relay, load("dashscope_thinking")))
    deltas = [chunk(e)["choices"][0]["delta"] for e in out_events[:-1]]
    reasoning = "".join(d.get("reasoning_content") or "" for d in deltas)
    answer = "".join(d.get("content") or "" for d in deltas)
    assert reasoning == "用户问的是富士山的高度，我记得是3776米。"
    assert answer == "富士山的海拔约为3,776米，是日本最高的山🗻。"
    assert relay.end.usage["completion_tokens_details"] == {"reasoning_tokens": 61}


def test_deepseek_usage_on_the_finish_chunk_is_nulled_not_dropped() -> None:
    events = load("deepseek_reasoner")
    finish = events[-2]
    assert chunk(finish)["choices"][0]["finish_reason"] == "stop"
    relay = OpenAIStreamRelay(client_wants_usage=False)
    relay_all(relay, events[:-2])
    out = events_of(relay.relay(finish))
    assert len(out) == 1
    sent = chunk(out[0])
    assert sent["usage"] is None
    assert sent["choices"] == chunk(finish)["choices"]
    assert relay.end.usage["completion_tokens_details"] == {"reasoning_tokens": 33}
    assert relay.end.usage["prompt_cache_miss_tokens"] == 12


def test_deepseek_reasoning_chunks_forwarded_byte_for_byte() -> None:
    events = load("deepseek_reasoner")
    relay = OpenAIStreamRelay(client_wants_usage=True)
    reasoning = [e for e in events if b'"reasoning_content":"' in e.data and b'"reasoning_content":""' not in e.data]
    assert len(reasoning) == 16
    for event in reasoning:
        assert relay.relay(event) == b"data: " + event.data + b"\n\n"


def test_tool_call_deltas_reassemble_after_the_relay() -> None:
    relay = OpenAIStreamRelay(client_wants_usage=False)
    out_events = events_of(relay_all(relay, load("openai_parallel_tools")))
    arguments: dict[int, str] = {}
    for event in out_events[:-1]:
        for call in chunk(event)["choices"][0]["delta"].get("tool_calls") or []:
            arguments[call["index"]] = arguments.get(call["index"], "") + call["function"]["arguments"]
    assert {i: orjson.loads(a) for i, a in arguments.items()} == {
        0: {"city": "Osaka", "days": 3}, 1: {"city": "Sapporo", "days": 3},
    }


def test_dashscope_tool_call_continuations_with_empty_id_pass_through() -> None:
    events = load("dashscope_tool_call")
    relay = OpenAIStreamRelay(client_wants_usage=False)
    out_events = events_of(relay_all(relay, events))
    assert [e.data for e in out_events] == [e.data for e in events if not is_usage_only(e)]
    assert b'"id":""' in out_events[1].data


def test_usage_recorded_without_done() -> None:
    # An upstream that stops after the usage chunk: usage is known, the stream is not complete.
    events = load("openai_text")[:-1]
    relay = OpenAIStreamRelay(client_wants_usage=False)
    relay_all(relay, events)
    assert relay.end.usage["total_tokens"] == 33
    assert relay.end.done is False


def test_usage_key_inside_a_string_is_not_usage() -> None:
    data = (
        b'{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,'
        b'"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\\"usage\\": {\\"cpu\\": 3}}"}}]},'
        b'"finish_reason":null}]}'
    )
    relay = OpenAIStreamRelay(client_wants_usage=False)
    assert relay.relay(Event(data)) == b"data: " + data + b"\n\n"
    assert relay.end.usage is None


def test_usage_found_when_the_word_usage_comes_first() -> None:
    # The answer was cut right at the word "usage", and the upstream puts usage on the finish chunk.
    usage = {"prompt_tokens": 9, "completion_tokens": 16, "total_tokens": 25}
    data = orjson.dumps({
        "id": "5e0b7c2d", "object": "chat.completion.chunk", "created": 1740125903, "model": "deepseek-chat",
        "choices": [{"index": 0, "delta": {"content": "usage"}, "logprobs": None, "finish_reason": "length"}],
        "usage": usage,
    })
    relay = OpenAIStreamRelay(client_wants_usage=False)
    out = events_of(relay.relay(Event(data)))
    assert relay.end.usage == usage
    assert chunk(out[0])["usage"] is None


def test_usage_with_spaces_around_the_colon() -> None:
    data = b'{"id": "x", "choices": [], "usage" : {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}}'
    relay = OpenAIStreamRelay(client_wants_usage=False)
    assert relay.relay(Event(data)) == b""
    assert relay.end.usage == {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}


def test_malformed_usage_looking_chunk_is_forwarded() -> None:
    data = b'{"choices":[],"usage":{"prompt_tokens":1'  # cut short: not JSON
    relay = OpenAIStreamRelay(client_wants_usage=False)
    assert relay.relay(Event(data)) == b"data: " + data + b"\n\n"
    assert relay.end.usage is None


ERROR = {"message": "The server had an error while processing your request.", "type": "server_error",
         "param": None, "code": "internal_error"}


def test_error_event_is_recorded_and_forwarded() -> None:
    events = load("openai_text")[:4] + [Event(orjson.dumps({"error": ERROR}))]
    relay = OpenAIStreamRelay(client_wants_usage=False)
    out_events = events_of(relay_all(relay, events))
    assert [e.data for e in out_events] == [e.data for e in events]
    assert relay.end.error == ERROR
    assert relay.end.done is False


def test_error_event_spread_over_several_data_lines_reaches_the_client_intact() -> None:
    raw = b'data: {"error": {\ndata:   "message": "Engine overloaded",\ndata:   "type": "server_error"\ndata: }}\n\n'
    (event,) = events_of(raw)
    relay = OpenAIStreamRelay(client_wants_usage=False)
    out = events_of(relay.relay(event))
    assert [e.data for e in out] == [event.data]
    assert relay.end.error == {"message": "Engine overloaded", "type": "server_error"}


def test_first_event_error() -> None:
    assert first_event_error(Event(orjson.dumps({"error": ERROR}))) == ERROR
    assert first_event_error(Event(b'{"error": {"message": "Rate limit reached", "code": "rate_limit_exceeded"}}')) == {
        "message": "Rate limit reached", "code": "rate_limit_exceeded",
    }
    for name in STREAMS:
        assert first_event_error(load(name)[0]) is None
    assert first_event_error(Event(b"[DONE]")) is None
    assert first_event_error(Event(b'{"error": "busy"}')) is None  # not an error object
    assert first_event_error(Event(b'{"error": {')) is None  # not JSON


@pytest.mark.parametrize("wants_usage", [True, False])
@pytest.mark.parametrize("name", STREAMS)
def test_whole_piece_fast_path_agrees_with_the_decoder(name: str, wants_usage: bool) -> None:
    raw = (FIXTURES / STREAMS[name]).read_bytes()
    assert whole_lf_events(raw)
    fast, slow = OpenAIStreamRelay(wants_usage), OpenAIStreamRelay(wants_usage)
    fast_out = fast.forward_piece(raw)
    slow_out = slow.forward(events_of(raw))
    assert fast_out is not None
    assert [e.data for e in events_of(fast_out)] == [e.data for e in events_of(slow_out)]
    assert fast.end == slow.end and USAGE[name].items() <= fast.end.usage.items()
    if wants_usage:
        assert fast_out == raw  # nothing changed: the upstream's bytes go out as they came


@pytest.mark.parametrize(
    "piece",
    [
        b'data: {"choices":[{"delta":{"content":"x"}}]}\n\ndata: [DONE]\n\ndata: {"late":1}\n\n',  # [DONE] not last
        b'data: {"error":{"message":"boom"}}\n\n',                                               # an error event
        b'data: {"choices":[],\ndata: "usage":{"prompt_tokens":1}}\n\n',                          # multi-line usage event
    ],
)
def test_fast_path_hands_unusual_pieces_to_the_decoder(piece: bytes) -> None:
    assert OpenAIStreamRelay(False).forward_piece(piece) is None


def test_fast_path_ignores_done_written_as_content() -> None:
    piece = b'data: {"choices":[{"delta":{"content":"data: [DONE]"}}]}\n\n'
    relay = OpenAIStreamRelay(False)
    assert relay.forward_piece(piece) in (None, piece)
    assert relay.end.done is False

"""providers/anthropic/stream.py: Messages events → chat chunks, fed through the gateway's own pump."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletionChunk

from relaygate.errors import UpstreamError, UpstreamProtocolError
from relaygate.ingress.streaming import TranslatedPump
from relaygate.providers.anthropic.stream import MessagesStreamTranslator
from relaygate.wire.sse import DONE, Event

FIXTURES = Path(__file__).parent / "fixtures" / "anthropic"


def translator(wants_usage: bool = False, json_mode: bool = False) -> MessagesStreamTranslator:
    return MessagesStreamTranslator("claude-sonnet-4-5", 1_750_000_000, wants_usage, json_mode)


def pump_all(pieces: list[bytes], t: MessagesStreamTranslator) -> bytes:
    """What the client is sent; like ingress/streaming.relay_stream, `close` only when not done."""
    pump = TranslatedPump(t)
    out = b"".join([pump.feed(piece) or b"" for piece in pieces])
    return out if pump.end.done else out + pump.close()


def chunks_of(sent: bytes) -> list[dict[str, Any]]:
    frames = [f for f in sent.split(b"\n\n") if f]
    assert frames[-1] + b"\n\n" == DONE
    return [orjson.loads(f.removeprefix(b"data: ")) for f in frames[:-1]]


def run(name: str, **options: Any) -> tuple[list[dict[str, Any]], MessagesStreamTranslator]:
    t = translator(**options)
    return chunks_of(pump_all([(FIXTURES / name).read_bytes()], t)), t


def final(chunks: list[dict[str, Any]]) -> Any:
    """The answer as the openai SDK assembles it from the chunks."""
    state = ChatCompletionStreamState()
    for chunk in chunks:
        state.handle_chunk(ChatCompletionChunk.model_validate(chunk))
    return state.get_final_completion()


def deltas(chunks: list[dict[str, Any]], field: str) -> list[Any]:
    return [c["choices"][0]["delta"][field] for c in chunks if c["choices"] and field in c["choices"][0]["delta"]]


def test_text_stream_role_first_then_text_then_finish_and_no_usage_unless_asked() -> None:
    chunks, t = run("stream_text.sse")
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert deltas(chunks, "content") == ["", "Kyoto is ", "in Japan — 京都."]
    assert chunks[-1]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    assert all(c["id"] == "msg_01StreamTextKyoto000001" and c["model"] == "claude-sonnet-4-5-20250929"
               and c["object"] == "chat.completion.chunk" and c["created"] == 1_750_000_000 for c in chunks)
    assert all("usage" not in c for c in chunks)
    assert t.end.done and t.end.usage == {
        "prompt_tokens": 25 + 1024, "completion_tokens": 9, "total_tokens": 25 + 1024 + 9,
        "prompt_tokens_details": {"cached_tokens": 1024, "cache_write_tokens": 0},
    }
    assert final(chunks).choices[0].message.content == "Kyoto is in Japan — 京都."


def test_usage_chunk_comes_last_with_no_choices_when_the_client_asked() -> None:
    chunks, t = run("stream_text.sse", wants_usage=True)
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == t.end.usage
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert sum(1 for c in chunks if "usage" in c) == 1


def test_thinking_and_parallel_tools_count_tool_indices_apart_from_block_indices() -> None:
    chunks, t = run("stream_thinking_parallel_tools.sse")
    headers = [call for d in deltas(chunks, "tool_calls") for call in d if "id" in call]
    assert [(h["index"], h["id"]) for h in headers] == [
        (0, "toolu_01StreamKyoto000000001"), (1, "toolu_01StreamOsaka000000002"),
    ]
    assert deltas(chunks, "reasoning_content") == ["Two cities,", " two lookups."]
    blocks = [
        {"index": 0, "type": "thinking", "thinking": "Two cities, two lookups.",
         "signature": "EqQBCkYIBxgCKkDfakeStreamSig0001"},
        {"index": 1, "type": "redacted_thinking", "data": "EmwKAhgBEgyRedactedStream0001"},
    ]
    assert deltas(chunks, "thinking_blocks") == [[blocks[0]], [blocks[1]]]
    completion = final(chunks)
    assert completion.choices[0].message.model_extra["thinking_blocks"] == blocks
    calls = completion.choices[0].message.tool_calls
    assert [orjson.loads(c.function.arguments) for c in calls] == [{"city": "Kyoto"}, {"city": "Osaka"}]
    assert completion.choices[0].message.content == "Checking both."
    assert completion.choices[0].finish_reason == "tool_calls"
    assert t.end.usage["completion_tokens"] == 133 and t.end.usage["prompt_tokens"] == 702


def test_json_mode_streams_the_tool_input_as_content() -> None:
    chunks, _ = run("stream_json_tool.sse", json_mode=True)
    assert not deltas(chunks, "tool_calls")
    assert orjson.loads("".join(deltas(chunks, "content"))) == {"city": "Kyoto", "founded": 794}
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_refusal_is_content_filter() -> None:
    chunks, _ = run("stream_refusal.sse")
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None, "content_filter"]


@pytest.mark.parametrize("name", ["stream_text.sse", "stream_thinking_parallel_tools.sse"])
def test_bytes_split_anywhere_give_the_same_chunks(name: str) -> None:
    data = (FIXTURES / name).read_bytes()
    whole = pump_all([data], translator(wants_usage=True))
    cuts = [*range(1, len(data), 7), data.index(b"\n\n") + 1, data.index(b"\n\n") + 2]
    if "京".encode() in data:
        cuts += [data.index("京".encode()) + 1, data.index("京".encode()) + 2]
    for cut in cuts:
        assert pump_all([data[:cut], data[cut:]], translator(wants_usage=True)) == whole, cut
    assert pump_all([data[i:i + 1] for i in range(len(data))], translator(wants_usage=True)) == whole


def test_crlf_framing_gives_the_same_chunks() -> None:
    data = (FIXTURES / "stream_text.sse").read_bytes()
    assert pump_all([data.replace(b"\n", b"\r\n")], translator()) == pump_all([data], translator())


def test_error_event_before_any_content_raises_and_nothing_was_sent() -> None:
    events = (FIXTURES / "stream_overloaded_after_start.sse").read_bytes().split(b"\n\n")
    pump = TranslatedPump(translator())
    sent = [pump.feed(e + b"\n\n") for e in events[:2]]
    assert sent == [b"", b""], "the role chunk must wait, so the stream is not committed yet"
    assert pump.feed(events[2] + b"\n\n") == b""  # the pump keeps the error for the relay to raise
    failure = pump.failure
    assert isinstance(failure, UpstreamError) and failure.status == 502 and failure.code == "overloaded_error"
    assert "Overloaded" in failure.message and failure.retryable
    assert pump.end.usage["prompt_tokens"] == 40 and not pump.end.done


def test_text_before_an_error_in_the_same_piece_is_still_sent() -> None:
    head = (FIXTURES / "stream_text.sse").read_bytes().split(b"\n\n")[:4]
    error = b'event: error\ndata: {"type":"error","error":{"type":"api_error","message":"Internal server error"}}'
    pump = TranslatedPump(translator())
    sent = pump.feed(b"\n\n".join([*head, error]) + b"\n\n")
    assert b"Kyoto is " in sent and isinstance(pump.failure, UpstreamError)


def test_error_event_mid_text_raises_after_the_text_went_out() -> None:
    t = translator()
    head = (FIXTURES / "stream_text.sse").read_bytes().split(b"\n\n")[:4]
    sent = pump_all([b"\n\n".join(head) + b"\n\n"], t)
    assert b"Kyoto is " in sent
    with pytest.raises(UpstreamError):
        t.translate(Event(b'{"type":"error","error":{"type":"api_error","message":"Internal server error"}}', "error"))


def test_end_of_stream_without_message_stop_is_not_done_but_metered() -> None:
    data = (FIXTURES / "stream_text.sse").read_bytes()
    t = translator(wants_usage=True)
    sent = pump_all([data[: data.index(b"event: message_stop")]], t)
    assert not t.end.done and not sent.endswith(DONE)
    assert t.end.usage["completion_tokens"] == 9
    assert b'"finish_reason":"stop"' not in sent


def test_unknown_events_and_delta_types_are_ignored_and_nothing_after_message_stop() -> None:
    t = translator()
    t.translate(Event(b'{"type":"message_start","message":{"id":"m","model":"c","usage":{"input_tokens":3}}}'))
    assert t.translate(Event(b'{"type":"message_annotation","x":1}', "message_annotation")) == []
    assert t.translate(Event(b'{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}')) == []
    citation = b'{"type":"content_block_delta","index":0,"delta":{"type":"citations_delta","citation":{}}}'
    assert t.translate(Event(citation)) == []
    assert t.translate(Event(b'{"type":"content_block_start","index":1,"content_block":{"type":"compaction"}}')) == []
    assert t.translate(Event(b'{"type":"content_block_delta","index":1,"delta":{"type":"compaction_delta"}}')) == []
    assert len(t.translate(Event(b'{"type":"message_stop"}'))) == 2
    assert t.translate(Event(b"not even json")) == []


def test_message_delta_usage_keeps_the_input_counts_it_leaves_out() -> None:
    t = translator()
    usage = b'{"input_tokens":30,"cache_read_input_tokens":5,"output_tokens":1}'
    t.translate(Event(b'{"type":"message_start","message":{"id":"m","usage":' + usage + b"}}"))
    t.translate(Event(b'{"type":"message_delta","delta":{"stop_reason":"max_tokens"},"usage":{"output_tokens":12}}'))
    assert t.end.usage == {"prompt_tokens": 35, "completion_tokens": 12, "total_tokens": 47,
                           "prompt_tokens_details": {"cached_tokens": 5, "cache_write_tokens": 0}}
    finish = orjson.loads(t.translate(Event(b'{"type":"message_stop"}'))[-1])
    assert finish["choices"][0]["finish_reason"] == "length"


START = b'{"type":"message_start","message":{"id":"m","usage":{}}}'


@pytest.mark.parametrize(
    "events",
    [
        [b"{not json"],
        [b"[1, 2]"],
        [b'{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}'],
        [b'{"type":"message_stop"}'],
        [b'{"type":"message_start"}'],
        [START, b'{"type":"content_block_delta","index":5,"delta":{"type":"text_delta","text":"x"}}'],
        [START, b'{"type":"content_block_start","content_block":{"type":"text"}}'],
        [START, b'{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}',
         b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":null}}'],
        [START, b'{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","name":"f"}}'],
        [START, b'{"type":"content_block_start","index":0,"content_block":{"type":"redacted_thinking"}}'],
        [START, b'{"type":"message_delta","delta":{},"usage":{"output_tokens":"many"}}'],
    ],
)
def test_malformed_streams_are_a_clear_502(events: list[bytes]) -> None:
    t = translator()
    with pytest.raises(UpstreamProtocolError) as caught:
        for data in events:
            t.translate(Event(data))
    assert caught.value.status == 502 and "Anthropic" in caught.value.message


@pytest.mark.parametrize("name", ["stream_text.sse", "stream_thinking_parallel_tools.sse"])
def test_pings_anywhere_change_nothing(name: str) -> None:
    """A ping, as Anthropic writes it or compact, before message_start, between any two events, or
    after message_stop, sends nothing and leaves the translation as it was."""
    data = (FIXTURES / name).read_bytes()
    events = [e + b"\n\n" for e in data.split(b"\n\n") if e.strip()]
    plain = [e for e in events if b"event: ping" not in e]
    whole = pump_all([b"".join(plain)], translator(wants_usage=True))
    for ping in (b'event: ping\ndata: {"type": "ping"}\n\n', b'data: {"type":"ping"}\n\n'):
        for at in range(len(plain) + 1):
            pinged = [*plain[:at], ping, *plain[at:]]
            assert pump_all([b"".join(pinged)], translator(wants_usage=True)) == whole, (ping, at)
            if at < len(plain):  # a piece of its own (after message_stop the relay reads no more pieces)
                assert pump_all(pinged, translator(wants_usage=True)) == whole, (ping, at)


def test_a_ping_that_is_not_json_is_still_a_clear_502() -> None:
    with pytest.raises(UpstreamProtocolError):
        translator().translate(Event(b'{"type": "ping"', "ping"))

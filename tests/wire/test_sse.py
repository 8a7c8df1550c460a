"""wire/sse.py: the incremental decoder must give the same events however the bytes are cut.

See https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relaygate.wire.sse import DONE, Event, SSEDecoder, encode

FIXTURES = Path(__file__).parent.parent / "providers" / "fixtures"
DASHSCOPE_STREAM = (FIXTURES / "dashscope" / "stream_qwen_plus_thinking_include_usage.sse").read_bytes()
OPENAI_STREAM = (FIXTURES / "openai" / "stream_text_include_usage.sse").read_bytes()
DEEPSEEK_STREAM = (FIXTURES / "deepseek" / "stream_reasoner.sse").read_bytes()

# A small stream with everything awkward: multi-byte characters (3 and 4 bytes), a named event with
# an id, a comment, multi-line data, and an empty data field.
MIXED = (
    ": keep-alive\n"
    "\n"
    'data: {"content":"富士山 🗻"}\n'
    "\n"
    "event: ping\n"
    "id: 42\n"
    "data: 一行目\n"
    "data: second line\n"
    "\n"
    "data:\n"
    "\n"
    "data: [DONE]\n"
    "\n"
).encode()
MIXED_EVENTS = [
    Event('{"content":"富士山 🗻"}'.encode()),
    Event("一行目\nsecond line".encode(), "ping", "42"),
    Event(b"", None, "42"),  # the last event id persists, as the spec says
    Event(b"[DONE]", None, "42"),
]


def decode(pieces: list[bytes]) -> list[Event]:
    decoder = SSEDecoder()
    events: list[Event] = []
    for piece in pieces:
        events += decoder.feed(piece)
    return events + decoder.flush()


def data_lines(stream: bytes) -> list[bytes]:
    """The expected payloads of a single-line-data stream, read without the decoder."""
    return [line[6:] for line in stream.split(b"\n") if line.startswith(b"data: ")]


def with_line_ends(stream: bytes, eol: bytes) -> bytes:
    return stream.replace(b"\n", eol)


def cut(stream: bytes, offsets: list[int]) -> list[bytes]:
    bounds = [0, *sorted(set(offsets)), len(stream)]
    return [stream[a:b] for a, b in zip(bounds, bounds[1:]) if b > a]


EOLS = pytest.mark.parametrize("eol", [b"\n", b"\r", b"\r\n"], ids=["LF", "CR", "CRLF"])


@EOLS
def test_mixed_stream_fed_whole(eol: bytes) -> None:
    assert decode([with_line_ends(MIXED, eol)]) == MIXED_EVENTS


@EOLS
def test_mixed_stream_split_at_every_offset(eol: bytes) -> None:
    stream = with_line_ends(MIXED, eol)
    for i in range(len(stream) + 1):
        assert decode([stream[:i], stream[i:]]) == MIXED_EVENTS, f"split at byte {i}"


@EOLS
def test_mixed_stream_fed_one_byte_at_a_time(eol: bytes) -> None:
    stream = with_line_ends(MIXED, eol)
    assert decode([stream[i : i + 1] for i in range(len(stream))]) == MIXED_EVENTS


def test_mixed_stream_split_at_every_pair_of_offsets() -> None:
    stream = with_line_ends(MIXED, b"\r\n")
    for i in range(1, len(stream)):
        for j in range(i + 1, len(stream), 7):
            assert decode([stream[:i], stream[i:j], stream[j:]]) == MIXED_EVENTS, f"split at {i} and {j}"


def test_split_inside_a_multibyte_character() -> None:
    stream = "data: 🗻\n\n".encode()
    start = stream.index("🗻".encode())
    for i in range(start + 1, start + 4):  # inside the four bytes of U+1F5FB
        events = decode([stream[:i], stream[i:]])
        assert events == [Event("🗻".encode())]
        assert events[0].data.decode() == "🗻"


def test_split_inside_a_multibyte_event_name() -> None:
    stream = "event: 思考\ndata: x\n\n".encode()
    for i in range(len(stream) + 1):
        assert decode([stream[:i], stream[i:]]) == [Event(b"x", "思考")]


def test_split_between_cr_and_lf_is_one_line_end() -> None:
    # Were the LF taken for a second line end, the blank line would dispatch "a" and "b" separately.
    assert decode([b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"]) == [Event(b"a\nb")]


def test_cr_then_crlf_is_two_line_ends() -> None:
    assert decode([b"data: a\r", b"\r\n"]) == [Event(b"a")]


def test_mixed_line_ends_in_one_stream() -> None:
    assert decode([b"data: a\rdata: b\r\n\ndata: c\n\r"]) == [Event(b"a\nb"), Event(b"c")]


def test_empty_pieces_change_nothing() -> None:
    # A transport may hand over an empty read; it must not forget a CR waiting for its LF.
    assert decode([b"data: a\r", b"", b"\ndata: b\n", b"", b"\n"]) == [Event(b"a\nb")]


def test_multi_line_data_joined_with_lf() -> None:
    assert decode([b"data: {\ndata:   \"a\": 1\ndata: }\n\n"]) == [Event(b'{\n  "a": 1\n}')]


def test_field_value_space_handling() -> None:
    # Only one leading space is stripped; no colon means an empty value.
    assert decode([b"data:x\n\n", b"data:  x\n\n", b"data\n\n"]) == [Event(b"x"), Event(b" x"), Event(b"")]


def test_comments_and_keep_alives_are_not_events() -> None:
    assert decode([b": keep-alive\n\n:\n\n: ping 2024-01-01\n\n"]) == []
    assert decode([b"data: a\n: comment inside an event\ndata: b\n\n"]) == [Event(b"a\nb")]


def test_unknown_fields_and_retry_are_ignored() -> None:
    assert decode([b"retry: 3000\nfoo: bar\ndata: x\n\n"]) == [Event(b"x")]


def test_event_and_id_fields() -> None:
    events = decode([b"event: message_start\nid: 7\ndata: {}\n\nevent: ping\ndata: {}\n\ndata: [DONE]\n\n"])
    assert events == [Event(b"{}", "message_start", "7"), Event(b"{}", "ping", "7"), Event(b"[DONE]", None, "7")]


def test_event_name_without_data_is_discarded() -> None:
    # A blank line with an empty data buffer dispatches nothing and resets the event type.
    assert decode([b"event: ping\n\ndata: x\n\n"]) == [Event(b"x")]


def test_id_with_nul_is_ignored() -> None:
    assert decode([b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n"]) == [Event(b"a", None, "1"), Event(b"b", None, "1")]


def test_unterminated_last_event_is_not_dispatched() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: complete\n\ndata: cut off") == [Event(b"complete")]
    assert decoder.flush() == []
    decoder = SSEDecoder()
    assert decoder.feed(b"data: complete\n\ndata: cut off\n") == [Event(b"complete")]
    assert decoder.flush() == []


def test_event_is_returned_as_soon_as_its_blank_line_arrives() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n") == []
    assert decoder.feed(b"\n") == [Event(b"a")]
    assert decoder.feed(b"data: b\n\ndata: c") == [Event(b"b")]
    assert decoder.feed(b"\n\n") == [Event(b"c")]


@pytest.mark.parametrize(
    "stream", [DASHSCOPE_STREAM, OPENAI_STREAM, DEEPSEEK_STREAM], ids=["dashscope", "openai", "deepseek"]
)
def test_realistic_stream_fed_whole(stream: bytes) -> None:
    events = decode([stream])
    assert [e.data for e in events] == data_lines(stream)
    assert events[-1].data == b"[DONE]"
    assert all(e.event is None and e.id is None for e in events)


@pytest.mark.parametrize("stream", [DASHSCOPE_STREAM, OPENAI_STREAM], ids=["dashscope", "openai"])
def test_realistic_stream_split_at_every_offset(stream: bytes) -> None:
    whole = decode([stream])
    for i in range(len(stream) + 1):
        assert decode([stream[:i], stream[i:]]) == whole, f"split at byte {i}"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    stream=st.sampled_from([DASHSCOPE_STREAM, OPENAI_STREAM, DEEPSEEK_STREAM]),
    eol=st.sampled_from([b"\n", b"\r", b"\r\n"]),
    data=st.data(),
)
def test_realistic_stream_in_random_pieces(stream: bytes, eol: bytes, data: st.DataObject) -> None:
    stream = with_line_ends(stream, eol)
    offsets = data.draw(st.lists(st.integers(0, len(stream)), max_size=60))
    expected = [Event(d) for d in data_lines(stream.replace(b"\r\n", b"\n").replace(b"\r", b"\n"))]
    assert decode(cut(stream, offsets)) == decode([stream]) == expected


@settings(max_examples=200, deadline=None)
@given(eol=st.sampled_from([b"\n", b"\r", b"\r\n"]), data=st.data())
def test_mixed_stream_in_random_pieces(eol: bytes, data: st.DataObject) -> None:
    stream = with_line_ends(MIXED, eol)
    offsets = data.draw(st.lists(st.integers(0, len(stream)), max_size=len(stream)))
    assert decode(cut(stream, offsets)) == MIXED_EVENTS


def test_encode_single_line() -> None:
    assert encode(b'{"a":1}') == b'data: {"a":1}\n\n'
    assert encode(b'{"a":1}', "ping") == b'event: ping\ndata: {"a":1}\n\n'


def test_encode_multi_line_data_becomes_several_data_lines() -> None:
    assert encode(b"a\nb") == b"data: a\ndata: b\n\n"
    assert decode([encode(b'{\n  "a": 1\n}', "x")]) == [Event(b'{\n  "a": 1\n}', "x")]


def test_encode_keeps_trailing_line_feed() -> None:
    # "a\n" is two lines of data, "a" and "": the second must survive the round trip.
    assert decode([encode(b"a\n")]) == [Event(b"a\n")]


def test_done_constant() -> None:
    assert decode([DONE]) == [Event(b"[DONE]")]


@settings(max_examples=300, deadline=None)
@given(
    payload=st.binary(max_size=200).filter(lambda b: b"\r" not in b),
    event=st.none() | st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\0"), min_size=1),
)
def test_encode_round_trip(payload: bytes, event: str | None) -> None:
    # CR cannot survive (SSE normalises line ends); every other byte must.
    assert decode([encode(payload, event)]) == [Event(payload, event)]


def test_named_events_fed_whole_match_the_line_by_line_decoder() -> None:
    # Anthropic frames every event as a name line and a data line; whole pieces take a fast path.
    stream = (b'event: message_start\ndata: {"a": 1}   \n\nevent: ping\ndata: \n\nevent: x\ndata: 1\ndata: 2\n\n'
              b"event: y\nid: 7\ndata: z\n\nevent:  spaced:name\ndata: q\n\n")
    whole = decode([stream])
    assert whole == decode([stream[i : i + 1] for i in range(len(stream))])
    assert [(e.event, e.data, e.id) for e in whole] == [
        ("message_start", b'{"a": 1}   ', None), ("ping", b"", None), ("x", b"1\n2", None), ("y", b"z", "7"),
        (" spaced:name", b"q", "7"),
    ]

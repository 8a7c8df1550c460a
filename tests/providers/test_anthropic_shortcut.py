"""providers/anthropic/shortcut.py: the open block's deltas by their bytes, and every way back to
the full parse. The chunks must be byte for byte the ones the full parse makes."""

from __future__ import annotations

import json
import os

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relaygate.errors import UpstreamProtocolError
from relaygate.ingress.streaming import TranslatedPump
from relaygate.providers.anthropic.shortcut import DeltaShortcut
from relaygate.providers.anthropic.stream import MessagesStreamTranslator
from relaygate.speedups import PURE_ENV, native
from relaygate.wire.sse import Event

START = b'{"type":"message_start","message":{"id":"msg_01Short","model":"claude-x","usage":{"input_tokens":3}}}'
TEXT_BLOCK = b'{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}'
TEXTS = [
    "plain", "", " \"quoted\" and \\ back", "lines\nand\ttabs\r", "\b\f", "control \x01\x1f", "naïve 京都 😀",
    "\u2028 separators \u2029", "</script>", "{\"partial\": [1, ",
]


def translator() -> MessagesStreamTranslator:
    return MessagesStreamTranslator("claude-x", 1_750_000_000, False, False)


def text_delta(text: str, compact: bool = True, index: int = 0) -> bytes:
    """A text delta as Anthropic writes it, or (compact=False) as Python's json writes it, with
    spaces the shortcut does not take: the same event through the full parse."""
    event = {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": text}}
    return orjson.dumps(event) if compact else json.dumps(event).encode()


def started(*extra: bytes) -> MessagesStreamTranslator:
    t = translator()
    for data in (START, TEXT_BLOCK, text_delta("open"), *extra):
        t.translate(Event(data))
    return t


def test_shortcut_takes_the_compact_delta_and_only_that() -> None:
    shortcut = started().shortcut
    assert shortcut is not None
    assert shortcut.chunks(text_delta("hi")) is not None
    assert shortcut.chunks(text_delta("hi") + b"   ") is not None  # the padding the real API sends
    for other in [
        text_delta("hi", compact=False), text_delta("hi", index=1), text_delta("hi") + b",", text_delta("hi")[:-1],
        b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a","x":1}}',
        b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":null}}',
        b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a"b"}}',
        b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"\xff"}}',
        b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a"}}\x0c',
        b'{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"a"}}',
        b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":}}',
    ]:
        assert shortcut.chunks(other) is None, other


@pytest.mark.parametrize("text", TEXTS)
def test_chunks_are_the_bytes_the_full_parse_makes(text: str) -> None:
    fast, full = started(), started()
    assert fast.translate(Event(text_delta(text))) == full.translate(Event(text_delta(text, compact=False)))
    sent = fast.translate(Event(text_delta(text)))
    assert [orjson.loads(c)["choices"][0]["delta"] for c in sent] == ([{"content": text}] if text else [])


def test_escapes_anthropic_may_use_come_out_as_the_full_parse_writes_them() -> None:
    data = b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"caf\\u00e9 \\/ \\u001f"}}'
    fast, full = started(), started()
    [chunk] = fast.translate(Event(data))
    assert chunk == full.translate(Event(data.replace(b'"index":0', b'"index": 0')))[0]
    assert b'"content":"caf\xc3\xa9 / \\u001f"' in chunk


def test_the_first_delta_still_opens_with_the_role_chunk() -> None:
    t = translator()
    t.translate(Event(START))
    t.translate(Event(TEXT_BLOCK))
    first = t.translate(Event(text_delta("Hello")))
    assert [orjson.loads(c)["choices"][0]["delta"] for c in first] == [{"role": "assistant", "content": ""},
                                                                       {"content": "Hello"}]


def test_tool_arguments_thinking_and_json_mode_take_their_own_shortcut() -> None:
    t = translator()
    for data in [START, b'{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}',
                 b'{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Hmm, "}}',
                 b'{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"yes."}}',
                 b'{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"c2ln"}}']:
        t.translate(Event(data))
    [thinking] = t.translate(Event(b'{"type":"content_block_stop","index":0}'))
    assert orjson.loads(thinking)["choices"][0]["delta"]["thinking_blocks"] == [
        {"index": 0, "type": "thinking", "thinking": "Hmm, yes.", "signature": "c2ln"}]
    t.translate(Event(b'{"type":"content_block_start","index":1,"content_block":'
                      b'{"type":"tool_use","id":"toolu_1","name":"weather","input":{}}}'))
    assert t.translate(Event(b'{"type":"content_block_delta","index":1,"delta":'
                             b'{"type":"input_json_delta","partial_json":""}}')) == []
    [piece] = t.translate(Event(b'{"type":"content_block_delta","index":1,"delta":'
                                b'{"type":"input_json_delta","partial_json":"{\\"city\\": \\"Kyoto\\"}"}}'))
    assert piece == t.writer.delta({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": "Kyoto"}'}}]})


def test_a_delta_for_an_earlier_block_goes_the_full_way() -> None:
    t = started(b'{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}')
    [chunk] = t.translate(Event(text_delta("late", index=0)))
    assert orjson.loads(chunk)["choices"][0]["delta"] == {"content": "late"}


@pytest.mark.parametrize("data", [
    b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"cut',
    b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"\xff\xfe"}}',
    b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":7}}',
])
def test_a_malformed_delta_in_the_usual_shape_is_still_a_clear_502(data: bytes) -> None:
    pump = TranslatedPump(started())
    sent = pump.feed(b"event: content_block_delta\ndata: " + text_delta("before") + b"\n\n"
                     b"event: content_block_delta\ndata: " + data + b"\n\n")
    assert b'"content":"before"' in sent
    assert isinstance(pump.failure, UpstreamProtocolError) and pump.failure.status == 502
    assert "Anthropic" in pump.failure.message


def test_shortcut_made_by_hand() -> None:
    shortcut = DeltaShortcut.of(3, "text_delta", "text", b"<", b">")
    assert shortcut.prefix == b'{"type":"content_block_delta","index":3,"delta":{"type":"text_delta","text":"'
    assert shortcut.chunks(shortcut.prefix + b'x\\ty"}}') == [b'<"x\\ty">']
    assert shortcut.chunks(shortcut.prefix + b'"}}') == []
    event = b"data: " + shortcut.prefix + b'x"}}'
    assert shortcut.chunk(event, len(event)) == b'data: <"x">\n\n'
    assert shortcut.chunk(event + b"\n\n", len(event)) == b'data: <"x">\n\n'
    event = b"event: content_block_delta\ndata: " + shortcut.prefix + b'"}}'
    assert shortcut.chunk(event, len(event)) == b""
    assert shortcut.chunk(event + b"\n", len(event) + 1) is None


def test_a_second_message_start_renames_the_chunks_the_shortcut_writes() -> None:
    t = started(b'{"type":"message_start","message":{"id":"msg_02Again","model":"claude-y","usage":{}}}')
    [chunk] = t.translate(Event(text_delta("again")))
    assert (orjson.loads(chunk)["id"], orjson.loads(chunk)["model"]) == ("msg_02Again", "claude-y")


# `fast`, the C module's form of `chunk` where it is built (speedups.py): the same answer for any event.
PIECES = st.one_of(
    st.text().map(lambda t: orjson.dumps(t)[1:-1]),  # a string's JSON, escapes and all
    st.text().map(lambda t: json.dumps(t)[1:-1].encode()),  # all but ASCII escaped, surrogate pairs too
    st.sampled_from([b"\\/", b"\\u00E9", b"\\u00e9", b"\\uD83D\\uDE00", b"\\uDE00", b"\\uD83Dx", b"\\uD83D", b"\\x",
                     b"\\u001F", b"\\u0000", b"\\u0022", b"\\u005c", b"\\u007f", b"\\u2028", b"\\b\\f"]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",))).map(str.encode),  # raw: quotes, controls
    st.binary(max_size=12),  # anything, UTF-8 or not
    st.sampled_from([b'"', b"\\", b"\\u", b"\\ud800", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"\xe2\x82",
                     b"\x7f", b"\x00", b"}}", b'"}}', "é".encode(), "😀".encode()]),
)


@settings(max_examples=600, deadline=None)
@given(st.lists(PIECES, max_size=4).map(b"".join), st.sampled_from(["named", "bare", "stop", "other"]),
       st.sampled_from([b'"}}', b'"}}\n\n', b'"}', b'"}} ', b"}}", b""]), st.booleans(), st.booleans())
def test_fast_answers_every_event_as_chunk_does(text: bytes, framing: str, ending: bytes, stops: bool,
                                                 cut: bool) -> None:
    shortcut = DeltaShortcut.of(0, "text_delta", "text", b'{"head":', b',"tail":1}', stops=stops)
    keeping = DeltaShortcut.of(0, "text_delta", "text", b'{"head":', b',"tail":1}', kept=[])
    checking = DeltaShortcut.of(0, "text_delta", "text", b'{"head":', b',"tail":1}', kept=[])
    start = {"named": shortcut.named, "bare": shortcut.bare, "other": b"data: {}",
             "stop": b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}'}[framing]
    piece = start + (b"" if framing == "stop" else text + ending)
    blank = piece.endswith(b"\n\n")
    end = len(piece) - 2 if blank else len(piece)
    if cut:  # `end` short of the piece, as for an event followed by others
        end = max(0, end - len(ending))
    fast, run = shortcut.fast()
    answer = shortcut.chunk(piece, end)
    assert fast(piece, end) == answer
    assert keeping.fast()[0](piece, end) == checking.chunk(piece, end)  # a thinking block's: each piece kept
    assert keeping.kept == checking.kept
    if run is not None and end == len(piece) - 2 and piece.endswith(b"\n\n"):  # one whole event
        sent, pos, count = run(piece, 0, b"\n\n")
        # taken when `fast` answers by itself (a plain delta, an empty one, the stop); else left to it
        assert (sent, pos, count) in [(answer, len(piece), 1), (b"", 0, 0)]


def test_fast_is_the_c_module_where_it_is_built() -> None:
    """The suite runs where a compiler is (make install builds the module), and once with RELAYGATE_PURE=1."""
    plain = DeltaShortcut.of(0, "text_delta", "text", b"<", b">", stops=True)
    kept = DeltaShortcut.of(0, "thinking_delta", "thinking", b"<", b">", kept=[])
    fast, run = plain.fast()
    if os.environ.get(PURE_ENV):
        assert native is None and (fast, run) == (plain.chunk, None)
        return
    assert native is not None and isinstance(fast, native.DeltaChunk)
    keeping, _ = kept.fast()
    for literal in [b"Hmm, ", b"", "京都".encode(), b'a \\"b\\"']:  # the last with escapes: decoded by `chunk`
        event = kept.named + literal + b'"}}'
        keeping(event, len(event))
    assert kept.kept == ["Hmm, ", "", "京都", 'a "b"']
    event = plain.named + b'caf\xc3\xa9 "}}'
    assert fast(event, len(event)) == b'data: <"caf\xc3\xa9 ">\n\n'
    escaped = plain.named + b'a\\nb \\u00e9\\/\\ud83d\\ude00 \\u001F"}}'  # written as orjson writes it
    assert fast(escaped, len(escaped)) == 'data: <"a\\nb é/😀 \\u001f">\n\n'.encode()
    odd = plain.named + b'a\\ud800"}}'  # a lone surrogate: the C module hands it to `chunk`, which declines it
    assert fast(odd, len(odd)) is None
    empty, stop = plain.named + b'"}}', plain.stop or b""
    piece = b"\n\n".join([event, empty, escaped, stop, odd, event, b""])
    assert run(piece, 0, b"\n\n") == (b'data: <"caf\xc3\xa9 ">\n\n' + fast(escaped, len(escaped)), piece.index(odd), 4)
    assert run(piece, piece.index(odd), b"\n\n") == (b"", piece.index(odd), 0)
    assert run(piece, len(piece) - len(event) - 2, b"\n\n") == (b'data: <"caf\xc3\xa9 ">\n\n', len(piece), 1)
    assert run(piece[:-1], len(piece) - len(event) - 2, b"\n\n")[2] == 0  # no blank line: not whole


@pytest.mark.parametrize("literal", [
    b"\\/", b"\\u00E9\\u00e9", b"\\uD83D\\uDE00", b"\\ud83d\\ude00x", b"\\uD83D\\u00e9", b"\\uD83D\\uD83D", b"\\uD83D",
    b"\\uD83Dx", b"\\uDE00", b"\\uDE00\\uD83D", b"\\u001F\\u0000\\u0008\\u0009\\u000a\\u000C\\u000d\\u000b",
    b"\\u0022\\u005c\\u005C\\u007f\\u2028", b"\\b\\f\\n\\r\\t\\\"\\\\", b"\\x", b"\\u12", b"\\u12G4", b"\\", b"a\\",
    b"\\u0041\\u00", "é\\n京".encode(), b"\xc3\\n", b"\\n\x01",
])
def test_escapes_are_answered_as_chunk_answers_them(literal: bytes) -> None:
    shortcut = DeltaShortcut.of(0, "text_delta", "text", b"<", b">")
    fast, run = shortcut.fast()
    event = shortcut.named + literal + b'"}}'
    answer = shortcut.chunk(event, len(event))
    assert fast(event, len(event)) == answer
    if run is not None:
        piece = event + b"\n\n"
        assert run(piece, 0, b"\n\n") in [(answer, len(piece), 1), (b"", 0, 0)]

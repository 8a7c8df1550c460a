"""providers/anthropic/shortcut.py `chunk`: the pump cuts a piece of whole events at its blank lines,
and the open block's deltas go from the upstream's bytes to chat chunks without the SSE decoder. What
the client is sent must be byte for byte what the decoder and the full parse send, whatever the
pieces hold and wherever they are cut."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relaygate.ingress.streaming import TranslatedPump
from relaygate.providers.anthropic.json_mode import JSON_TOOL
from relaygate.providers.anthropic import shortcut as shortcut_module
from relaygate.providers.anthropic.stream import MessagesStreamTranslator

FIXTURES = Path(__file__).parent / "fixtures" / "anthropic"
TEXTS = [
    "plain", "", " \"quoted\" and \\ back", "lines\nand\ttabs\r", "\b\f", "control \x01\x1f\x7f", "naïve 京都 😀",
    "\u2028 separators \u2029", "</script> / \\/", "{\"partial\": [1, ", "\\u00e9 written out", "  ", "}}",
    '"}}', "\n\n", "event: content_block_delta\ndata: x",
]
START = {"type": "message_start", "message": {"id": "msg_01Frames", "model": "claude-x", "role": "assistant",
                                               "content": [], "usage": {"input_tokens": 3, "output_tokens": 1}}}
END = [{"type": "content_block_stop", "index": 0},
       {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 9}},
       {"type": "message_stop"}]


def sse(event: dict[str, Any], named: bool = True, dumps: Any = orjson.dumps) -> bytes:
    head = b"event: " + event["type"].encode() + b"\n" if named else b""
    return head + b"data: " + dumps(event) + b"\n\n"


def delta(index: int, kind: str, field: str, value: str) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": {"type": kind, field: value}}


def text_stream(texts: list[str], named: bool = True) -> list[bytes]:
    """One piece per event: the start, a text block, a delta per text, the end."""
    block = {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    events = [START, block, *[delta(0, "text_delta", "text", t) for t in texts], *END]
    return [sse(e, named) for e in events]


def translator(json_mode: bool = False) -> MessagesStreamTranslator:
    return MessagesStreamTranslator("claude-x", 1_750_000_000, True, json_mode)


def sent(pieces: list[bytes], t: MessagesStreamTranslator | None = None) -> bytes:
    pump = TranslatedPump(t or translator())
    out = b"".join([pump.feed(piece) or b"" for piece in pieces])
    return out if pump.end.done else out + pump.close()


def decoded(pieces: list[bytes], t: MessagesStreamTranslator | None = None) -> bytes:
    """The same stream a byte at a time: the decoder always holds part of an event, so nothing
    takes `chunk`, and every event goes through the decoder and `translate`."""
    data = b"".join(pieces)
    return sent([data[i:i + 1] for i in range(len(data))], t)


def counting_full_parses(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Records the data of each event the full parse (`_translate`) reads: the events that took no shortcut."""
    parsed: list[bytes] = []
    real = MessagesStreamTranslator._translate

    def full(self: MessagesStreamTranslator, event: Any) -> list[bytes]:
        parsed.append(event.data)
        return real(self, event)

    monkeypatch.setattr(MessagesStreamTranslator, "_translate", full)
    return parsed


@pytest.mark.parametrize("named", [True, False])
def test_every_text_comes_out_as_the_decoder_and_full_parse_write_it(
    named: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    pieces = text_stream(["Open", *TEXTS], named)
    parsed = counting_full_parses(monkeypatch)
    out = sent(pieces)
    # every delta takes a shortcut (`chunk`, or `chunks` for the first, which also sends the role chunk);
    # the block's stop too with its `event:` line
    assert [orjson.loads(p)["type"] for p in parsed] == [
        "message_start", "content_block_start", *([] if named else ["content_block_stop"]), "message_delta",
        "message_stop"]
    assert out == decoded(pieces)
    spaced = [sse(orjson.loads(p.split(b"data: ", 1)[1]), named, lambda e: json.dumps(e).encode()) for p in pieces]
    assert out == decoded(spaced)  # spaced JSON never matches a shortcut: the full parse, event by event
    contents = [orjson.loads(f[6:])["choices"][0]["delta"].get("content") for f in out.split(b"\n\n")[:-3] if f]
    assert contents == ["", "Open", *[t for t in TEXTS if t], None]


def test_escapes_are_written_as_the_full_parse_writes_them() -> None:
    raw = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":' \
          b'{"type":"text_delta","text":"caf\\u00e9 \\/ \\u001f \\ud83d\\ude00 \\"q\\""}}\n\n'
    pieces = [*text_stream(["Open"])[:3], raw, raw, *text_stream([])[2:]]
    out = sent(pieces)
    assert out == decoded(pieces)
    assert out.count('"content":"café / \\u001f 😀 \\"q\\""'.encode()) == 2


def test_several_deltas_in_one_piece_and_any_cut_between_or_inside_events() -> None:
    pieces = text_stream(["Open", *TEXTS])
    whole = sent(pieces)
    data = b"".join(pieces)
    body = b"".join(pieces[3:-3])  # every delta after the first, in one piece
    assert sent([*pieces[:3], body, *pieces[-3:]]) == whole
    assert sent([*pieces[:3], body + pieces[-3], *pieces[-2:]]) == whole  # and a block stop: the decoder's
    for cut in range(0, len(data), 5):
        assert sent([data[:cut], data[cut:]]) == whole, cut


def test_crlf_and_padded_events_take_the_decoder_and_give_the_same_chunks() -> None:
    pieces = text_stream(["Open", "a", "b \"c\""])
    whole = sent(pieces)
    assert sent([p.replace(b"\n", b"\r\n") for p in pieces]) == whole
    assert sent([p.replace(b"}}\n\n", b"}}   \n\n") for p in pieces]) == whole


@pytest.mark.parametrize("event", [
    b'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a","x":"b"}}',
    b'data: {"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"a"}}',
    b'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"\xff"}}',
    b'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a"}}\n',
    b'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a"}}\r',
    b'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a\tb"}}',
    b'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a"}}\ndata: {"type":"ping"}',
    (b'event: content_block_delta\nid: 7\ndata: {"type":"content_block_delta","index":0,"delta":'
     b'{"type":"text_delta","text":"a"}}'),
    b'event: content_block_delta\r\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a"}}',
    b'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a\ndata: b"}}',
    b'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"}}',
    b'data:{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a"}}',
    b": comment",
    b"",
])
def test_chunk_declines_anything_else_and_changes_nothing(event: bytes) -> None:
    t = translator()
    for p in text_stream(["Open"])[:3]:
        TranslatedPump(t).feed(p)
    assert t.fast is not None
    assert t.fast(event, len(event)) is None


def test_comments_alone_are_no_event_and_a_piece_of_them_sends_nothing() -> None:
    pump = TranslatedPump(translator())
    for p in text_stream(["Open"])[:3]:
        pump.feed(p)
    assert pump.feed(b": keep-alive\n\n") is None
    assert pump.feed(b": keep-alive\n\n: again\n\n") is None
    assert pump.feed(b"event: ping\ndata: {\"type\": \"ping\"}\n\n") == b""


def test_thinking_keeps_every_piece_once_even_when_a_piece_is_declined_halfway() -> None:
    thinking = {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}}
    deltas = [sse(delta(0, "thinking_delta", "thinking", t)) for t in ["Hmm, ", "so ", "\"yes\"", "", "."]]
    signature = sse(delta(0, "signature_delta", "signature", "c2ln"))
    pieces = [sse(START), sse(thinking), deltas[0], b"".join(deltas[1:3]), deltas[3] + signature, deltas[4],
              *[sse(e) for e in END]]
    out = sent(pieces)
    assert out == decoded(pieces)
    blocks = [orjson.loads(f[6:])["choices"][0]["delta"] for f in out.split(b"\n\n") if b"thinking_blocks" in f]
    assert blocks == [{"thinking_blocks": [{"index": 0, "type": "thinking", "thinking": 'Hmm, so "yes".',
                                            "signature": "c2ln"}]}]


@pytest.mark.parametrize("json_mode", [False, True])
def test_tool_arguments_and_json_mode_content(json_mode: bool) -> None:
    tool = {"type": "content_block_start", "index": 1,
            "content_block": {"type": "tool_use", "id": "toolu_1", "name": JSON_TOOL if json_mode else "weather",
                              "input": {}}}
    text = {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    args = [sse(delta(1, "input_json_delta", "partial_json", p)) for p in ['{"city": ', '"Kyō\\"to"', "", "}"]]
    pieces = [sse(START), sse(text), sse(delta(0, "text_delta", "text", "x")), sse({"type": "content_block_stop",
              "index": 0}), sse(tool), *args, b"".join(args), *[sse(e) for e in END]]
    out = sent(pieces, translator(json_mode))
    assert out == decoded(pieces, translator(json_mode))
    assert out.count(b'"content":"{\\"city\\": "' if json_mode else b'"arguments":"{\\"city\\": "') == 2


def test_the_recorded_streams_cut_at_every_event_give_the_same_bytes() -> None:
    for name in ["stream_text.sse", "stream_thinking_parallel_tools.sse", "stream_json_tool.sse"]:
        data = (FIXTURES / name).read_bytes()
        events = [e + b"\n\n" for e in data.split(b"\n\n") if e]
        assert sent(events) == decoded(events) == sent([data]), name


def test_after_message_stop_nothing_takes_chunk() -> None:
    t = translator()
    pump = TranslatedPump(t)
    for p in text_stream(["Open", "a"]):
        pump.feed(p)
    assert pump.end.done and t.fast is None


def test_a_blocks_stop_is_taken_by_its_bytes_unless_it_sends_the_thinking_block() -> None:
    t = translator()
    for p in text_stream(["Open"])[:3]:
        TranslatedPump(t).feed(p)
    stop = sse({"type": "content_block_stop", "index": 0})[:-2]
    assert t.fast is not None
    assert t.fast(stop, len(stop)) == b""
    assert t.fast(stop + b"\n\n", len(stop)) == b""
    for other in [sse({"type": "content_block_stop", "index": 1})[:-2], sse({"type": "content_block_stop",
                  "index": 0}, named=False)[:-2], stop.replace(b'"index":0', b'"index": 0'), stop + b" "]:
        assert t.fast(other, len(other)) is None, other
    thinking = translator()
    block = {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}}
    for p in [sse(START), sse(block), sse(delta(0, "thinking_delta", "thinking", "Hmm"))]:
        TranslatedPump(thinking).feed(p)
    assert thinking.fast is not None
    assert thinking.fast(stop, len(stop)) is None


TEXT = st.one_of(st.text(max_size=8), st.sampled_from(TEXTS), st.sampled_from(["a", " word", "é", "😀"]))


def ascii_json(event: Any) -> bytes:
    """Compact JSON with every non-ASCII character escaped (`\\u00e9`), as another serialiser may write it."""
    return json.dumps(event, separators=(",", ":")).encode()


@settings(max_examples=300, deadline=None)
@given(st.lists(TEXT, min_size=1, max_size=12), st.booleans(), st.lists(st.integers(0, 40), max_size=6),
       st.booleans(), st.booleans(), st.booleans())
def test_any_stream_cut_anywhere_gives_the_bytes_of_the_python_code(
    texts: list[str], named: bool, cuts: list[int], at_events: bool, crlf: bool, escaped: bool
) -> None:
    """The C module's `fast` and `run` (speedups.py), where built, against the Python code alone
    (`chunk`, and the full parse one byte at a time): the same bytes for any texts and any pieces."""
    events = text_stream(texts, named)
    if escaped:
        events = [sse(orjson.loads(e.split(b"data: ", 1)[1]), named, ascii_json) for e in events]
    if crlf:
        events = [e.replace(b"\n", b"\r\n") for e in events]
    if at_events:  # pieces of whole events, as the pump's `run` takes them
        marks = sorted({min(c, len(events)) for c in cuts} | {0, len(events)})
        pieces = [b"".join(events[a:b]) for a, b in zip(marks, marks[1:])]
    else:
        data = b"".join(events)
        marks = sorted({c * len(data) // 40 for c in cuts} | {0, len(data)})
        pieces = [data[a:b] for a, b in zip(marks, marks[1:])]
    out = sent(pieces)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(shortcut_module, "native", None)
        assert sent(pieces) == out
    assert decoded(pieces) == out

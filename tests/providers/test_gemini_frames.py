"""providers/gemini/stream.py `chunk`: the pump cuts a piece of whole events at its blank lines, and
plain-text events go to chunks without the event decoder. The client must be sent byte for byte what
the decoder and `translate` send, whatever the pieces hold, wherever they are cut, with CRLF (as
Gemini ends events) or LF ends."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from relaygate.ingress.streaming import TranslatedPump
from relaygate.providers.gemini.mapping import chat_usage
from relaygate.providers.gemini.stream import GeminiStreamTranslator
from tests.providers.gemini_support import CREATED, fixture

TEXTS = ["Open", "plain", "", " \"quoted\" \\ and\nlines\t", "naïve 京都 😀 \u2028", "\x01", "</script>",
         "data: x\r\n\r\n", "\\u00e9"]
RECORDED = ["stream_text.sse", "stream_max_tokens.sse", "stream_repeated_stop.sse", "stream_thinking_call.sse",
            "stream_two_candidates.sse", "stream_parallel_calls.sse", "stream_error_mid.sse", "stream_blocked.sse"]


def event(text: str, n: int, **candidate: Any) -> dict[str, Any]:
    usage = {"promptTokenCount": 7, "candidatesTokenCount": n, "totalTokenCount": 7 + n,
             "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 7}]}
    return {"candidates": [{"content": {"parts": [{"text": text}], "role": "model"}, **candidate}],
            "usageMetadata": usage, "modelVersion": "gemini-2.5-flash", "responseId": "resp-frames-1"}


def sse(body: dict[str, Any], end: bytes = b"\r\n\r\n") -> bytes:
    return b"data: " + orjson.dumps(body) + end


def text_stream(end: bytes = b"\r\n\r\n") -> list[bytes]:
    events = [event(t, n + 1) for n, t in enumerate(TEXTS)]
    events[-1]["candidates"][0]["finishReason"] = "STOP"
    return [sse(e, end) for e in events]


def sent(pieces: list[bytes], include_usage: bool = True) -> tuple[bytes, Any]:
    pump = TranslatedPump(GeminiStreamTranslator("gemini-x", CREATED, include_usage))
    out = b""
    for piece in pieces:
        out += pump.feed(piece) or b""
        if pump.failure is not None:
            return out + b"failure: " + pump.failure.message.encode(), pump.end.usage
    return (out if pump.end.done else out + pump.close()), pump.end.usage


def decoded(pieces: list[bytes]) -> tuple[bytes, Any]:
    """A byte at a time: the decoder always holds part of an event, so nothing takes `chunk`."""
    data = b"".join(pieces)
    return sent([data[i:i + 1] for i in range(len(data))])


@pytest.mark.parametrize("end", [b"\r\n\r\n", b"\n\n"])
def test_plain_text_events_give_the_bytes_of_the_decoder_and_full_reading(end: bytes,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    results: list[bytes | None] = []
    real = GeminiStreamTranslator.chunk
    monkeypatch.setattr(GeminiStreamTranslator, "chunk",
                        lambda self, piece, end: results.append(real(self, piece, end)) or results[-1])
    pieces = text_stream(end)
    out = sent(pieces)
    assert len([r for r in results if r is not None]) == len(TEXTS) - 1  # every event after the first
    monkeypatch.undo()
    assert out == decoded(pieces)
    contents = [orjson.loads(f[6:])["choices"][0]["delta"].get("content")
                for f in out[0].split(b"\n\n") if f.startswith(b"data: {") and orjson.loads(f[6:])["choices"]]
    assert contents == [t for t in TEXTS if t] + [None]


@pytest.mark.parametrize("end", [b"\r\n\r\n", b"\n\n"])
def test_several_events_per_piece_and_any_cut(end: bytes) -> None:
    pieces = text_stream(end)
    whole = sent(pieces)
    data = b"".join(pieces)
    assert sent([pieces[0], b"".join(pieces[1:4]), b"".join(pieces[4:])]) == whole
    for cut in range(0, len(data), 7):
        assert sent([data[:cut], data[cut:]]) == whole, cut


@pytest.mark.parametrize("name", RECORDED)
def test_recorded_streams_cut_at_every_event(name: str) -> None:
    data = fixture(name)
    end = b"\r\n\r\n" if b"\r\n\r\n" in data else b"\n\n"
    events = [e + end for e in data.split(end) if e]
    assert sent(events) == decoded(events) == sent([data])
    lf = [e.replace(b"\r\n", b"\n") for e in events]
    assert sent(lf) == decoded(lf)


def test_usage_read_at_any_point_is_that_of_the_last_event() -> None:
    pump = TranslatedPump(GeminiStreamTranslator("gemini-x", CREATED, False))
    for n, piece in enumerate(text_stream()):
        pump.feed(piece)
        assert pump.end.usage == chat_usage(event("", n + 1)["usageMetadata"])
        assert pump.end.usage == chat_usage(event("", n + 1)["usageMetadata"])  # read twice, the same


@pytest.mark.parametrize("event", [
    b'data:{"candidates":[]}', b": keep-alive", b'data: {"a":1}\ndata: {"b":2}', b"", b"\r\n", b"{",
    b'event: x\r\ndata: {"b":2}', b'data: {"candidates": [{"content": {"parts": [{"text": "a"}]}}]}\r',
    b'data: {"candidates": [{"content": {"parts": [{"text": "a"}]}}]}\n',
    b'data: {"candidates": [{"content":\n {"parts": [{"text": "a"}]}}]}',
    b'data: {"candidates": [{"content": {"parts": [{"text": "a"}]}}]', b'data: {"error": {"code": 500}}',
])
def test_chunk_declines_what_is_not_one_plain_data_line(event: bytes) -> None:
    t = GeminiStreamTranslator("gemini-x", CREATED, True)
    TranslatedPump(t).feed(text_stream()[0])
    assert t.fast is not None
    assert t.fast(event, len(event)) is None
    event = b'data: {"candidates": [{"content": {"parts": [{"text": "a"}]}}]}\r\n\r\n'
    assert t.fast(event, len(event) - 4).endswith(
        b'"content":"a"},"logprobs":null,"finish_reason":null}]}\n\n')


@pytest.mark.parametrize("other", [
    {"error": {"code": 500, "message": "Internal error", "status": "INTERNAL"}},
    {"candidates": [{"content": {"parts": [{"functionCall": {"name": "f", "args": {}}}], "role": "model"}}]},
    {"candidates": [{"content": {"parts": [{"text": "x", "thought": True}], "role": "model"}}]},
    {"candidates": [{"content": {"parts": [{"text": 3}], "role": "model"}}]},
    {"candidates": [{"content": {"parts": [{"text": "x"}]}}], "usageMetadata": {"promptTokenCount": "7"}},
])
def test_a_piece_with_any_other_event_is_declined_whole_and_read_as_before(other: dict[str, Any]) -> None:
    pieces = text_stream()
    mixed = [pieces[0], pieces[1] + pieces[2] + sse(other) + pieces[3], *pieces[4:]]
    assert sent(mixed) == decoded(mixed)

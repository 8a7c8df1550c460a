"""providers/gemini/reading.plain_slice and the stream's shortcut through it: the same chunks, byte for
byte, as the full reading makes, and every event it does not take still read (or rejected) in full."""

from __future__ import annotations

import json
import os
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relaygate.errors import UpstreamProtocolError
from relaygate.providers.gemini import reading, response, stream
from relaygate.providers.gemini.framing import GeminiEventDecoder
from relaygate.providers.gemini.stream import GeminiStreamTranslator
from relaygate.speedups import PURE_ENV, native
from relaygate.wire.sse import Event
from tests.providers.gemini_support import CREATED, FIXTURES, fixture

USAGE = {"promptTokenCount": 7, "candidatesTokenCount": 2, "totalTokenCount": 9,
         "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 7}]}


def event(parts: list[Any], **candidate: Any) -> dict[str, Any]:
    return {"candidates": [{"content": {"parts": parts, "role": "model"}, **candidate}], "usageMetadata": USAGE,
            "modelVersion": "gemini-2.5-flash", "responseId": "resp-plain-1"}


def sent(datas: list[bytes], full: bool, monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The chunks for these events, with (full=True) every event through the full reading."""
    with monkeypatch.context() as patch:
        if full:
            patch.setattr(stream, "plain_slice", lambda body: None)
        t = GeminiStreamTranslator("gemini-x", CREATED, True)
        out = [chunk for data in datas for chunk in t.translate(Event(data))]
        return out + t.close()


def events_of(sse: bytes) -> list[bytes]:
    decoder = GeminiEventDecoder()
    return [event.data for event in [*decoder.feed(sse), *decoder.flush()]]


@pytest.mark.parametrize("name", ["stream_text.sse", "stream_max_tokens.sse", "stream_repeated_stop.sse",
                                  "stream_thinking_call.sse", "stream_two_candidates.sse", "stream_parallel_calls.sse"])
def test_recorded_streams_give_the_bytes_of_the_full_reading(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    datas = events_of(fixture(name))
    assert sent(datas, False, monkeypatch) == sent(datas, True, monkeypatch)


TEXTS = ["plain", "", "\"quoted\" \\ and\nlines\t", "naïve 京都 😀 \u2028", "\x01"]


def test_text_of_every_kind_gives_the_bytes_of_the_full_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    datas = [orjson.dumps(event([{"text": text}])) for text in TEXTS]
    datas += [orjson.dumps(event([{"text": "a"}, {"text": "b"}], finishReason="STOP", index=0))]
    fast = sent(datas, False, monkeypatch)
    assert fast == sent(datas, True, monkeypatch)
    contents = [orjson.loads(c)["choices"][0]["delta"].get("content") for c in fast if orjson.loads(c)["choices"]]
    assert contents == ["plain", "\"quoted\" \\ and\nlines\t", "naïve 京都 😀 \u2028", "\x01", "ab", None]


def test_plain_slice_takes_text_only_events() -> None:
    body = event([{"text": "Hi"}], finishReason="STOP")
    assert reading.plain_slice(body) == ("Hi", "STOP", USAGE)
    assert reading.plain_slice({"candidates": [{"content": {"parts": []}}]}) == ("", None, None)


@pytest.mark.parametrize("body", [
    event([{"text": "Hi", "thought": True}]),
    event([{"text": "Hi", "thoughtSignature": "c2ln"}]),
    event([{"functionCall": {"name": "f", "args": {}}}]),
    event([{"text": "Hi"}], index=1),
    event([{"text": "Hi"}], index=True),
    event([{"text": "Hi"}], index=0.0),
    event([{"text": 5}]),
    event(["Hi"]),
    event([{"text": "Hi"}], finishReason=1),
    {**event([{"text": "Hi"}]), "promptFeedback": {"blockReason": "SAFETY"}},
    {**event([{"text": "Hi"}]), "usageMetadata": {"promptTokenCount": None}},
    {**event([{"text": "Hi"}]), "usageMetadata": {"promptTokenCount": True}},
    {**event([{"text": "Hi"}]), "usageMetadata": []},
    {**event([{"text": "Hi"}]), "responseId": 5},
    {"candidates": [{}, {}]},
    {"candidates": [{"content": {"role": "model"}}]},
    {"candidates": []},
    {"error": {"code": 500}},
    {**event([{"text": "Hi"}]), "error": {"code": 500, "message": "late"}},
    [1],
])
def test_plain_slice_leaves_everything_else_to_the_full_reading(body: Any) -> None:
    assert reading.plain_slice(body) is None


@pytest.mark.parametrize("body", [
    event([{"text": "Hi"}], index=True),
    event([{"text": 5}]),
    event([{"text": "Hi"}], finishReason=1),
    {**event([{"text": "Hi"}]), "usageMetadata": {"promptTokenCount": True}},
    {**event([{"text": "Hi"}]), "responseId": 5},
])
def test_malformed_events_after_the_first_are_still_a_clear_502(body: Any) -> None:
    t = GeminiStreamTranslator("gemini-x", CREATED, False)
    t.translate(Event(orjson.dumps(event([{"text": "first"}]))))
    with pytest.raises(UpstreamProtocolError) as caught:
        t.translate(Event(orjson.dumps(body)))
    assert caught.value.status == 502 and "Gemini" in caught.value.message


ANSWERS = sorted(path.name for path in FIXTURES.glob("generate_*.json"))


def whole(raw: bytes, full: bool, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The completion for a whole answer, or the error, with (full=True) the full reading only."""
    with monkeypatch.context() as patch:
        if full:
            patch.setattr(response, "plain_slice", lambda body: None)
        try:
            return response.generate_content_to_chat(raw, "gemini-x", CREATED)
        except UpstreamProtocolError as exc:
            return exc.message


@pytest.mark.parametrize("name", ANSWERS)
def test_whole_answers_are_those_of_the_full_reading(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert whole(fixture(name), False, monkeypatch) == whole(fixture(name), True, monkeypatch)


def test_a_plain_answer_takes_the_short_way(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = orjson.dumps(event([{"text": "naïve \"Kyoto\""}, {"text": "!"}], finishReason="MAX_TOKENS"))
    answer = whole(raw, False, monkeypatch)
    assert answer == whole(raw, True, monkeypatch)
    assert answer["choices"] == [{"index": 0, "message": {"role": "assistant", "content": "naïve \"Kyoto\"!"},
                                  "logprobs": None, "finish_reason": "length"}]
    assert answer["id"] == "chatcmpl-resp-plain-1" and answer["usage"]["completion_tokens"] == 2


# `plain_slice` in C (the C module, where built: speedups.py) against the Python one, for any body.
KEYS = ["candidates", "usageMetadata", "responseId", "modelVersion", "index", "content", "finishReason", "parts",
        "text", "promptFeedback", "error", "role", "promptTokenCount", "totalTokenCount", "trafficType"]
ANY = st.recursive(
    st.none() | st.booleans() | st.integers() | st.sampled_from([0, 2**70, -1]) | st.floats(allow_nan=False)
    | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=3),
    max_leaves=8)
TRICKY = st.sampled_from([None, False, True, 0, 0.0, 1, -1, 2**70, "", "0", "STOP", [], {}, [{"text": "x"}]])


@st.composite
def bodies(draw: st.DrawFn) -> Any:
    """A plain slice with at most a few of its values replaced (or keys added or dropped), so that
    every check is reached; or anything at all."""
    if draw(st.integers(0, 9)) == 0:
        return draw(ANY)
    parts = [{"text": draw(st.text(max_size=4))} for _ in range(draw(st.integers(0, 3)))]
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0, "finishReason": "STOP"}
    body: dict[str, Any] = {"candidates": [candidate], "usageMetadata": {"promptTokenCount": 3, "trafficType": "x"},
                            "responseId": "r-1", "modelVersion": "gemini-x"}
    places = [(body, k) for k in ("candidates", "usageMetadata", "responseId", "modelVersion", "promptFeedback",
                                  "error")]
    places += [(candidate, k) for k in ("content", "index", "finishReason")]
    places += [(candidate["content"], "parts"), (body["usageMetadata"], "promptTokenCount"),
               (body["usageMetadata"], "trafficType")]
    places += [(part, k) for part in parts for k in ("text", "thought")]
    for _ in range(draw(st.integers(1, 3))):
        where, key = draw(st.sampled_from(places))
        change = draw(st.sampled_from(["tricky", "any", "drop"]))
        if change == "drop":
            where.pop(key, None)
        else:
            where[key] = draw(TRICKY if change == "tricky" else ANY)
    if draw(st.booleans()) and isinstance(body.get("candidates"), list):
        body["candidates"] = body["candidates"] * draw(st.integers(0, 2))
    return body


@settings(max_examples=1500, deadline=None)
@given(bodies())
def test_plain_slice_in_c_answers_as_the_python_one(body: Any) -> None:
    if native is None:  # RELAYGATE_PURE=1, or no compiler: the Python one is the one used
        assert reading.plain_slice is reading.python_plain_slice
        return
    assert reading.plain_slice(body) == reading.python_plain_slice(body)


def test_the_c_plain_slice_is_used_where_the_module_is_built() -> None:
    assert (reading.plain_slice is reading.python_plain_slice) == bool(os.environ.get(PURE_ENV))
    assert reading.plain_slice(event([{"text": "a"}, {"text": "b"}], finishReason="STOP")) == ("ab", "STOP", USAGE)


@settings(max_examples=800, deadline=None)
@given(bodies(), st.sampled_from([b"data: ", b"data:", b"event: x\ndata: ", b"", b"data: \r"]),
       st.sampled_from([b"", b"\n\n", b"\r\n\r\n", b"\n", b" ", b"}"]), st.integers(-12, 12), st.binary(max_size=6))
def test_event_slice_in_c_answers_as_the_python_one(body: Any, head: bytes, tail: bytes, shift: int,
                                                    noise: bytes) -> None:
    """The stream's `chunk`: a whole event as it came, `piece[:end]`, to its plain slice or None."""
    data = json.dumps(body, separators=(",", ":")).encode()  # integers of any size, which orjson may refuse
    for piece in (head + data + tail, head + data[: len(data) // 2] + noise + tail):
        for end in (len(head + data), len(piece) + shift, shift):
            assert reading.event_slice(piece, end) == reading.python_event_slice(piece, end), (piece, end)

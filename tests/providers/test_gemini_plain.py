"""providers/gemini/reading.plain_slice and the stream's shortcut through it: the same chunks, byte for
byte, as the full reading makes, and every event it does not take still read (or rejected) in full."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from relaygate.errors import UpstreamProtocolError
from relaygate.providers.gemini import reading, response, stream
from relaygate.providers.gemini.framing import GeminiEventDecoder
from relaygate.providers.gemini.stream import GeminiStreamTranslator
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

"""emulator/anthropic: the checks, the answer and the wire shapes, without sockets."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from relaygate.emulator.anthropic.answer import REDACTED_TRIGGER, compose
from relaygate.emulator.anthropic.checks import body_problem, header_problem
from relaygate.emulator.anthropic.signing import Signer
from relaygate.emulator.anthropic.wire import encode_event, events, message
from relaygate.providers.anthropic.response import messages_response_to_chat
from relaygate.providers.anthropic.stream import MessagesStreamTranslator
from relaygate.wire.sse import SSEDecoder

SIGNER = Signer(b"k" * 32)
USER = {"role": "user", "content": "Weather in Kyoto?"}
TOOL = {"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}
THINKING = {"type": "enabled", "budget_tokens": 1024}


def request(**fields: Any) -> dict[str, Any]:
    return {"model": "claude-sonnet-4-5", "max_tokens": 4096, "messages": [USER], **fields}


def problem(body: Any) -> str | None:
    error = body_problem(True, body, SIGNER)
    return error.message if error else None


def tool_turns(thinking: list[dict[str, Any]] | None = None, result_id: str = "toolu_1") -> list[dict[str, Any]]:
    call = {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Kyoto"}}
    result = {"type": "tool_result", "tool_use_id": result_id, "content": "sunny"}
    return [USER, {"role": "assistant", "content": [*(thinking or []), call]}, {"role": "user", "content": [result]}]


@pytest.mark.parametrize(
    ("headers", "status", "words"),
    [({}, 401, "x-api-key header is required"), ({"x-api-key": "nope"}, 401, "invalid x-api-key"),
     ({"x-api-key": "good"}, 400, "anthropic-version: header is required")],
)
def test_header_checks(headers: dict[str, str], status: int, words: str) -> None:
    error = header_problem(headers, frozenset({"good"}))
    assert error is not None and (error.status, error.message) == (status, words)
    assert header_problem({"x-api-key": "good", "anthropic-version": "2023-06-01"}, frozenset({"good"})) is None


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"model": "m", "messages": [USER]}, "max_tokens: Field required"),
        (request(messages=[]), "at least one message"),
        (request(temperature=1.5), "temperature: Input should be less than or equal to 1"),
        (request(messages=[{"role": "system", "content": "x"}, USER]), 'Unexpected role "system"'),
        (request(messages=[USER, USER]), "roles must alternate"),
        (request(messages=[{"role": "user", "content": [{"type": "text", "text": ""}]}]), "must be non-empty"),
        (request(messages=[{"role": "user", "content": [{"type": "image_url"}]}]), "does not match any"),
        (request(messages=[{"role": "user", "content": [{"type": "image", "source": {"type": "base64",
         "media_type": "image/tiff", "data": "AA"}}]}]), "media_type"),
        (request(tools=[{"name": "f"}]), "tools.0.custom.input_schema: Field required"),
        (request(messages=tool_turns(result_id="toolu_other")), "unexpected `tool_use_id` found in `tool_result`"),
        (request(messages=tool_turns()[:2] + [USER]), "`tool_use` ids were found without `tool_result` blocks"),
        (request(thinking={"type": "enabled", "budget_tokens": 500}), "greater than or equal to 1024"),
        (request(thinking=THINKING, max_tokens=1024), "`max_tokens` must be greater than `thinking.budget_tokens`"),
        (request(thinking=THINKING, temperature=0.5), "`temperature` may only be set to 1"),
        (request(thinking=THINKING, tools=[TOOL], tool_choice={"type": "any"}), "forces tool use"),
        (request(thinking=THINKING, messages=tool_turns()), "must start with a thinking block"),
        (request(messages=tool_turns([{"type": "thinking", "thinking": "x", "signature": "forged"}])),
         "Invalid `signature` in `thinking` block"),
        (request(messages=tool_turns([{"type": "redacted_thinking", "data": "bm90IG91cnM="}])),
         "Invalid `data` in `redacted_thinking` block"),
    ],
)
def test_the_body_checks_the_real_api_makes(body: dict[str, Any], words: str) -> None:
    assert words in (problem(body) or "")


def test_valid_tool_round_trip_with_signed_thinking_passes() -> None:
    thinking = [{"type": "thinking", "thinking": "x", "signature": SIGNER.sign("x")},
                {"type": "redacted_thinking", "data": SIGNER.seal("y")}]
    assert problem(request(thinking=THINKING, tools=[TOOL], messages=tool_turns(thinking))) is None
    assert problem(request(system="Be terse.", temperature=1, top_p=0.5)) is None
    assert body_problem(False, None, SIGNER).status == 400
    assert not Signer().signed("x", SIGNER.sign("x")), "another emulator's signature is not ours"


def test_answer_echoes_then_calls_tools_then_reports_tool_results() -> None:
    echo = compose(request(), 4, None, SIGNER)
    assert [b.type for b in echo.blocks] == ["text"] and echo.blocks[0].text.startswith("Echo: Weather in Kyoto?")
    called = compose(request(tools=[TOOL, {**TOOL, "name": "get_time"}]), 4, None, SIGNER)
    assert [b.name for b in called.blocks] == ["get_weather", "get_time"] and called.stop_reason == "tool_use"
    single = compose(request(tools=[TOOL, TOOL], tool_choice={"type": "auto", "disable_parallel_tool_use": True}),
                     4, None, SIGNER)
    assert len(single.blocks) == 1
    after = compose(request(tools=[TOOL], messages=tool_turns()), 4, None, SIGNER)
    assert after.blocks[0].text.startswith("Tool said: sunny") and after.stop_reason == "end_turn"


def test_answer_with_thinking_redaction_limits_and_stop_sequences() -> None:
    user = {"role": "user", "content": f"Hi {REDACTED_TRIGGER}"}
    reply = compose(request(thinking=THINKING, messages=[user]), 4, None, SIGNER)
    thinking, redacted, text = reply.blocks
    assert SIGNER.signed(thinking.text, thinking.signature) and SIGNER.sealed(redacted.signature)
    short = compose(request(max_tokens=2), 4, None, SIGNER)
    assert (short.blocks[0].text, short.stop_reason) == ("Echo: Weather", "max_tokens")
    cut = compose(request(stop_sequences=["Kyoto"]), 4, None, SIGNER)
    assert (cut.blocks[0].text, cut.stop_reason, cut.stop_sequence) == ("Echo: Weather in ", "stop_sequence", "Kyoto")


def test_stream_and_message_agree_through_the_gateways_own_transforms() -> None:
    reply = compose(request(thinking=THINKING, tools=[TOOL]), 5, None, SIGNER)
    names = [name for name, _ in events(reply, "claude-sonnet-4-5")]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert encode_event(*events(reply, "claude-sonnet-4-5")[2]) == b'event: ping\ndata: {"type": "ping"}\n\n'  # recorded
    assert names[-2:] == ["message_delta", "message_stop"]
    whole = messages_response_to_chat(orjson.dumps(message(reply, "claude-sonnet-4-5")), False, "m", 0)
    translator = MessagesStreamTranslator("m", 0, True, False)
    decoder = SSEDecoder()
    raw = b"".join(encode_event(name, data) for name, data in events(reply, "claude-sonnet-4-5"))
    chunks = [orjson.loads(c) for e in decoder.feed(raw) for c in translator.translate(e)]
    arguments = "".join(t["function"]["arguments"] for c in chunks if c["choices"]
                        for t in c["choices"][0]["delta"].get("tool_calls", []))
    assert arguments == whole["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
    assert chunks[-1]["usage"] == whole["usage"] and translator.end.done


def test_structured_outputs_are_checked_and_answered_with_the_schemas_json() -> None:
    closed = {"type": "object", "properties": {"city": {"type": "string"}}, "additionalProperties": False}
    assert problem(request(output_config={"format": {"type": "json_schema", "schema": closed}})) is None
    assert "additionalProperties" in problem(request(output_config={"format": {
        "type": "json_schema", "schema": {"type": "object", "properties": {"city": {"type": "string"}}}}}))
    assert "json_schema" in problem(request(output_config={"format": {"type": "json_object"}}))
    reply = compose(request(output_config={"format": {"type": "json_schema", "schema": closed}}), 4, None, SIGNER)
    [block] = reply.blocks
    assert block.type == "text" and orjson.loads(block.text) == {"city": "Tokyo"}
    assert "".join(block.pieces) == block.text and reply.stop_reason == "end_turn"

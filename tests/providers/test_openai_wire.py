"""providers/base.py OpenAIWire.chat_body and each vendor's thinking map (openai, deepseek, dashscope, doubao)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from relaygate.providers import dashscope, deepseek, doubao, openai_compat
from relaygate.providers.base import OpenAIWire
from relaygate.providers.registry import TYPES

OPENAI = TYPES["openai"]
DEEPSEEK = TYPES["deepseek"]
DASHSCOPE = TYPES["dashscope"]
DOUBAO = TYPES["doubao"]
WIRES = {"openai": OPENAI, "deepseek": DEEPSEEK, "dashscope": DASHSCOPE, "doubao": DOUBAO}

PNG_DATA_URL = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
# Every content part the seeds name, with the extra fields DashScope documents on them.
CONTENT_PARTS: list[dict[str, Any]] = [
    {"type": "text", "text": "これらを説明してください。"},
    {"type": "image_url", "image_url": {"url": "https://example.com/kyoto/kinkakuji.jpg", "detail": "high"}},
    {"type": "image_url", "image_url": {"url": PNG_DATA_URL}},
    {"type": "input_audio", "input_audio": {"data": "UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YQAAAAA=", "format": "wav"}},
    {"type": "video", "video": ["https://example.com/v/1.jpg", "https://example.com/v/2.jpg"], "fps": 2, "min_pixels": 65536},
    {"type": "video_url", "video_url": {"url": "https://example.com/v/clip.mp4"}, "fps": 0.5, "total_pixels": 134217728},
    {"type": "text", "text": "cache me", "cache_control": {"type": "ephemeral"}},
]
# Parameters the gateway does not know: they must reach the upstream as they came.
UNKNOWN_PARAMS: dict[str, Any] = {
    "top_k": 20,
    "enable_search": True,
    "search_options": {"forced_search": True, "search_strategy": "max", "enable_source": True},
    "vl_high_resolution_images": True,
    "repetition_penalty": 1.05,
    "logit_bias": {"50256": -100},
    "x_vendor_flag": [1, 2.5, None, {"deep": ["ok", False]}],
    "temperature": 0.7,
    "seed": 2**31 - 1,
}


def request(**extra: Any) -> dict[str, Any]:
    return {
        "model": "qwen-vl-max",
        "messages": [
            {"role": "system", "content": "あなたは優秀なアシスタントです。"},
            {"role": "user", "content": CONTENT_PARTS},
        ],
        **UNKNOWN_PARAMS,
        **extra,
    }


def body_of(wire: OpenAIWire, req: dict[str, Any], model: str, stream: bool = False) -> dict[str, Any]:
    return orjson.loads(wire.chat_body(req, orjson.dumps(req), model, stream))


def same_json(a: Any, b: Any) -> bool:
    return orjson.dumps(a) == orjson.dumps(b)


# chat_body: what changes and what does not


@pytest.mark.parametrize("wire", WIRES.values(), ids=WIRES)
def test_raw_bytes_forwarded_when_nothing_changes(wire: OpenAIWire) -> None:
    req = request()
    raw = b'{ "model": "qwen-vl-max",\n  "messages": [] }'  # not what orjson would write: proves no re-serialising
    assert wire.chat_body(req, raw, "qwen-vl-max", stream=False) is raw


def test_raw_bytes_forwarded_when_streaming_already_asks_for_usage() -> None:
    req = request(stream=True, stream_options={"include_usage": True})
    raw = orjson.dumps(req, option=orjson.OPT_INDENT_2)
    assert OPENAI.chat_body(req, raw, "qwen-vl-max", stream=True) == raw


@pytest.mark.parametrize("wire", WIRES.values(), ids=WIRES)
def test_model_renamed_everything_else_equal(wire: OpenAIWire) -> None:
    req = request()
    out = body_of(wire, req, "qwen-vl-max-2025-04-08")
    assert out["model"] == "qwen-vl-max-2025-04-08"
    assert list(out) == list(req)  # key order kept
    assert same_json({**out, "model": req["model"]}, req)


@pytest.mark.parametrize("wire", WIRES.values(), ids=WIRES)
def test_content_parts_and_unknown_params_pass_byte_for_byte(wire: OpenAIWire) -> None:
    req = request(provider={"order": ["alibaba"]}, thinking={"type": "enabled", "budget_tokens": 2048})
    out = body_of(wire, req, "qwen-vl-max", stream=True)
    assert orjson.dumps(out["messages"]) == orjson.dumps(req["messages"])
    for name, value in UNKNOWN_PARAMS.items():
        assert orjson.dumps(out[name]) == orjson.dumps(value), name
    assert out["messages"][1]["content"][2]["image_url"]["url"] == PNG_DATA_URL


@pytest.mark.parametrize("wire", WIRES.values(), ids=WIRES)
def test_gateway_fields_never_reach_the_upstream(wire: OpenAIWire) -> None:
    req = request(provider={"order": ["deepseek", "alibaba"], "allow_fallbacks": False})
    out = body_of(wire, req, "qwen-vl-max")
    assert "provider" not in out
    assert same_json(out, {k: v for k, v in req.items() if k != "provider"})


@pytest.mark.parametrize("wire", WIRES.values(), ids=WIRES)
def test_client_body_is_not_mutated(wire: OpenAIWire) -> None:
    req = request(stream=True, stream_options={"include_usage": False}, thinking={"type": "enabled"}, provider={})
    before = orjson.dumps(req)
    wire.chat_body(req, before, "other-model", stream=True)
    assert orjson.dumps(req) == before


@pytest.mark.parametrize("wire", WIRES.values(), ids=WIRES)
def test_streaming_always_asks_for_usage(wire: OpenAIWire) -> None:
    out = body_of(wire, request(stream=True), "qwen-vl-max", stream=True)
    assert out["stream"] is True
    assert out["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize("wire", WIRES.values(), ids=WIRES)
def test_streaming_forces_include_usage_and_keeps_other_stream_options(wire: OpenAIWire) -> None:
    req = request(stream=True, stream_options={"include_usage": False, "include_obfuscation": False})
    out = body_of(wire, req, "qwen-vl-max", stream=True)
    assert out["stream_options"] == {"include_usage": True, "include_obfuscation": False}


@pytest.mark.parametrize("wire", WIRES.values(), ids=WIRES)
def test_not_streaming_adds_no_stream_options(wire: OpenAIWire) -> None:
    out = body_of(wire, request(), "renamed")
    assert "stream_options" not in out


# thinking, mapped to each vendor's own form


@pytest.mark.parametrize(
    ("budget", "effort"),
    [(None, "medium"), (1, "minimal"), (1023, "minimal"), (1024, "low"), (4095, "low"), (4096, "medium"), (8000, "medium"),
     (16383, "medium"), (16384, "high"), (32000, "high")],
)
def test_openai_thinking_budget_to_reasoning_effort(budget: int | None, effort: str) -> None:
    thinking = {"type": "enabled"} if budget is None else {"type": "enabled", "budget_tokens": budget}
    out = body_of(OPENAI, request(model="o4-mini", thinking=thinking), "o4-mini")
    assert out["reasoning_effort"] == effort
    assert "thinking" not in out


@pytest.mark.parametrize("kind", ["disabled", "auto"])
def test_openai_thinking_off_or_auto_leaves_the_default(kind: str) -> None:
    out = body_of(OPENAI, request(model="o4-mini", thinking={"type": kind, "budget_tokens": 9000}), "o4-mini")
    assert "reasoning_effort" not in out and "thinking" not in out
    assert same_json(out, request(model="o4-mini"))


@pytest.mark.parametrize(
    ("thinking", "native"),
    [
        ({"type": "enabled", "budget_tokens": 8000}, {"type": "enabled"}),
        ({"type": "enabled"}, {"type": "enabled"}),
        ({"type": "disabled"}, {"type": "disabled"}),
        ({"type": "auto"}, None),
    ],
)
def test_deepseek_thinking_type_without_budget(thinking: dict[str, Any], native: dict[str, Any] | None) -> None:
    out = body_of(DEEPSEEK, request(model="deepseek-chat", thinking=thinking), "deepseek-chat")
    assert out.get("thinking") == native


@pytest.mark.parametrize(
    ("thinking", "native"),
    [
        ({"type": "enabled", "budget_tokens": 5000}, {"enable_thinking": True, "thinking_budget": 5000}),
        ({"type": "enabled"}, {"enable_thinking": True}),
        ({"type": "disabled", "budget_tokens": 5000}, {"enable_thinking": False}),
        ({"type": "auto"}, {}),
    ],
)
def test_dashscope_thinking_to_enable_thinking_and_budget(thinking: dict[str, Any], native: dict[str, Any]) -> None:
    out = body_of(DASHSCOPE, request(model="qwen3-max", thinking=thinking), "qwen3-max")
    assert {k: out[k] for k in ("enable_thinking", "thinking_budget") if k in out} == native
    assert "thinking" not in out


@pytest.mark.parametrize("kind", ["enabled", "disabled", "auto"])
def test_doubao_thinking_type_budget_dropped(kind: str) -> None:
    model = "doubao-seed-1-6-251015"
    out = body_of(DOUBAO, request(model=model, thinking={"type": kind, "budget_tokens": 16000}), model)
    assert out["thinking"] == {"type": kind}


def test_thinking_maps_are_pure_functions() -> None:
    thinking = {"type": "enabled", "budget_tokens": 20000}
    assert openai_compat.thinking_to_reasoning_effort(thinking) == {"reasoning_effort": "high"}
    assert deepseek.thinking_to_deepseek(thinking) == {"thinking": {"type": "enabled"}}
    assert dashscope.thinking_to_dashscope(thinking) == {"enable_thinking": True, "thinking_budget": 20000}
    assert doubao.thinking_to_doubao(thinking) == {"thinking": {"type": "enabled"}}
    assert thinking == {"type": "enabled", "budget_tokens": 20000}


def test_openai_native_reasoning_effort_wins() -> None:
    req = request(model="o4-mini", reasoning_effort="low", thinking={"type": "enabled", "budget_tokens": 30000})
    assert body_of(OPENAI, req, "o4-mini")["reasoning_effort"] == "low"


def test_dashscope_native_params_win() -> None:
    req = request(model="qwen3-max", enable_thinking=False, thinking_budget=500,
                  thinking={"type": "enabled", "budget_tokens": 8000})
    out = body_of(DASHSCOPE, req, "qwen3-max")
    assert out["enable_thinking"] is False
    assert out["thinking_budget"] == 500


def test_dashscope_native_enable_thinking_kept_budget_mapped() -> None:
    req = request(model="qwen3-max", enable_thinking=True, thinking={"type": "enabled", "budget_tokens": 8000})
    out = body_of(DASHSCOPE, req, "qwen3-max")
    assert out["enable_thinking"] is True and out["thinking_budget"] == 8000


def test_thinking_mapped_in_a_stream_too() -> None:
    req = request(model="qwen3-max", stream=True, thinking={"type": "enabled", "budget_tokens": 3000})
    out = body_of(DASHSCOPE, req, "qwen3-max", stream=True)
    assert (out["enable_thinking"], out["thinking_budget"], out["stream_options"]) == (True, 3000, {"include_usage": True})


def test_emulator_forwards_thinking_nowhere() -> None:
    out = body_of(TYPES["emulator"], request(model="demo", thinking={"type": "enabled"}), "demo")
    assert "thinking" not in out and "reasoning_effort" not in out and "enable_thinking" not in out


# URLs and headers


@pytest.mark.parametrize(
    ("base", "url"),
    [
        ("https://api.deepseek.com/v1", "https://api.deepseek.com/v1/chat/completions"),
        ("https://dashscope-intl.aliyuncs.com/compatible-mode/v1/",
         "https://dashscope-intl.aliyuncs.com/compatible-mode/v1/chat/completions"),
        ("https://ark.cn-beijing.volces.com/api/v3", "https://ark.cn-beijing.volces.com/api/v3/chat/completions"),
    ],
)
def test_chat_url(base: str, url: str) -> None:
    assert OPENAI.chat_url(base) == url


def test_auth_headers() -> None:
    assert DEEPSEEK.auth_headers("sk-test-1") == {"Content-Type": "application/json", "Authorization": "Bearer sk-test-1"}
    assert "Authorization" not in DEEPSEEK.auth_headers(None)
    assert "Authorization" not in DEEPSEEK.auth_headers("")


def test_registry_lists_the_openai_wire_vendors() -> None:
    assert {"openai", "deepseek", "dashscope", "doubao"} <= set(TYPES)
    assert all(TYPES[name].passthrough for name in WIRES)


@pytest.mark.parametrize(
    ("effort", "expected"),
    [("low", {"enable_thinking": True, "thinking_budget": 2048}),
     ("high", {"enable_thinking": True, "thinking_budget": 24576}),
     ("none", {"enable_thinking": False})],
)
def test_dashscope_turns_reasoning_effort_into_its_thinking_parameters(effort: str, expected: dict) -> None:
    request = {"model": "qwen-plus", "messages": [{"role": "user", "content": "hi"}], "reasoning_effort": effort}
    out = orjson.loads(dashscope.ADAPTER.chat_body(request, orjson.dumps(request), "qwen-plus", stream=False))
    assert "reasoning_effort" not in out
    assert {k: out[k] for k in expected} == expected and set(out) - set(expected) == {"model", "messages"}


def test_vendors_with_native_effort_keep_it() -> None:
    request = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "reasoning_effort": "low"}
    raw = orjson.dumps(request)
    for adapter in (deepseek.ADAPTER, doubao.ADAPTER, openai_compat.ADAPTER):
        assert adapter.chat_body(request, raw, "m", stream=False) == raw

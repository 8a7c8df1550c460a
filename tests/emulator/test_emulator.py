"""The upstream emulator, driven over HTTP by the official openai SDK and httpx."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

SRC = Path(__file__).resolve().parents[2] / "src"
KEY = "sk-emulator-test-key"

PREFIXES = {
    "openai": "/openai/v1",
    "deepseek": "/deepseek/v1",
    "dashscope": "/dashscope/compatible-mode/v1",
    "doubao": "/doubao/api/v3",
}
MODELS = {"openai": "gpt-4o", "deepseek": "deepseek-chat", "dashscope": "qwen-plus", "doubao": "doubao-seed-1-6-251015"}
HELLO = [{"role": "user", "content": "Hello there, how are you today?"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "days": {"type": "integer"},
                "metric": {"type": "boolean"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
        },
    },
}
STOCK_TOOL = {
    "type": "function",
    "function": {"name": "get_stock", "parameters": {"type": "object", "properties": {"ticker": {"type": "string"}}}},
}


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))}


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    command = [sys.executable, "-m", "relaygate.emulator", "--port", "0", "--key", KEY, "--key", "sk-other"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=_env())
    try:
        line = proc.stdout.readline().strip() if proc.stdout else ""
        assert line.startswith("emulator listening on http://127.0.0.1:"), line
        yield line.rsplit(" ", 1)[1]
    finally:
        proc.terminate()
        proc.wait(timeout=5)


@pytest.fixture(autouse=True)
def reset(base: str) -> None:
    httpx.post(f"{base}/_emulator/reset").raise_for_status()


@pytest.fixture
def http(base: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {KEY}"}, timeout=5) as client:
        yield client


def sdk(base: str, flavour: str, **kwargs: Any) -> OpenAI:
    return OpenAI(base_url=base + PREFIXES[flavour], api_key=KEY, max_retries=0, **kwargs)


def chat_path(flavour: str) -> str:
    return PREFIXES[flavour] + "/chat/completions"


def sse(text: str) -> list[Any]:
    """The `data:` payloads of an SSE body, JSON-decoded except `[DONE]`."""
    out: list[Any] = []
    for line in text.split("\n"):
        if line.startswith("data: "):
            data = line[len("data: ") :]
            out.append(data if data == "[DONE]" else json.loads(data))
    return out


def stream_raw(http: httpx.Client, flavour: str, body: dict[str, Any], **headers: str) -> list[Any]:
    response = http.post(chat_path(flavour), json={"model": MODELS[flavour], "stream": True, **body}, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    return sse(response.text)


def script(base: str, *rules: dict[str, Any]) -> None:
    httpx.post(f"{base}/_emulator/script", json=list(rules)).raise_for_status()


def requests_seen(base: str) -> list[dict[str, Any]]:
    return httpx.get(f"{base}/_emulator/requests").json()


# --- plain answers ---------------------------------------------------------------------------


@pytest.mark.parametrize("flavour", PREFIXES)
def test_non_streaming_answer_echoes_the_user(base: str, flavour: str) -> None:
    completion = sdk(base, flavour).chat.completions.create(model=MODELS[flavour], messages=HELLO)
    text = completion.choices[0].message.content
    assert text.startswith("Echo: Hello there, how are you today?")
    assert len(text.split()) == 20
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == MODELS[flavour]
    assert completion.usage.completion_tokens == 20
    assert completion.usage.prompt_tokens == 6
    assert completion.usage.total_tokens == 26


@pytest.mark.parametrize("flavour", PREFIXES)
def test_streaming_answer_matches_the_whole_one(base: str, flavour: str) -> None:
    client = sdk(base, flavour)
    whole = client.chat.completions.create(model=MODELS[flavour], messages=HELLO).choices[0].message.content
    pieces = [
        c.choices[0].delta.content or ""
        for c in client.chat.completions.create(model=MODELS[flavour], messages=HELLO, stream=True)
        if c.choices
    ]
    assert "".join(pieces) == whole
    assert len([p for p in pieces if p]) == 20


def test_openai_shapes(http: httpx.Client) -> None:
    body = http.post(chat_path("openai"), json={"model": "gpt-4o", "messages": HELLO}).json()
    assert body["id"].startswith("chatcmpl-") and body["object"] == "chat.completion"
    assert body["system_fingerprint"].startswith("fp_") and body["service_tier"] == "default"
    assert body["choices"][0]["message"]["refusal"] is None
    assert body["usage"]["prompt_tokens_details"] == {"cached_tokens": 0, "audio_tokens": 0}
    assert body["usage"]["completion_tokens_details"]["reasoning_tokens"] == 0
    events = stream_raw(http, "openai", {"messages": HELLO})
    first, finish = events[0], events[-2]
    assert first["object"] == "chat.completion.chunk" and first["id"] == finish["id"]
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    assert finish["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    assert events[-1] == "[DONE]" and all("usage" not in e for e in events[:-1])


def test_ids_are_fresh_per_response(http: httpx.Client) -> None:
    ids = {http.post(chat_path("deepseek"), json={"model": "deepseek-chat", "messages": HELLO}).json()["id"]
           for _ in range(3)}
    assert len(ids) == 3


def test_dashscope_field_order_and_first_chunk(http: httpx.Client) -> None:
    body = http.post(chat_path("dashscope"), json={"model": "qwen-plus", "messages": HELLO}).json()
    assert list(body) == ["choices", "object", "usage", "created", "system_fingerprint", "model", "id"]
    assert body["id"].startswith("chatcmpl-") and body["usage"]["prompt_tokens_details"] == {"cached_tokens": 0}
    events = stream_raw(http, "dashscope", {"messages": HELLO})
    assert events[0]["choices"][0]["delta"] == {"content": "", "role": "assistant"}
    assert events[-2]["choices"][0]["delta"] == {"content": ""}
    assert events[-2]["choices"][0]["finish_reason"] == "stop"
    assert all(e["usage"] is None for e in events[:-1])


def test_doubao_ids_are_hex_and_usage_has_details(http: httpx.Client) -> None:
    body = http.post(chat_path("doubao"), json={"model": "doubao-seed-1-6-251015", "messages": HELLO}).json()
    int(body["id"], 16)
    assert body["usage"]["prompt_tokens_details"] == {"cached_tokens": 0}
    assert body["usage"]["completion_tokens_details"] == {"reasoning_tokens": 0}


def test_chunk_count_header(http: httpx.Client) -> None:
    events = stream_raw(http, "openai", {"messages": HELLO}, **{"x-emulator-chunks": "5"})
    contents = [e["choices"][0]["delta"].get("content") for e in events[1:-2]]
    assert len(contents) == 5 and all(contents)


# --- include_usage --------------------------------------------------------------------------


def test_openai_include_usage(http: httpx.Client) -> None:
    events = stream_raw(http, "openai", {"messages": HELLO, "stream_options": {"include_usage": True}})
    *chunks, usage_chunk, done = events
    assert done == "[DONE]" and all(c["usage"] is None for c in chunks)
    assert usage_chunk["choices"] == [] and usage_chunk["usage"]["completion_tokens"] == 20


def test_dashscope_include_usage(http: httpx.Client) -> None:
    events = stream_raw(http, "dashscope", {"messages": HELLO, "stream_options": {"include_usage": True}})
    assert events[-2]["choices"] == []
    assert events[-2]["usage"] == {"prompt_tokens": 6, "completion_tokens": 20, "total_tokens": 26}
    assert events[-3]["choices"][0]["finish_reason"] == "stop"


def test_deepseek_usage_rides_on_the_finish_chunk(http: httpx.Client) -> None:
    for options in ({}, {"stream_options": {"include_usage": True}}):
        events = stream_raw(http, "deepseek", {"messages": HELLO, **options})
        last = events[-2]
        assert last["choices"][0]["finish_reason"] == "stop" and last["choices"][0]["delta"] == {"content": ""}
        assert last["usage"]["prompt_cache_miss_tokens"] == 6 and last["usage"]["prompt_cache_hit_tokens"] == 0
        assert all(("usage" in e) == bool(options) for e in events[:-2])


def test_doubao_include_usage(http: httpx.Client) -> None:
    events = stream_raw(http, "doubao", {"messages": HELLO, "stream_options": {"include_usage": True}})
    assert events[-2]["choices"] == [] and events[-2]["usage"]["total_tokens"] == 26
    assert all(e["usage"] is None for e in events[:-2])
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"


# --- tools ----------------------------------------------------------------------------------


def test_tool_call_fills_arguments_from_the_schema(base: str) -> None:
    completion = sdk(base, "openai").chat.completions.create(model="gpt-4o", messages=HELLO, tools=[WEATHER_TOOL])
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    (call,) = choice.message.tool_calls
    assert call.function.name == "get_weather" and call.id.startswith("call_")
    assert json.loads(call.function.arguments) == {"city": "Tokyo", "days": 1, "metric": True, "unit": "celsius"}


@pytest.mark.parametrize("flavour", PREFIXES)
def test_parallel_tool_calls_streamed(base: str, flavour: str) -> None:
    stream = sdk(base, flavour).chat.completions.create(
        model=MODELS[flavour], messages=HELLO, tools=[WEATHER_TOOL, STOCK_TOOL], stream=True
    )
    calls: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in stream:
        for choice in chunk.choices:
            finish = choice.finish_reason or finish
            for delta in choice.delta.tool_calls or ():
                call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
                call["id"] = call["id"] or (delta.id or "")
                call["name"] += delta.function.name or "" if delta.function else ""
                call["arguments"] += delta.function.arguments or "" if delta.function else ""
    assert finish == "tool_calls"
    assert [c["name"] for c in calls.values()] == ["get_weather", "get_stock"]
    assert json.loads(calls[1]["arguments"]) == {"ticker": "Tokyo"}
    assert all(c["id"].startswith("call_") for c in calls.values())


def test_openai_streamed_tool_call_shape(http: httpx.Client) -> None:
    events = stream_raw(http, "openai", {"messages": HELLO, "tools": [WEATHER_TOOL]})
    first = events[0]["choices"][0]["delta"]
    assert first["role"] == "assistant" and first["content"] is None and first["refusal"] is None
    (header,) = first["tool_calls"]
    assert header["function"] == {"name": "get_weather", "arguments": ""} and header["type"] == "function"
    later = events[1]["choices"][0]["delta"]["tool_calls"][0]
    assert set(later) == {"index", "function"} and later["function"]["arguments"]


def test_dashscope_tool_call_continuations_repeat_empty_id(http: httpx.Client) -> None:
    events = stream_raw(http, "dashscope", {"messages": HELLO, "tools": [WEATHER_TOOL]})
    first = events[0]["choices"][0]["delta"]
    assert first["role"] == "assistant" and first["tool_calls"][0]["function"]["arguments"]
    continuation = events[1]["choices"][0]["delta"]["tool_calls"][0]
    assert continuation["id"] == "" and continuation["type"] == "function"


def test_tool_choice_variants(base: str) -> None:
    create = sdk(base, "openai").chat.completions.create
    tools = [WEATHER_TOOL, STOCK_TOOL]
    assert create(model="m", messages=HELLO, tools=tools, tool_choice="none").choices[0].message.tool_calls is None
    single = create(model="m", messages=HELLO, tools=tools, parallel_tool_calls=False).choices[0].message.tool_calls
    assert [c.function.name for c in single] == ["get_weather"]
    named = create(model="m", messages=HELLO, tools=tools,
                   tool_choice={"type": "function", "function": {"name": "get_stock"}}).choices[0].message
    assert [c.function.name for c in named.tool_calls] == ["get_stock"]


def test_tool_results_are_answered_in_text(base: str) -> None:
    messages = HELLO + [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny and 21C"},
    ]
    message = sdk(base, "dashscope").chat.completions.create(
        model="qwen-plus", messages=messages, tools=[WEATHER_TOOL]
    ).choices[0].message
    assert message.content.startswith("Tool said: sunny and 21C") and not message.tool_calls


# --- reasoning --------------------------------------------------------------------------------


def test_deepseek_reasoner_answers_with_reasoning(base: str, http: httpx.Client) -> None:
    completion = sdk(base, "deepseek").chat.completions.create(model="deepseek-reasoner", messages=HELLO)
    message = completion.choices[0].message
    assert message.model_extra["reasoning_content"].startswith("Thinking about: Hello there")
    assert completion.usage.completion_tokens_details.reasoning_tokens == 20
    assert completion.usage.completion_tokens == 40
    thinking = {"model": "deepseek-chat", "messages": HELLO, "thinking": {"type": "enabled"}}
    events = stream_raw(http, "deepseek", thinking)
    deltas = [e["choices"][0]["delta"] for e in events[:-1]]
    assert deltas[0] == {"role": "assistant", "content": None, "reasoning_content": ""}
    assert deltas[1]["content"] is None and deltas[1]["reasoning_content"]
    assert deltas[21]["reasoning_content"] is None and deltas[21]["content"].startswith("Echo:")


def test_dashscope_enable_thinking(http: httpx.Client) -> None:
    events = stream_raw(http, "dashscope", {"messages": HELLO, "enable_thinking": True,
                                            "stream_options": {"include_usage": True}})
    assert events[0]["choices"][0]["delta"] == {"content": None, "role": "assistant", "reasoning_content": ""}
    assert events[-3]["choices"][0]["delta"] == {"content": "", "reasoning_content": None}
    assert events[-2]["usage"]["completion_tokens_details"] == {"reasoning_tokens": 20}


def test_doubao_thinking(base: str) -> None:
    completion = sdk(base, "doubao").chat.completions.create(
        model="doubao-seed-1-6-251015", messages=HELLO, extra_body={"thinking": {"type": "enabled"}}
    )
    assert completion.choices[0].message.model_extra["reasoning_content"].startswith("Thinking about:")
    assert completion.usage.completion_tokens_details.reasoning_tokens == 20


# --- other request features ---------------------------------------------------------------------


def test_json_modes(base: str) -> None:
    create = sdk(base, "openai").chat.completions.create
    plain = create(model="m", messages=HELLO, response_format={"type": "json_object"})
    assert json.loads(plain.choices[0].message.content)["echo"].startswith("Hello there")
    schema = {"type": "object", "properties": {"city": {"type": "string"}, "temp": {"type": "number"},
                                               "tags": {"type": "array", "items": {"type": "string"}}}}
    shaped = create(model="m", messages=HELLO,
                    response_format={"type": "json_schema", "json_schema": {"name": "w", "schema": schema}})
    assert json.loads(shaped.choices[0].message.content) == {"city": "Tokyo", "temp": 1, "tags": ["Tokyo"]}


def test_max_tokens_cuts_the_reply(base: str) -> None:
    completion = sdk(base, "openai").chat.completions.create(model="m", messages=HELLO, max_tokens=4)
    assert completion.choices[0].finish_reason == "length"
    assert completion.choices[0].message.content == "Echo: Hello there, how"
    assert completion.usage.completion_tokens == 4


def test_n_choices_stream_interleaved(http: httpx.Client) -> None:
    events = stream_raw(http, "openai", {"messages": HELLO, "n": 2}, **{"x-emulator-chunks": "3"})
    indices = [e["choices"][0]["index"] for e in events[:-1]]
    assert indices == [0, 1, 0, 1, 0, 1, 0, 1, 0, 1]
    texts = ["".join(e["choices"][0]["delta"].get("content") or "" for e in events[:-1]
                     if e["choices"][0]["index"] == i) for i in (0, 1)]
    assert texts[0].startswith("Echo:") and texts[1].startswith("Echo[1]:")


def test_content_parts_are_reported(base: str) -> None:
    parts = [
        {"type": "text", "text": "Describe these"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
    ]
    completion = sdk(base, "dashscope").chat.completions.create(
        model="qwen-vl-plus", messages=[{"role": "user", "content": parts}]
    )
    assert "[saw: image_url, input_audio]" in completion.choices[0].message.content


def test_models_list(http: httpx.Client) -> None:
    for flavour in PREFIXES:
        body = http.get(PREFIXES[flavour] + "/models").json()
        assert body["object"] == "list" and MODELS[flavour] in {m["id"] for m in body["data"]}


# --- errors -----------------------------------------------------------------------------------


def test_auth_errors_per_provider(base: str) -> None:
    url = base + chat_path("openai")
    wrong = httpx.post(url, json={"model": "m", "messages": HELLO}, headers={"Authorization": "Bearer sk-wrong-key"})
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "invalid_api_key" and wrong.json()["error"]["param"] is None
    assert "Incorrect API key provided" in wrong.json()["error"]["message"]
    with pytest.raises(openai.AuthenticationError):
        OpenAI(base_url=base + PREFIXES["openai"], api_key="nope", max_retries=0).models.list()
    dash = httpx.post(base + chat_path("dashscope"), json={"model": "m", "messages": HELLO}).json()
    assert dash == {"error": {"message": "Incorrect API key provided. ", "type": "invalid_request_error",
                              "param": None, "code": "invalid_api_key"}}
    seek = httpx.post(base + chat_path("deepseek"), json={}, headers={"Authorization": "Bearer x"}).json()
    assert seek["error"]["type"] == "authentication_error"
    ark = httpx.post(base + chat_path("doubao"), json={}).json()
    assert ark["error"]["code"] == "AuthenticationError" and ark["error"]["param"] == ""


def test_bad_requests(http: httpx.Client) -> None:
    malformed = http.post(chat_path("openai"), content=b"{not json", headers={"Content-Type": "application/json"})
    assert malformed.status_code == 400 and malformed.json()["error"]["type"] == "invalid_request_error"
    missing = http.post(chat_path("openai"), json={"model": "m"})
    assert missing.status_code == 400 and missing.json()["error"]["param"] == "messages"
    empty = http.post(chat_path("openai"), json={"model": "m", "messages": []})
    assert empty.json()["error"]["code"] == "empty_array"


def test_scripted_500_and_429(base: str) -> None:
    script(base, {"status": 500}, {"match": {"path_prefix": "/deepseek"}, "status": 429})
    with pytest.raises(openai.InternalServerError) as server_error:
        sdk(base, "openai").chat.completions.create(model="m", messages=HELLO)
    assert server_error.value.body["type"] == "server_error"
    with pytest.raises(openai.RateLimitError) as limited:
        sdk(base, "deepseek").chat.completions.create(model="deepseek-chat", messages=HELLO)
    assert limited.value.response.headers["retry-after"] == "1"
    assert sdk(base, "openai").chat.completions.create(model="m", messages=HELLO).choices[0].message.content


def test_scripted_rules_match_times_and_bodies(base: str, http: httpx.Client) -> None:
    script(base,
           {"match": {"model": "flaky"}, "times": -1, "status": 503},
           {"times": 2, "status": 418, "body": {"custom": True}, "headers": {"x-why": "teapot"}},
           {"content": "scripted words only", "chunks": 3})
    for _ in range(2):
        assert http.post(chat_path("doubao"), json={"model": "flaky", "messages": HELLO}).status_code == 503
    teapot = http.post(chat_path("openai"), json={"model": "m", "messages": HELLO})
    assert teapot.status_code == 418 and teapot.json() == {"custom": True} and teapot.headers["x-why"] == "teapot"
    assert http.post(chat_path("openai"), json={"model": "m", "messages": HELLO}).status_code == 418
    events = stream_raw(http, "openai", {"messages": HELLO})
    assert [e["choices"][0]["delta"].get("content") for e in events[1:4]] == ["scripted", " words", " only"]
    assert len(httpx.get(f"{base}/_emulator/script").json()) == 1
    bad = httpx.post(f"{base}/_emulator/script", json=[{"stauts": 500}])
    assert bad.status_code == 400 and "stauts" in bad.json()["error"]


def test_cut_after_drops_the_connection(base: str, http: httpx.Client) -> None:
    script(base, {"cut_after": 3})
    received = b""
    with pytest.raises(httpx.TransportError):
        with http.stream("POST", chat_path("openai"), json={"model": "m", "messages": HELLO, "stream": True}) as r:
            for data in r.iter_bytes():
                received += data
    events = sse(received.decode())
    assert len(events) == 3 and "[DONE]" not in events


def test_stall_after_hangs_and_notices_the_client_leaving(base: str, http: httpx.Client) -> None:
    script(base, {"stall_after": 2})
    received = b""
    with pytest.raises(httpx.ReadTimeout):
        with http.stream("POST", chat_path("dashscope"), json={"model": "m", "messages": HELLO, "stream": True},
                         timeout=httpx.Timeout(5, read=0.5)) as r:
            for data in r.iter_bytes():
                received += data
    assert len(sse(received.decode())) == 2
    assert _eventually(lambda: requests_seen(base)[-1]["disconnected"] is True)


def test_linger_holds_the_body_open_after_the_last_event(base: str, http: httpx.Client) -> None:
    script(base, {"linger": 3})
    received = b""
    with pytest.raises(httpx.ReadTimeout):
        with http.stream("POST", chat_path("openai"), json={"model": "m", "messages": HELLO, "stream": True},
                         timeout=httpx.Timeout(5, read=0.5)) as r:
            for data in r.iter_bytes():
                received += data
    assert received.endswith(b"data: [DONE]\n\n")  # the whole answer came; its end did not


def test_client_disconnect_mid_stream_is_recorded(base: str, http: httpx.Client) -> None:
    script(base, {"chunk_delay": 0.05})
    with http.stream("POST", chat_path("openai"), json={"model": "m", "messages": HELLO, "stream": True}) as r:
        next(r.iter_lines())
    assert _eventually(lambda: requests_seen(base)[-1]["disconnected"] is True)
    stream_raw(http, "openai", {"messages": HELLO})
    assert requests_seen(base)[-1]["disconnected"] is False


def test_delay_and_keepalive(base: str, http: httpx.Client) -> None:
    script(base, {"delay": 0.3, "keepalive": True, "chunks": 2})
    started = time.monotonic()
    response = http.post(chat_path("deepseek"), json={"model": "deepseek-chat", "messages": HELLO, "stream": True})
    assert time.monotonic() - started >= 0.3
    assert response.text.count(": keep-alive\n\n") == len(sse(response.text)) - 1


# --- recording and entry points ----------------------------------------------------------------


def test_recording(base: str, http: httpx.Client) -> None:
    http.post(chat_path("doubao"), json={"model": "m", "messages": HELLO, "extra_param": 1},
              headers={"X-Trace": "abc"})
    http.post(chat_path("openai"), content=b"not json")
    first, second = requests_seen(base)
    assert first["path"] == chat_path("doubao") and first["method"] == "POST"
    assert first["headers"]["x-trace"] == "abc" and first["headers"]["authorization"] == f"Bearer {KEY}"
    assert first["body"]["extra_param"] == 1 and first["raw"] is None
    assert second["body"] is None and second["raw"] == "not json"
    httpx.delete(f"{base}/_emulator/requests").raise_for_status()
    assert requests_seen(base) == []


def test_health(base: str) -> None:
    assert httpx.get(f"{base}/_emulator/health").status_code == 200


def test_start_emulator_in_process() -> None:
    program = (
        "import asyncio, httpx\n"
        "from relaygate.emulator import start_emulator\n"
        "async def main():\n"
        "    runner, port = await start_emulator(keys=['k'], record=False)\n"
        "    async with httpx.AsyncClient() as c:\n"
        "        r = await c.post(f'http://127.0.0.1:{port}/v1/chat/completions',\n"
        "                         headers={'Authorization': 'Bearer k'},\n"
        "                         json={'model': 'm', 'messages': [{'role': 'user', 'content': 'hi'}]})\n"
        "        print(r.status_code, (await c.get(f'http://127.0.0.1:{port}/_emulator/requests')).json())\n"
        "    await runner.cleanup()\n"
        "asyncio.run(main())\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, env=_env(), timeout=20)
    assert done.stdout.strip() == "200 []", done.stderr


def _eventually(check: Any, seconds: float = 3.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False

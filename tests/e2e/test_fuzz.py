"""Thousands of malformed bodies against the real server: never a 500, always an OpenAI-shaped answer."""

from __future__ import annotations

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.e2e.conftest import CLIENT_KEY

json_scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
KNOWN = ["model", "messages", "stream", "stream_options", "temperature", "top_p", "max_tokens", "n", "stop",
         "tools", "tool_choice", "response_format", "thinking", "seed", "logprobs", "provider", "user"]
messages = st.lists(
    st.fixed_dictionaries({"role": st.sampled_from(["user", "system", "assistant", "tool", "x", 3]),
                           "content": json_values}),
    max_size=3,
)
chat_like = st.fixed_dictionaries(
    {"model": st.sampled_from(["chat-default", "deepseek-chat", "nope", "", "a/b", 7]) | json_values,
     "messages": messages | json_values},
    optional={name: json_values for name in KNOWN[2:]},
)


@pytest.fixture(scope="module")
def http(gateway):
    with httpx.Client(base_url=gateway.base, headers={"Authorization": f"Bearer {CLIENT_KEY}"}, timeout=30) as c:
        yield c


def assert_shaped(response: httpx.Response) -> None:
    assert response.status_code != 500 and response.status_code < 600, response.text
    body = orjson.loads(response.content) if response.headers["content-type"].startswith("application/json") else None
    if response.status_code >= 400:
        assert isinstance(body, dict) and isinstance(body.get("error"), dict), response.text
        assert isinstance(body["error"].get("message"), str) and "type" in body["error"] and "code" in body["error"]
    elif body is None:
        assert response.text.rstrip().endswith(("data: [DONE]", "}"))


FUZZ = settings(max_examples=1200, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


@FUZZ
@given(body=chat_like)
def test_structured_garbage(http, body):
    assert_shaped(http.post("/v1/chat/completions", content=orjson.dumps(body)))


@FUZZ
@given(raw=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_raw_bytes(http, raw):
    assert_shaped(http.post("/v1/chat/completions", content=raw))


@settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(value=json_values, path=st.sampled_from(["/v1/chat/completions", "/deepseek/v1/chat/completions",
                                                 "/compat/v1/chat/completions"]))
def test_any_json_document(http, value, path):
    assert_shaped(http.post(path, content=orjson.dumps(value)))

"""Per-key rate limits through the real server: RPM, TPM and concurrency, with OpenAI's headers."""

from __future__ import annotations

import concurrent.futures

import httpx
import openai
import orjson
import pytest

from tests.e2e.conftest import CLIENT_KEY, RPM_KEY, SLOTS_KEY, TPM_KEY

USER = {"role": "user", "content": "Hello"}


@pytest.fixture
def gateway(governed_gateway):
    """These tests run on SQLite and on PostgreSQL: a gateway on a fresh database of each kind."""
    return governed_gateway


def chat(gateway, key: str, **body) -> httpx.Response:
    return httpx.post(f"{gateway.base}/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                      json={"model": "chat-default", "messages": [USER], **body}, timeout=30)


def test_a_burst_over_the_rpm_admits_exactly_the_limit(gateway, emulator):
    responses = [chat(gateway, RPM_KEY) for _ in range(8)]
    assert [r.status_code for r in responses] == [200] * 5 + [429] * 3
    assert [r.headers["x-ratelimit-remaining-requests"] for r in responses[:5]] == ["4", "3", "2", "1", "0"]
    assert all(r.headers["x-ratelimit-limit-requests"] == "5" for r in responses)
    refused = responses[-1]
    assert refused.json()["error"]["code"] == "rate_limit_exceeded" and int(refused.headers["retry-after"]) >= 1
    assert len(emulator.requests()) == 5  # refused requests never went upstream


def test_the_sdk_sees_a_rate_limit_error(gateway):
    client = gateway.client(key=RPM_KEY)
    with pytest.raises(openai.RateLimitError):
        for _ in range(8):
            client.chat.completions.create(model="chat-default", messages=[USER])


def test_tpm_reserves_an_estimate_and_settles_with_real_usage(gateway, emulator):
    """Admission reserves len(body) / 4 tokens; the end of the answer charges its real total instead."""
    auth = {"Authorization": f"Bearer {TPM_KEY}", "Content-Type": "application/json"}
    stream_body = orjson.dumps({"model": "reasoner", "messages": [USER], "stream": True,
                                "stream_options": {"include_usage": True}})
    with httpx.stream("POST", f"{gateway.base}/v1/chat/completions", headers=auth, content=stream_body) as streamed:
        assert streamed.status_code == 200 and streamed.headers["x-ratelimit-limit-tokens"] == "300"
        lines = [line for line in streamed.iter_lines() if line.startswith("data: {")]
    stream_total = orjson.loads(lines[-1][6:])["usage"]["total_tokens"]
    body = orjson.dumps({"model": "chat-default", "messages": [USER]})
    after = httpx.post(f"{gateway.base}/v1/chat/completions", headers=auth, content=body)
    expected = 300 - stream_total - len(body) // 4  # the stream's real usage, this request's estimate
    assert abs(int(after.headers["x-ratelimit-remaining-tokens"]) - expected) <= 2  # tokens refill 5/s
    second = httpx.post(f"{gateway.base}/v1/chat/completions", headers=auth, content=body)
    expected -= after.json()["usage"]["total_tokens"]
    assert abs(int(second.headers["x-ratelimit-remaining-tokens"]) - expected) <= 2
    statuses = [httpx.post(f"{gateway.base}/v1/chat/completions", headers=auth, content=body).status_code
                for _ in range(20)]
    assert statuses[:3] == [200] * 3 and statuses.count(429) >= 5


def test_concurrency_limit(gateway, emulator):
    emulator.script({"times": -1, "delay": 0.5})
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        statuses = sorted(pool.map(lambda _: chat(gateway, SLOTS_KEY).status_code, range(3)))
    assert statuses == [200, 429, 429]
    emulator.reset()
    assert chat(gateway, SLOTS_KEY).status_code == 200  # the slot was given back


def test_unlimited_keys_carry_no_rate_limit_headers(gateway):
    response = chat(gateway, CLIENT_KEY)
    assert not [h for h in response.headers if h.startswith("x-ratelimit")]

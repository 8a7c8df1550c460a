"""Routing and resilience through the real server: fallback, retries, provider preferences,
weights, live latency, circuit breaking and provider keys, with the emulator's fault modes."""

from __future__ import annotations

import collections
import time

import httpx
import openai
import pytest

from tests.e2e.conftest import CLIENT_KEY, UPSTREAM_KEYS, start_gateway

USER = {"role": "user", "content": "Hello"}
K1, K2 = UPSTREAM_KEYS["openai"], UPSTREAM_KEYS["deepseek"]


def routing_config(e: str) -> str:
    return f"""
providers:
  a:
    type: openai
    base_url: {e}/openai/v1
    api_key: {K1}
    timeout: {{connect: 1, first_token: 1, idle: 1, total: 2}}
  b:
    type: deepseek
    base_url: {e}/deepseek/v1
    api_key: {K2}
  c:
    type: dashscope
    base_url: {e}/dashscope/compatible-mode/v1
    api_key: {UPSTREAM_KEYS['alibaba']}
  multikey:
    type: openai
    base_url: {e}/openai/v1
    api_keys: [{K1}, {K2}]
models:
  m:
    - {{provider: a, model: m-a, price: {{input: 5, output: 10}}}}
    - {{provider: b, model: m-b, price: {{input: 1, output: 2}}}}
  w:
    - {{provider: a, model: w-a, weight: 3}}
    - {{provider: b, model: w-b, weight: 1}}
  lat:
    - {{provider: a, model: lat-a}}
    - {{provider: b, model: lat-b}}
  solo:
    - {{provider: a, model: solo-a}}
  other:
    - {{provider: c, model: other-c}}
  mk:
    - {{provider: multikey, model: mk}}
  h:
    - {{provider: a, model: h-a}}
    - {{provider: b, model: h-b}}
keys:
  - {{key: {CLIENT_KEY}, name: tests}}
routing:
  max_attempts: 3
  deadline: 10
  backoff: {{initial: 0.01, max: 0.2}}
  circuit: {{failures: 3, cooldown: 1}}
  hedge: {{h: 0.2}}
"""


@pytest.fixture(scope="module")
def gw(emulator, tmp_path_factory):
    with start_gateway(routing_config(emulator.base), tmp_path_factory.mktemp("routing")) as gateway:
        yield gateway


def chat(gw, body: dict, **headers) -> httpx.Response:
    return httpx.post(f"{gw.base}/v1/chat/completions", json={"messages": [USER], **body},
                      headers={"Authorization": f"Bearer {CLIENT_KEY}", **headers}, timeout=30)


def heal(gw, emulator) -> None:
    """Let open circuits cool down and close them again with good answers, for the next test."""
    emulator.reset()
    time.sleep(1.1)
    for provider in ("a", "b"):
        assert chat(gw, {"model": "m", "provider": {"only": [provider]}}).status_code == 200
    emulator.reset()


def upstream_models(emulator) -> list[str]:
    return [r["body"]["model"] for r in emulator.requests()]


@pytest.mark.parametrize("fault", [
    {"status": 500}, {"status": 503}, {"status": 429}, {"delay": 3}, {"cut_after": 0},
])
@pytest.mark.parametrize("stream", [False, True])
def test_a_failing_deployment_falls_back_to_the_next(gw, emulator, fault, stream):
    emulator.script({"match": {"model": "m-a"}, "times": -1, **fault})
    response = chat(gw, {"model": "m", "stream": stream})
    assert response.status_code == 200, response.text
    assert response.headers["x-relaygate-provider"] == "b"
    assert response.headers["x-relaygate-attempts"] == "2"
    assert upstream_models(emulator) == ["m-a", "m-b"]
    if stream:
        assert response.text.rstrip().endswith("data: [DONE]")
    emulator.reset()
    assert chat(gw, {"model": "m", "provider": {"only": ["a"]}}).status_code == 200  # a is well again


def test_retries_the_same_deployment_with_backoff_when_it_is_the_only_one(gw, emulator):
    emulator.script({"match": {"model": "solo-a"}, "times": 2, "status": 503})
    response = chat(gw, {"model": "solo"})
    assert response.status_code == 200 and response.headers["x-relaygate-attempts"] == "3"
    assert upstream_models(emulator) == ["solo-a"] * 3


def test_client_errors_are_not_retried(gw, emulator):
    emulator.script({"match": {"model": "m-a"}, "times": -1, "status": 400})
    response = chat(gw, {"model": "m"})
    assert response.status_code == 400 and upstream_models(emulator) == ["m-a"]


def test_a_stream_that_already_began_is_never_retried(gw, emulator):
    emulator.script({"match": {"model": "m-a"}, "times": -1, "cut_after": 3})
    client = openai.OpenAI(base_url=gw.base + "/v1", api_key=CLIENT_KEY, max_retries=0)
    received = []
    with pytest.raises(openai.APIError):
        for chunk in client.chat.completions.create(model="m", messages=[USER], stream=True):
            received.append(chunk)
    assert received and upstream_models(emulator) == ["m-a"]


@pytest.mark.parametrize(("provider", "first"), [
    ({"order": ["b", "a"]}, "m-b"),
    ({"only": ["b"]}, "m-b"),
    ({"ignore": ["a"]}, "m-b"),
    ({"sort": "price"}, "m-b"),
    ({"sort": {"by": "price"}}, "m-b"),
    ({"max_price": {"prompt": 2}}, "m-b"),
    ({}, "m-a"),
])
def test_provider_preferences_choose_the_deployment(gw, emulator, provider, first):
    response = chat(gw, {"model": "m", "provider": provider})
    assert response.status_code == 200 and upstream_models(emulator)[0] == first
    assert "provider" not in emulator.last()["body"]


def test_only_the_preferred_providers_when_fallbacks_are_off(gw, emulator):
    emulator.script({"match": {"model": "m-a"}, "times": -1, "status": 500})
    response = chat(gw, {"model": "m", "provider": {"allow_fallbacks": False}})
    assert response.status_code == 502 and set(upstream_models(emulator)) == {"m-a"}
    emulator.reset()
    emulator.script({"match": {"model": "m-b"}, "times": -1, "status": 500})
    response = chat(gw, {"model": "m", "provider": {"order": ["b"], "allow_fallbacks": False}})
    assert response.status_code == 502 and set(upstream_models(emulator)) == {"m-b"}
    heal(gw, emulator)


def test_require_parameters_keeps_only_deployments_that_support_them(gw, emulator):
    response = chat(gw, {"model": "m", "seed": 7, "provider": {"order": ["b"], "require_parameters": True}})
    assert response.status_code == 200 and upstream_models(emulator) == ["m-a"]  # deepseek takes no seed


@pytest.mark.parametrize(("provider", "param"), [
    ("cheapest", "provider"),
    ({"sort": "cheapest"}, "provider.sort"),
    ({"order": ["nobody"]}, "provider.order"),
    ({"only": "a"}, "provider.only"),
    ({"allow_fallbacks": "no"}, "provider.allow_fallbacks"),
    ({"max_price": {"prompt": -1}}, "provider.max_price.prompt"),
    ({"max_price": 3}, "provider.max_price"),
    ({"fastest": True}, "provider"),
])
def test_invalid_preferences_are_400(gw, emulator, provider, param):
    response = chat(gw, {"model": "m", "provider": provider})
    assert response.status_code == 400 and response.json()["error"]["param"] == param
    assert emulator.requests() == []


def test_no_deployment_within_max_price_is_400(gw):
    response = chat(gw, {"model": "m", "provider": {"max_price": {"prompt": 0.5}}})
    assert response.status_code == 400 and response.json()["error"]["code"] == "no_matching_deployment"


def test_models_array_falls_back_to_the_next_model(gw, emulator):
    emulator.script({"match": {"model": "solo-a"}, "times": -1, "status": 500})
    response = chat(gw, {"model": "solo", "models": ["other"]})
    assert response.status_code == 200 and response.headers["x-relaygate-provider"] == "c"
    assert upstream_models(emulator)[-1] == "other-c" and "models" not in emulator.last()["body"]
    heal(gw, emulator)
    assert chat(gw, {"model": "solo", "models": "other"}).status_code == 400
    assert chat(gw, {"model": "solo", "models": ["nope"]}).status_code == 404


def test_weights_share_the_traffic(gw, emulator):
    for _ in range(200):
        assert chat(gw, {"model": "w"}).status_code == 200
    counts = collections.Counter(upstream_models(emulator))
    assert 0.62 <= counts["w-a"] / 200 <= 0.88, counts  # weight 3 : 1 → 75 %


def test_sort_by_latency_follows_live_measurements(gw, emulator):
    emulator.script({"match": {"model": "lat-a"}, "times": -1, "delay": 0.25})
    for _ in range(3):
        chat(gw, {"model": "lat", "provider": {"only": ["a"]}})
        chat(gw, {"model": "lat", "provider": {"only": ["b"]}})
    emulator.reset()
    assert chat(gw, {"model": "lat", "provider": {"sort": "latency"}}).headers["x-relaygate-provider"] == "b"
    emulator.script({"match": {"model": "lat-b"}, "times": -1, "delay": 0.6})
    for _ in range(8):
        chat(gw, {"model": "lat", "provider": {"only": ["b"]}})
    assert chat(gw, {"model": "lat", "provider": {"sort": "latency"}}).headers["x-relaygate-provider"] == "a"


def test_circuit_opens_then_probes_and_closes(gw, emulator):
    assert chat(gw, {"model": "solo"}).status_code == 200  # no failures counted from earlier tests
    emulator.reset()
    emulator.script({"match": {"model": "solo-a"}, "times": -1, "status": 500})
    assert chat(gw, {"model": "solo"}).status_code == 502  # three failures open the circuit
    assert len(emulator.requests()) == 3
    refused = chat(gw, {"model": "solo"})
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "no_healthy_upstream"
    assert len(emulator.requests()) == 3  # nothing was sent while the circuit was open
    time.sleep(1.1)
    emulator.reset()
    assert chat(gw, {"model": "solo"}).status_code == 200  # the probe succeeds: closed again
    assert chat(gw, {"model": "solo"}).status_code == 200


def test_a_rejected_provider_key_is_taken_out_and_the_next_key_used(gw, emulator):
    emulator.script({"match": {"model": "mk"}, "times": 1, "status": 401})
    for _ in range(4):
        assert chat(gw, {"model": "mk"}).status_code == 200
    keys = [r["headers"]["authorization"].removeprefix("Bearer ") for r in emulator.requests()]
    assert keys[0] != keys[1] and len(set(keys[1:])) == 1  # the rejected one is not used again
    assert "rejected its API key #" in gw.log() and K1 not in gw.log() and K2 not in gw.log()


@pytest.mark.parametrize("stream", [False, True])
def test_hedging_starts_the_next_deployment_when_the_first_is_slow(gw, emulator, stream):
    emulator.script({"match": {"model": "h-a"}, "times": 1, "delay": 1.5})
    started = time.monotonic()
    response = chat(gw, {"model": "h", "stream": stream})
    elapsed = time.monotonic() - started
    assert response.status_code == 200 and response.headers["x-relaygate-provider"] == "b"
    assert response.headers["x-relaygate-attempts"] == "2"
    assert elapsed < 1.2  # b answered; nobody waited for a's 1.5 s
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and not emulator.requests()[0].get("disconnected"):
        time.sleep(0.05)
    first, second = emulator.requests()
    assert (first["body"]["model"], first["disconnected"]) == ("h-a", True)  # the loser was cancelled
    assert second["body"]["model"] == "h-b"


def test_no_hedge_when_the_first_deployment_is_quick(gw, emulator):
    response = chat(gw, {"model": "h"})
    assert response.headers["x-relaygate-provider"] == "a" and upstream_models(emulator) == ["h-a"]


def test_every_attempt_is_in_the_usage_record(gw, emulator):
    import json
    import sqlite3

    emulator.script({"match": {"model": "m-a"}, "times": 1, "status": 503})
    response = chat(gw, {"model": "m"}, **{"x-request-id": "fallback-usage-1"})
    assert response.status_code == 200
    deadline = time.monotonic() + 5
    row = None
    while row is None and time.monotonic() < deadline:
        time.sleep(0.2)
        with sqlite3.connect(gw.workdir / "relaygate.db") as db:
            row = db.execute("SELECT provider, upstream_model, status, attempts, completion_tokens FROM "
                             "usage_records WHERE client_request_id = 'fallback-usage-1'").fetchone()
    provider, upstream_model, status, attempts, completion_tokens = row
    assert (provider, upstream_model, status) == ("b", "m-b", 200) and completion_tokens > 0
    assert [(a["provider"], a["model"], a["status"]) for a in json.loads(attempts)] == [
        ("a", "m-a", 502), ("b", "m-b", 200)]  # the upstream 503, as the gateway classed it

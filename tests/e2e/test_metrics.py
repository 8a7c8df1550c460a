"""GET /metrics through the real server: known traffic from the openai SDK (an answer, a stream,
4xx errors, an upstream failure that falls back), then the exact counters and label sets scraped."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.e2e.conftest import CLIENT_KEY, UPSTREAM_KEYS, start_gateway
from tests.observability.exposition import parse_exposition, samples

USER = {"role": "user", "content": "Hello"}
K = UPSTREAM_KEYS["openai"]
PRICE = {"input": 2.0, "output": 8.0}  # USD per 1M tokens


def metrics_config(e: str) -> str:
    return f"""
database: null                   # the core path: tokens of whole answers are still counted
providers:
  primary:
    type: openai
    base_url: {e}/openai/v1
    api_key: {K}
  backup:
    type: openai
    base_url: {e}/openai/v1
    api_key: {K}
models:
  chat:
    - {{provider: primary, model: chat-a, price: {{input: {PRICE['input']}, output: {PRICE['output']}}}}}
    - {{provider: backup, model: chat-b, price: {{input: {PRICE['input']}, output: {PRICE['output']}}}}}
keys:
  - {{key: {CLIENT_KEY}, name: team-a}}
routing:
  max_attempts: 2
  backoff: {{initial: 0.01, max: 0.1}}
  circuit: {{failures: 1, cooldown: 600}}
"""


@pytest.fixture(scope="module")
def gw(emulator, tmp_path_factory):
    with start_gateway(metrics_config(emulator.base), tmp_path_factory.mktemp("metrics")) as gateway:
        yield gateway


def scrape(gw) -> dict:
    response = httpx.get(f"{gw.base}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse_exposition(response.text)


def test_counters_after_known_traffic(gw, emulator):
    client = gw.client()
    answer = client.chat.completions.create(model="chat", messages=[USER])
    stream = client.chat.completions.create(model="chat", messages=[USER], stream=True,
                                            stream_options={"include_usage": True})
    streamed_usage = [chunk.usage for chunk in stream if chunk.usage][-1]
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="no-such-model", messages=[USER])
    with pytest.raises(openai.AuthenticationError):
        gw.client(key="sk-not-a-key-000000").chat.completions.create(model="chat", messages=[USER])
    unlisted = client.chat.completions.create(model="primary/some-unlisted-model", messages=[USER])
    emulator.script({"match": {"model": "chat-a"}, "times": 1, "status": 503})
    fell_back = client.chat.completions.create(model="chat", messages=[USER])

    families = scrape(gw)
    assert samples(families, "relaygate_requests_total") == {
        (("code", "none"), ("model", "chat"), ("provider", "primary"), ("status_class", "2xx")): 2,
        (("code", "none"), ("model", "chat"), ("provider", "backup"), ("status_class", "2xx")): 1,
        (("code", "none"), ("model", "other"), ("provider", "primary"), ("status_class", "2xx")): 1,
        (("code", "model_not_found"), ("model", "other"), ("provider", "none"), ("status_class", "4xx")): 1,
        (("code", "invalid_api_key"), ("model", "other"), ("provider", "none"), ("status_class", "4xx")): 1,
    }
    assert samples(families, "relaygate_upstream_attempts_total") == {
        (("outcome", "ok"), ("provider", "primary")): 3,
        (("outcome", "upstream_error"), ("provider", "primary")): 1,
        (("outcome", "ok"), ("provider", "backup")): 1,
    }
    assert samples(families, "relaygate_fallbacks_total") == {
        (("from_provider", "primary"), ("model", "chat"), ("to_provider", "backup")): 1,
    }
    primary = [answer.usage, streamed_usage]
    expected_tokens = {
        ("chat", "primary", "prompt"): sum(u.prompt_tokens for u in primary),
        ("chat", "primary", "completion"): sum(u.completion_tokens for u in primary),
        ("other", "primary", "prompt"): unlisted.usage.prompt_tokens,
        ("other", "primary", "completion"): unlisted.usage.completion_tokens,
        ("chat", "backup", "prompt"): fell_back.usage.prompt_tokens,
        ("chat", "backup", "completion"): fell_back.usage.completion_tokens,
    }
    assert samples(families, "relaygate_tokens_total") == {
        (("key", "team-a"), ("kind", kind), ("model", model), ("provider", provider)): count
        for (model, provider, kind), count in expected_tokens.items()
    }
    cost = samples(families, "relaygate_cost_usd_total")
    assert set(cost) == {(("key", "team-a"), ("model", "chat"), ("provider", p)) for p in ("primary", "backup")}
    spent = sum(u.prompt_tokens * PRICE["input"] + u.completion_tokens * PRICE["output"] for u in primary) / 1e6
    assert cost[(("key", "team-a"), ("model", "chat"), ("provider", "primary"))] == pytest.approx(spent)

    durations = samples(families, "relaygate_request_duration_seconds_count")
    assert durations == {
        (("model", "chat"), ("provider", "primary"), ("stream", "false")): 1,
        (("model", "chat"), ("provider", "primary"), ("stream", "true")): 1,
        (("model", "other"), ("provider", "primary"), ("stream", "false")): 1,
        (("model", "chat"), ("provider", "backup"), ("stream", "false")): 1,
    }
    assert samples(families, "relaygate_time_to_first_token_seconds_count") == {
        (("model", "chat"), ("provider", "primary")): 1,
    }
    buckets = samples(families, "relaygate_request_duration_seconds_bucket")
    assert buckets[(("le", "+Inf"), ("model", "chat"), ("provider", "primary"), ("stream", "true"))] == 1
    # one failure opens the primary's circuit (failures: 1); the backup's stays closed
    assert samples(families, "relaygate_circuit_state") == {
        (("model", "chat-a"), ("provider", "primary")): 2,
        (("model", "chat-b"), ("provider", "backup")): 0,
    }
    assert samples(families, "relaygate_requests_in_flight") == {(): 0}
    assert samples(families, "relaygate_streams_in_flight") == {(): 0}
    assert "relaygate_usage_journal_backlog_bytes" not in families  # no database, no journal
    assert "relaygate_redis_up" not in families  # no Redis configured


def test_a_stream_in_flight_is_counted_until_it_ends(gw, emulator):
    emulator.script({"match": {"stream": True}, "times": 1, "chunks": 10, "chunk_delay": 0.5})
    stream = gw.client().chat.completions.create(model="chat", messages=[USER], stream=True)
    next(iter(stream))
    families = scrape(gw)
    assert samples(families, "relaygate_streams_in_flight") == {(): 1}
    assert samples(families, "relaygate_requests_in_flight") == {(): 1}
    list(stream)
    families = scrape(gw)
    assert samples(families, "relaygate_streams_in_flight") == {(): 0}

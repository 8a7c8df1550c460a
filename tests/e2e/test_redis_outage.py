"""Redis goes away under two running gateways and comes back: they serve on local limits meanwhile,
say so in their logs (naming Redis, never its password), and share the limits again afterwards."""

from __future__ import annotations

import time
from contextlib import ExitStack

import httpx
import redis
from _redis import RedisServer

from tests.e2e.conftest import UPSTREAM_KEYS, start_gateway
from tests.observability.exposition import parse_exposition

PASSWORD = "redis-secret-hunter2"
KEY = "sk-test-outage-key-001"
USER = {"role": "user", "content": "Hello"}


def config(emulator_base: str, redis_url: str) -> str:
    return f"""
database: null
redis: {redis_url}
providers:
  up: {{type: openai, base_url: "{emulator_base}/openai/v1", api_key: {UPSTREAM_KEYS['openai']}}}
models:
  chat-default:
    - {{provider: up, model: gpt-4o-mini}}
keys:
  - {{key: {KEY}, name: outage, rpm: 4}}
"""


def statuses(instance, count: int) -> list[int]:
    return [httpx.post(f"{instance.base}/v1/chat/completions", headers={"Authorization": f"Bearer {KEY}"},
                       json={"model": "chat-default", "messages": [USER]}, timeout=30).status_code
            for _ in range(count)]


def redis_up(instance) -> float:
    return parse_exposition(httpx.get(f"{instance.base}/metrics").text)["relaygate_redis_up"][()]


def until_both_instances_beat(server: RedisServer) -> None:
    """Each gateway's watcher reconnects within a second or so and registers its instance."""
    client = redis.Redis(host="127.0.0.1", port=server.port, password=PASSWORD)
    deadline = time.monotonic() + 10
    while client.hlen("relaygate:limits:instances") < 2:
        assert time.monotonic() < deadline, "the gateways did not come back to Redis"
        time.sleep(0.05)
    client.close()


def test_local_limits_while_redis_is_away_and_shared_ones_again_after(emulator, tmp_path):
    server = RedisServer(password=PASSWORD)
    server.start()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with ExitStack() as stack:
        stack.callback(server.destroy)
        a, b = (stack.enter_context(start_gateway(config(emulator.base, server.url), folder))
                for folder in (tmp_path / "a", tmp_path / "b"))
        assert statuses(a, 2) + statuses(b, 2) + statuses(a, 1) == [200] * 4 + [429]  # one allowance for both
        assert redis_up(a) == redis_up(b) == 1

        server.stop()
        assert statuses(a, 5) == [200] * 4 + [429]  # a's own 4 per minute, in its memory
        assert statuses(b, 5) == [200] * 4 + [429]
        for instance in (a, b):
            assert f"Redis at redis://***@127.0.0.1:{server.port}/0 is unreachable" in instance.log()
            assert PASSWORD not in instance.log()
            assert redis_up(instance) == 0

        server.start()  # empty: the shared allowance starts full again
        until_both_instances_beat(server)
        assert redis_up(a) == redis_up(b) == 1
        assert statuses(a, 2) + statuses(b, 2) + statuses(b, 1) == [200] * 4 + [429]


def test_a_redis_that_lost_its_data_gets_the_budgets_spend_back_from_the_database(emulator, tmp_path):
    server = RedisServer()
    server.start()
    text = f"""
redis: {server.url}
providers:
  up: {{type: openai, base_url: "{emulator.base}/openai/v1", api_key: {UPSTREAM_KEYS['openai']}}}
models:
  priced:
    - {{provider: up, model: gpt-4o-mini, price: {{input: 1000, output: 2000}}}}
"""
    body = {"model": "priced", "messages": [USER], "max_tokens": 10}
    try:
        with start_gateway(text, tmp_path) as gateway:
            created = gateway.cli("keys", "create", "--name", "small", "--budget", "0.2")
            secret = created.stdout.strip().splitlines()[-1]
            auth = {"Authorization": f"Bearer {secret}"}
            deadline = time.monotonic() + 5
            while httpx.get(f"{gateway.base}/v1/models", headers=auth).status_code != 200:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            codes = [httpx.post(f"{gateway.base}/v1/chat/completions", headers=auth, json=body).status_code
                     for _ in range(20)]
            assert 200 in codes and codes[-1] == 429  # spent
        server.stop()
        server.start()  # empty
        with start_gateway(text, tmp_path) as gateway:
            refused = httpx.post(f"{gateway.base}/v1/chat/completions", headers=auth, json=body)
            assert refused.status_code == 429 and refused.json()["error"]["code"] == "insufficient_quota"
            seeded = redis.Redis(host="127.0.0.1", port=server.port).get("relaygate:budgets:small:total")
            assert seeded is not None and int(seeded) > 0  # Redis's counter, from the database's rollup
    finally:
        server.destroy()

"""Two `relaygate serve` processes on one PostgreSQL and one Redis, behind nginx (round robin): the
limits of a key hold across both, and a key revoked with the CLI stops on both within a second."""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import openai
import pytest
from _nginx import Nginx

from tests.e2e.conftest import UPSTREAM_KEYS, start_gateway

USER = {"role": "user", "content": "Hello"}


def config(emulator_base: str, database: str, redis: str) -> str:
    return f"""
database: {database}
redis: {redis}
providers:
  up: {{type: openai, base_url: "{emulator_base}/openai/v1", api_key: {UPSTREAM_KEYS['openai']}}}
models:
  chat-default:
    - {{provider: up, model: gpt-4o-mini}}
"""


class Cluster:
    def __init__(self, instances, balancer: Nginx) -> None:
        self.instances = instances
        self.base = balancer.base
        self.http = httpx.Client(base_url=self.base, timeout=30, limits=httpx.Limits(max_connections=64))

    def new_key(self, name: str, *flags: str) -> str:
        done = self.instances[0].cli("keys", "create", "--name", name, *flags)
        assert done.returncode == 0, done.stderr
        secret = done.stdout.strip().splitlines()[-1]
        for instance in self.instances:  # every instance picks the key up within a second
            eventually(instance.client(key=secret).models.list)
        return secret

    def chat(self, secret: str) -> httpx.Response:
        return self.http.post("/v1/chat/completions", headers={"Authorization": f"Bearer {secret}"},
                              json={"model": "chat-default", "messages": [USER]})


def eventually(check, seconds: float = 3.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            check()
            return
        except (AssertionError, openai.APIStatusError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@pytest.fixture(scope="module")
def cluster(emulator, postgres, redis_server, tmp_path_factory) -> Iterator[Cluster]:
    database = asyncio.run(postgres.create_database())
    text = config(emulator.base, database, redis_server.url)
    with ExitStack() as stack:
        instances = [stack.enter_context(start_gateway(text, tmp_path_factory.mktemp(f"instance{i}")))
                     for i in range(2)]
        balancer = Nginx([int(g.base.rsplit(":", 1)[1]) for g in instances])
        balancer.start()
        stack.callback(balancer.stop)
        yield Cluster(instances, balancer)


def test_a_burst_on_a_60_rpm_key_admits_60_across_both_instances(cluster):
    secret = cluster.new_key("burst", "--rpm", "60")
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(lambda _: cluster.chat(secret), range(150)))
    elapsed = time.monotonic() - started
    statuses = Counter(r.status_code for r in responses)
    assert set(statuses) == {200, 429}
    # one instance's own 60 would admit 120 of 150; shared, 60, plus what came back during the burst
    assert 60 <= statuses[200] <= 60 + int(elapsed)
    admitted_by = Counter(r.headers["x-served-by"] for r in responses if r.status_code == 200)
    assert len(admitted_by) == 2  # both instances admitted some
    for refused in (r for r in responses if r.status_code == 429):
        assert refused.json()["error"]["code"] == "rate_limit_exceeded"
        assert int(refused.headers["retry-after"]) >= 1 and refused.headers["x-ratelimit-limit-requests"] == "60"


def test_a_concurrency_limit_holds_across_both_instances(cluster, emulator):
    secret = cluster.new_key("slots", "--max-concurrency", "2")
    emulator.script({"times": -1, "delay": 2.0})
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(lambda _: cluster.chat(secret), range(6)))
    emulator.reset()
    assert sorted(r.status_code for r in responses) == [200, 200, 429, 429, 429, 429]
    assert len({r.headers["x-served-by"] for r in responses}) == 2
    assert all(r.json()["error"]["type"] == "concurrency" for r in responses if r.status_code == 429)

    def both_slots_free() -> None:  # settled in the background once each answer went out
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            assert [r.status_code for r in pool.map(lambda _: cluster.chat(secret), range(2))] == [200, 200]
    eventually(both_slots_free)


def test_a_key_revoked_with_the_cli_stops_on_both_instances_within_a_second(cluster):
    secret = cluster.new_key("leaving")
    assert cluster.instances[1].cli("keys", "revoke", "leaving").returncode == 0
    revoked_at = time.monotonic()

    def refused_everywhere() -> None:
        for instance in cluster.instances:
            try:
                instance.client(key=secret).chat.completions.create(model="chat-default", messages=[USER])
            except openai.AuthenticationError:
                continue
            raise AssertionError(f"{instance.base} still takes the revoked key")
    eventually(refused_everywhere)
    assert time.monotonic() - revoked_at < 1.5  # twice-a-second refresh, plus the CLI's own exit

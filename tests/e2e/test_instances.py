"""Two `relaygate serve` processes on one PostgreSQL and one Redis, behind nginx (round robin): the
limits of a key hold across both, and a key revoked with the CLI stops on both within a second."""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from decimal import Decimal

import httpx
import openai
import orjson
import pytest
from _nginx import Nginx

from relaygate.governance.budgets import max_cost
from relaygate.governance.limits import estimate_prompt_tokens
from relaygate.metering.price_table import ModelPrice
from tests.e2e.conftest import UPSTREAM_KEYS, start_gateway
from tests.e2e.test_database_keys import eventually

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
  priced:                         # a token costs $0.001 in, $0.002 out
    - {{provider: up, model: gpt-4o-mini, price: {{input: 1000, output: 2000}}}}
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
            eventually(instance.client(key=secret).models.list, 3.0)
        return secret

    def chat(self, secret: str, body: bytes = orjson.dumps({"model": "chat-default", "messages": [USER]})
             ) -> httpx.Response:
        return self.http.post("/v1/chat/completions", content=body,
                              headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"})


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


def burst(cluster: Cluster, secret: str, count: int) -> tuple[list[httpx.Response], float]:
    """`count` chats through nginx, 16 at a time; the answers and the seconds they took."""
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(lambda _: cluster.chat(secret), range(count)))
    return responses, time.monotonic() - started


def test_a_burst_on_a_60_rpm_key_admits_60_across_both_instances(cluster):
    secret = cluster.new_key("burst", "--rpm", "60")
    responses, elapsed = burst(cluster, secret, 150)
    statuses = Counter(r.status_code for r in responses)
    assert set(statuses) == {200, 429}
    # one instance's own 60 would admit 120 of 150; shared, 60, plus what came back during the burst
    assert 60 <= statuses[200] <= 60 + int(elapsed)
    admitted_by = Counter(r.headers["x-served-by"] for r in responses if r.status_code == 200)
    assert len(admitted_by) == 2  # both instances admitted some
    for refused in (r for r in responses if r.status_code == 429):
        assert refused.json()["error"]["code"] == "rate_limit_exceeded"
        assert int(refused.headers["retry-after"]) >= 1 and refused.headers["x-ratelimit-limit-requests"] == "60"


def test_a_large_rpm_key_is_shared_in_blocks_across_both_instances(cluster):
    """A 2,000 RPM key is leased in blocks of 2 requests (governance/leases.py): each instance admits
    from its block without asking Redis each time, and the two together still admit the key's 2,000,
    short of it by at most a block each held unused, plus what came back during the burst."""
    secret = cluster.new_key("leased", "--rpm", "2000")
    responses, elapsed = burst(cluster, secret, 2200)
    statuses = Counter(r.status_code for r in responses)
    assert set(statuses) == {200, 429}
    assert 2000 - 2 * 2 <= statuses[200] <= 2000 + int(elapsed * 2000 / 60) + 1
    admitted = [r for r in responses if r.status_code == 200]
    assert len({r.headers["x-served-by"] for r in admitted}) == 2
    assert all(r.headers["x-ratelimit-limit-requests"] == "2000" for r in responses)
    remaining = [int(r.headers["x-ratelimit-remaining-requests"]) for r in admitted]
    assert max(remaining) > 1900 and min(remaining) < 100  # counting down across the burst
    for refused in (r for r in responses if r.status_code == 429):
        assert refused.json()["error"]["code"] == "rate_limit_exceeded" and int(refused.headers["retry-after"]) >= 1


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
    eventually(both_slots_free, 3.0)


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
    eventually(refused_everywhere, 3.0)
    assert time.monotonic() - revoked_at < 1.5  # twice-a-second refresh, plus the CLI's own exit


def test_a_budget_holds_across_both_instances(cluster, emulator):
    budget = Decimal("0.1")
    secret = cluster.new_key("budgeted", "--budget", str(budget))
    body = orjson.dumps({"model": "priced", "messages": [USER], "max_tokens": 5})
    hold = max_cost([ModelPrice(Decimal(1000), Decimal(2000))], estimate_prompt_tokens(body), 5)
    at_once = int(budget / hold)  # what the gateways reserve for each request, and how many fit
    assert 1 <= at_once <= 5  # so that one instance alone would let in at_once, and two twice as many

    emulator.script({"times": -1, "delay": 2.0})
    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        burst = list(pool.map(lambda _: cluster.chat(secret, body), range(12)))
    emulator.reset()
    assert sum(r.status_code == 200 for r in burst) == at_once
    assert len({r.headers["x-served-by"] for r in burst}) == 2
    refused = [r for r in burst if r.status_code != 200]
    assert {(r.status_code, r.json()["error"]["code"]) for r in refused} == {(429, "insufficient_quota")}

    answers = [r for r in burst if r.status_code == 200]
    for _ in range(100):  # then one at a time, until the budget is spent
        response = cluster.chat(secret, body)
        if response.status_code != 200:
            assert response.json()["error"]["code"] == "insufficient_quota"
            break
        answers.append(response)
    else:
        raise AssertionError("the budget never ran out")
    spent = sum(Decimal(str(r.json()["usage"]["cost"])) for r in answers)
    assert budget - hold < spent <= budget  # spent down to less than one more request's hold

"""Budgets hold under concurrency, and every answer's usage carries its cost (openai SDK, real server)."""

from __future__ import annotations

import re
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import httpx
import openai
import pytest

from relaygate.metering.money import MONEY_SCALE
from tests.e2e.conftest import UPSTREAM_KEYS, Emulator, start_gateway
from tests.e2e.test_database_keys import eventually, new_key

USER = {"role": "user", "content": "Hello"}
PRICE = {"input": Decimal("1000"), "output": Decimal("2000")}  # USD per 1M tokens: a token costs $0.001 / $0.002


def config(emulator: Emulator) -> str:
    e = emulator.base
    return f"""
providers:
  openai:
    type: openai
    base_url: {e}/openai/v1
    api_key: {UPSTREAM_KEYS['openai']}
    mount: /openai/v1
  anthropic:
    type: anthropic
    base_url: {e}/anthropic
    api_key: {UPSTREAM_KEYS['anthropic']}
models:
  priced:
    - {{provider: openai, model: gpt-4o-mini, price: {{input: 1000, output: 2000}}}}
  priced-claude:
    - {{provider: anthropic, model: claude-sonnet-4-5-20250929,
       price: {{input: 1000, output: 2000, cached_input: 100}}}}
  unpriced:
    - {{provider: openai, model: model-without-a-price}}
routing:
  max_attempts: 1
"""


@pytest.fixture(scope="module")
def gateway(emulator, tmp_path_factory):
    with start_gateway(config(emulator), tmp_path_factory.mktemp("budgets")) as gateway:
        yield gateway


@pytest.fixture(autouse=True)
def clean_emulator(emulator):
    emulator.reset()
    yield
    emulator.reset()


def expected_cost(usage) -> Decimal:
    return (usage.prompt_tokens * PRICE["input"] + usage.completion_tokens * PRICE["output"]) / 1_000_000


def spent(gateway, key: str) -> tuple[int, Decimal]:
    with sqlite3.connect(gateway.workdir / "relaygate.db") as db:
        count, total = db.execute(
            "SELECT count(*), coalesce(sum(cost), 0) FROM usage_records WHERE key_name = ? AND status = 200", (key,)
        ).fetchone()
    return count, Decimal(total).scaleb(-MONEY_SCALE)  # the store keeps money as whole 1e-10 USD


def test_usage_carries_the_cost_of_whole_and_streamed_answers(gateway):
    secret = new_key(gateway, "--name", "cost-reader")
    client = gateway.client(key=secret)
    eventually(lambda: client.models.list())
    whole = client.chat.completions.create(model="priced", messages=[USER])
    assert Decimal(str(whole.usage.cost)) == expected_cost(whole.usage) > 0
    costs = [Decimal(str(whole.usage.cost))]

    chunks = list(client.chat.completions.create(model="priced", messages=[USER], stream=True,
                                                 stream_options={"include_usage": True}))
    usage = chunks[-1].usage
    assert Decimal(str(usage.cost)) == expected_cost(usage) > 0
    assert all(c.usage is None for c in chunks[:-1])
    costs.append(Decimal(str(usage.cost)))

    for stream in (False, True):  # translated answers too, with Anthropic's cache reads at their own price
        answer = client.chat.completions.create(model="priced-claude", messages=[USER], stream=stream,
                                                **({"stream_options": {"include_usage": True}} if stream else {}))
        usage = ([c for c in answer if c.usage][-1] if stream else answer).usage
        cached = usage.prompt_tokens_details.cached_tokens if usage.prompt_tokens_details else 0
        assert Decimal(str(usage.cost)) == (
            (usage.prompt_tokens - cached) * PRICE["input"] + cached * 100 + usage.completion_tokens * PRICE["output"]
        ) / 1_000_000
        costs.append(Decimal(str(usage.cost)))

    unpriced = client.chat.completions.create(model="unpriced", messages=[USER])
    assert unpriced.usage.prompt_tokens > 0 and "cost" not in unpriced.usage.model_extra

    deadline = time.monotonic() + 5
    while spent(gateway, "cost-reader")[0] < 5 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert spent(gateway, "cost-reader") == (5, sum(costs))  # the records charge what the answers said


def test_fifty_concurrent_requests_cannot_overspend_a_budget(gateway, emulator):
    # each request may cost up to ~$0.07 (its prompt estimate plus max_tokens 20), so about five fit
    # in $0.35 at once; without reservations all fifty would be admitted and spend several dollars
    secret = new_key(gateway, "--name", "tight", "--budget", "0.35")
    client = gateway.client(key=secret)
    eventually(lambda: client.models.list())
    emulator.script({"match": {"model": "gpt-4o-mini"}, "delay": 0.5, "times": -1})

    def ask(_: int) -> str:
        try:
            client.chat.completions.create(model="priced", messages=[USER], max_tokens=20)
            return "ok"
        except openai.RateLimitError as exc:
            assert exc.code == "insufficient_quota" and exc.type == "insufficient_quota"
            assert "Lower max_tokens" in exc.message
            return "refused"

    with ThreadPoolExecutor(50) as pool:
        outcomes = list(pool.map(ask, range(50)))
    assert 1 <= outcomes.count("ok") <= 10 and outcomes.count("refused") == 50 - outcomes.count("ok")
    emulator.reset()

    # one at a time the key spends on until its next request could pass the budget
    answered = outcomes.count("ok")
    for _ in range(20):
        try:
            client.chat.completions.create(model="priced", messages=[USER], max_tokens=20)
            answered += 1
        except openai.RateLimitError as exc:
            assert exc.code == "insufficient_quota"
            break
    else:
        pytest.fail("the budget never ran out")
    deadline = time.monotonic() + 5
    while spent(gateway, "tight")[0] < answered and time.monotonic() < deadline:
        time.sleep(0.1)
    count, total = spent(gateway, "tight")
    assert count == answered
    assert 0 < total <= Decimal("0.35")


def test_an_exhausted_budget_stays_exhausted_after_a_restart_and_a_raise_lets_requests_through(
        emulator, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("budget-restart")
    with start_gateway(config(emulator), workdir) as gateway:
        secret = new_key(gateway, "--name", "small", "--budget", "0.2", "--budget-period", "monthly")
        client = gateway.client(key=secret)
        eventually(lambda: client.models.list())
        with pytest.raises(openai.RateLimitError) as refused:
            for _ in range(20):
                client.chat.completions.create(model="priced", messages=[USER], max_tokens=10)
        assert refused.value.code == "insufficient_quota"
    with start_gateway(config(emulator), workdir) as gateway:  # spend so far is read back from the database
        response = httpx.post(f"{gateway.base}/v1/chat/completions", headers={"Authorization": f"Bearer {secret}"},
                              json={"model": "priced", "messages": [USER], "max_tokens": 10})
        assert response.status_code == 429
        assert response.json()["error"]["code"] == "insufficient_quota"
        assert "monthly budget of $0.2" in response.json()["error"]["message"]
        assert gateway.cli("keys", "update", "small", "--budget", "5").returncode == 0
        eventually(lambda: gateway.client(key=secret).chat.completions.create(
            model="priced", messages=[USER], max_tokens=10))
        assert secret not in gateway.log()


def test_a_request_for_n_choices_reserves_n_times_what_one_could_cost(gateway):
    """Each choice may be a call of its own (an upstream without `n`), prompt and all."""
    secret = new_key(gateway, "--name", "choices", "--budget", "0.001")
    client = gateway.client(key=secret)
    eventually(lambda: client.models.list())

    def most(n: int) -> Decimal:
        with pytest.raises(openai.RateLimitError) as refused:
            client.chat.completions.create(model="priced", messages=[USER], max_tokens=20, n=n)
        return Decimal(re.search(r"could cost up to \$([0-9.]+)", refused.value.message).group(1))

    one = most(1)
    assert one > Decimal("0.001") and most(2) == 2 * one and most(3) == 3 * one

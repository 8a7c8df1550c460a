"""Every request through the real server leaves one usage record: tokens, cost, attempts."""

from __future__ import annotations

import json
import time
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import select

from relaygate.metering.prices import price_for
from relaygate.store.schema import usage_records
from tests.e2e.test_database_keys import new_key

USER = {"role": "user", "content": "Hello there"}


@pytest.fixture
def gateway(governed_gateway):
    """These tests run on SQLite and on PostgreSQL: a gateway on a fresh database of each kind."""
    return governed_gateway


def usage(gateway, *args: str) -> dict:
    done = gateway.cli("usage", "--json", *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def wait_for_requests(gateway, key: str, count: int) -> dict:
    deadline = time.monotonic() + 5
    while True:
        report = usage(gateway, "--key", key, "--group-by", "key")
        if report["total"]["requests"] >= count or time.monotonic() > deadline:
            return report
        time.sleep(0.2)


def test_usage_records_count_tokens_and_cost_of_whole_and_streamed_answers(gateway):
    secret = new_key(gateway, "--name", "metered")
    time.sleep(1.0)  # the gateway picks the new key up within a second
    auth = {"Authorization": f"Bearer {secret}"}
    prompt = completion = 0
    for _ in range(3):
        answer = httpx.post(f"{gateway.base}/v1/chat/completions", headers=auth,
                            json={"model": "chat-default", "messages": [USER]}).json()
        prompt += answer["usage"]["prompt_tokens"]
        completion += answer["usage"]["completion_tokens"]
    with httpx.stream("POST", f"{gateway.base}/v1/chat/completions", headers=auth, json={
        "model": "chat-default", "messages": [USER], "stream": True, "stream_options": {"include_usage": True},
    }) as streamed:
        last = [line for line in streamed.iter_lines() if line.startswith("data: {")][-1]
    streamed_usage = json.loads(last[6:])["usage"]
    prompt += streamed_usage["prompt_tokens"]
    completion += streamed_usage["completion_tokens"]

    row = wait_for_requests(gateway, "metered", 4)["data"][0]
    assert (row["key"], row["requests"]) == ("metered", 4)
    assert (row["prompt_tokens"], row["completion_tokens"]) == (prompt, completion)
    price = price_for("qwen-plus")
    expected = (Decimal(prompt) * price.input + Decimal(completion) * price.output) / 1_000_000
    assert abs(Decimal(str(row["cost"])) - expected) < Decimal("1e-9")


def test_a_failed_request_is_recorded_with_its_error(gateway, emulator):
    secret = new_key(gateway, "--name", "metered-errors")
    time.sleep(1.0)
    emulator.script({"status": 500})
    response = httpx.post(f"{gateway.base}/v1/chat/completions", headers={"Authorization": f"Bearer {secret}"},
                          json={"model": "chat-default", "messages": [USER]})
    assert response.status_code == 502
    wait_for_requests(gateway, "metered-errors", 1)
    [(status, error, attempts)] = gateway.fetch(select(
        usage_records.c.status, usage_records.c.error_code, usage_records.c.attempts
    ).where(usage_records.c.key_name == "metered-errors"))
    assert (status, error) == (502, "upstream_error")
    assert [(a["provider"], a["status"]) for a in attempts] == [("alibaba", 502)]


def test_records_reach_the_database_at_the_configured_interval_and_at_shutdown(emulator, tmp_path):
    """`usage_write_interval: 60`: a finished request's record is in the journal, not yet in the
    database two seconds later (the default interval would have written it within one); a clean
    shutdown writes it out."""
    from tests.e2e.conftest import CLIENT_KEY, GATEWAY_ENV, free_port, gateway_config, start_gateway

    config = gateway_config(emulator.base, free_port()) + "usage_write_interval: 60\n"
    with start_gateway(config, tmp_path, GATEWAY_ENV) as gateway:
        answer = gateway.client(key=CLIENT_KEY).chat.completions.create(model="chat-default", messages=[USER])
        time.sleep(2.0)
        assert gateway.fetch(select(usage_records.c.request_id)) == []
        assert (tmp_path / "relaygate-usage.jsonl").stat().st_size > 0
    (stored,) = gateway.fetch(select(usage_records.c.request_id, usage_records.c.completion_tokens))
    assert stored.completion_tokens == answer.usage.completion_tokens

"""/admin/providers after real traffic: counts, latency, requests in flight and an open circuit,
on a gateway without a database (provider health needs none)."""

from __future__ import annotations

import threading

import openai
import pytest

from tests.e2e.conftest import ADMIN_KEY, CLIENT_KEY, UPSTREAM_KEYS, admin_client, start_gateway
from tests.e2e.test_database_keys import eventually

USER = {"role": "user", "content": "Hello"}
ROW_FIELDS = {"provider", "model", "state", "requests", "failures", "error_rate", "latency_p50_ms", "latency_p95_ms",
              "in_flight", "consecutive_failures"}


@pytest.fixture(scope="module")
def health_gateway(emulator, tmp_path_factory):
    config = f"""
database: null
admin_key: {ADMIN_KEY}
providers:
  up:
    type: openai
    base_url: {emulator.base}/openai/v1
    api_key: {UPSTREAM_KEYS['openai']}
    models: [gpt-4o-mini, gpt-4.1-nano]
models:
  flaky: [{{provider: up, model: gpt-4o}}]
keys:
  - {{key: {CLIENT_KEY}, name: tests}}
routing:
  max_attempts: 1
  circuit: {{failures: 2, cooldown: 600}}
"""
    with start_gateway(config, tmp_path_factory.mktemp("health")) as gateway:
        yield gateway


def rows(gateway) -> dict[tuple[str, str], dict]:
    with admin_client(gateway) as admin:
        response = admin.get("/admin/providers")
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert all(set(row) == ROW_FIELDS for row in data)
    return {(row["provider"], row["model"]): row for row in data}


def test_every_configured_deployment_has_a_row_before_any_traffic(health_gateway):
    listed = rows(health_gateway)
    assert {("up", "gpt-4o-mini"), ("up", "gpt-4.1-nano"), ("up", "gpt-4o")} <= set(listed)
    idle = listed["up", "gpt-4.1-nano"]
    assert (idle["state"], idle["requests"], idle["failures"], idle["error_rate"], idle["in_flight"]) == (
        "closed", 0, 0, 0, 0)
    assert idle["latency_p50_ms"] is None


def test_answers_count_and_time_and_failures_open_the_circuit(health_gateway, emulator):
    client = health_gateway.client()
    for _ in range(3):
        client.chat.completions.create(model="up/gpt-4o-mini", messages=[USER])
    healthy = rows(health_gateway)["up", "gpt-4o-mini"]
    assert (healthy["state"], healthy["requests"], healthy["failures"], healthy["error_rate"]) == ("closed", 3, 0, 0)
    assert 0 < healthy["latency_p50_ms"] <= healthy["latency_p95_ms"]

    emulator.script({"match": {"model": "gpt-4o"}, "status": 500, "times": -1})
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(model="flaky", messages=[USER])
    with pytest.raises(openai.APIStatusError) as refused:
        client.chat.completions.create(model="flaky", messages=[USER])
    assert refused.value.status_code == 503
    broken = rows(health_gateway)["up", "gpt-4o"]
    assert (broken["state"], broken["requests"], broken["failures"], broken["error_rate"]) == ("open", 2, 2, 1.0)
    assert broken["consecutive_failures"] == 2 and broken["latency_p50_ms"] is None
    assert rows(health_gateway)["up", "gpt-4o-mini"]["state"] == "closed"


def test_a_request_under_way_is_in_flight(health_gateway, emulator):
    emulator.script({"match": {"model": "gpt-4.1-nano"}, "delay": 2.0})
    client = health_gateway.client()
    worker = threading.Thread(target=lambda: client.chat.completions.create(model="up/gpt-4.1-nano",
                                                                           messages=[USER]))
    worker.start()
    try:
        def in_flight() -> None:
            assert rows(health_gateway)["up", "gpt-4.1-nano"]["in_flight"] == 1
        eventually(in_flight)
    finally:
        worker.join()
    done = rows(health_gateway)["up", "gpt-4.1-nano"]
    assert (done["in_flight"], done["requests"], done["failures"]) == (0, 1, 0)
    assert done["latency_p50_ms"] >= 1000

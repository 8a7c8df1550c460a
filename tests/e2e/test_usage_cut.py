"""Streams that end early still leave a usage record with what was generated: cut off by the
upstream, or left by the client. Without the upstream's usage the tokens are counted from the
text sent, and the record says so (`estimated`)."""

from __future__ import annotations

import time
import uuid

import httpx
import orjson
import pytest
from sqlalchemy import select

from relaygate.metering.estimate import tokens_in
from relaygate.store.schema import usage_records
from tests.e2e.conftest import CLIENT_KEY

MODEL = "openai/gpt-4o-mini"  # an OpenAI-wire upstream: its stream is relayed as it comes


@pytest.fixture
def gateway(governed_gateway):
    """These tests run on SQLite and on PostgreSQL: a gateway on a fresh database of each kind."""
    return governed_gateway


def record_of(gateway, client_id: str):
    """The one usage record of the request that sent `client_id` as its own id."""
    deadline = time.monotonic() + 10
    while True:
        rows = gateway.fetch(select(usage_records).where(usage_records.c.client_request_id == client_id))
        if rows or time.monotonic() > deadline:
            assert len(rows) == 1, rows
            return rows[0]
        time.sleep(0.1)


def open_stream(gateway, client_id: str, body: bytes):
    headers = {"Authorization": f"Bearer {CLIENT_KEY}", "Content-Type": "application/json", "x-client-request-id": client_id}
    return httpx.stream("POST", f"{gateway.base}/v1/chat/completions", headers=headers, content=body, timeout=30)


def chunks_of(lines) -> list[dict]:
    return [orjson.loads(line[6:]) for line in lines if line.startswith("data: {")]


def text_bytes(chunks: list[dict]) -> int:
    return sum(len((c["delta"].get("content") or "").encode()) for chunk in chunks for c in chunk.get("choices", []))


def request_body(**extra) -> bytes:
    return orjson.dumps({"model": MODEL, "messages": [{"role": "user", "content": "Tell me a long story"}],
                         "stream": True, **extra})


def test_a_stream_the_upstream_cuts_is_recorded_with_the_tokens_sent(gateway, emulator):
    emulator.script({"match": {"stream": True}, "chunks": 12, "cut_after": 7})
    client_id, body = f"cut-{uuid.uuid4().hex}", request_body()
    with open_stream(gateway, client_id, body) as response:
        assert response.status_code == 200
        chunks = chunks_of(response.iter_lines())
    error = chunks[-1]["error"]  # the stream ends with an in-band error event
    sent = text_bytes(chunks[:-1])
    assert sent > 0 and not any(c.get("usage") for c in chunks)

    record = record_of(gateway, client_id)
    assert record.estimated is True and record.stream is True
    assert (record.status, record.error_code) == (502, error["code"])
    assert record.completion_tokens == tokens_in(sent)  # four bytes of text a token
    assert record.prompt_tokens == len(body) // 4  # estimated from the request, as TPM admission does
    assert record.provider == "openai" and record.cost > 0
    assert [(a["provider"], a["status"], a["error"]) for a in record.attempts] == [("openai", 200, error["code"])]


def test_a_client_that_leaves_mid_stream_is_recorded_with_what_was_generated(gateway, emulator):
    emulator.script({"match": {"stream": True}, "chunks": 40, "chunk_delay": 0.05})
    client_id, body = f"left-{uuid.uuid4().hex}", request_body()
    with open_stream(gateway, client_id, body) as response:
        lines = response.iter_lines()
        received = [next(lines) for _ in range(8)]  # a few chunks, then the client hangs up
    assert text_bytes(chunks_of(received)) > 0

    record = record_of(gateway, client_id)
    assert (record.status, record.error_code, record.estimated) == (499, "client_disconnected", True)
    assert record.completion_tokens > 0 and record.prompt_tokens == len(body) // 4
    assert [(a["provider"], a["status"]) for a in record.attempts] == [("openai", 499)]
    emulator_side = emulator.requests()[-1]
    assert emulator_side["disconnected"] is True  # the upstream call was cancelled too


def test_a_whole_stream_is_recorded_with_the_upstreams_usage_not_an_estimate(gateway):
    client_id = f"whole-{uuid.uuid4().hex}"
    with open_stream(gateway, client_id, request_body(stream_options={"include_usage": True})) as response:
        chunks = chunks_of(response.iter_lines())
    usage = chunks[-1]["usage"]
    record = record_of(gateway, client_id)
    assert (record.status, record.error_code, record.estimated) == (200, None, False)
    assert (record.prompt_tokens, record.completion_tokens) == (usage["prompt_tokens"], usage["completion_tokens"])

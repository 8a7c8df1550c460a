"""kill -9 under load: after a restart, every answer a client got whole has exactly one usage record.

A real `relaygate serve` answers 16 openai-SDK clients, half streaming and half not, and is killed
with SIGKILL mid-load. The clients count what they got complete: a whole chat.completion, or a
stream that ran to its end (finish reason, usage chunk, `[DONE]`). A new gateway on the same
database and journal replays what the dead one left.

The record is journaled just before an answer's last bytes go out, so a complete answer always has
one. The converse holds up to one instant: a kill between the journal write and the send of those
last bytes leaves a record whose client saw the connection drop. Such a record can only belong to a
request that was in flight at the kill, so that is what the test allows, and nothing more.
"""

from __future__ import annotations

import os
import signal
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass

import httpx
import openai
from sqlalchemy import select

from relaygate.store.schema import usage_records
from tests.e2e.conftest import GATEWAY_ENV, Gateway, free_port, gateway_config, start_gateway
from tests.e2e.test_usage_cut import record_of

WORKERS = 16
KILL_AFTER = 60  # complete answers before the kill
USER = {"role": "user", "content": "Count to thirty"}


@dataclass
class Outcome:
    client_id: str  # sent as x-request-id: the usage record keeps it as client_request_id
    stream: bool
    complete: bool = False
    began: bool = False  # the answer began to arrive
    usage: tuple[int, int] | None = None  # (prompt, completion) as the client saw it


def ask(client: openai.OpenAI, stream: bool, on_done: Callable[[], None] = lambda: None) -> Outcome:
    """One request; `on_done` runs the moment a stream's last bytes have arrived."""
    outcome = Outcome(f"kill-{uuid.uuid4().hex}", stream)
    headers = {"x-request-id": outcome.client_id}
    try:
        if stream:
            chunks = client.chat.completions.create(model="openai/gpt-4o-mini", messages=[USER], stream=True,
                                                    stream_options={"include_usage": True}, extra_headers=headers)
            outcome.began = True
            assert chunks.response.headers["x-client-request-id"] == outcome.client_id
            finished = usage = None
            for chunk in chunks:  # the SDK stops at [DONE]; a dropped connection raises instead
                finished = finished or next((c.finish_reason for c in chunk.choices if c.finish_reason), None)
                usage = chunk.usage or usage
            on_done()
            outcome.complete = finished == "stop" and usage is not None
        else:
            raw = client.chat.completions.with_raw_response.create(model="chat-default", messages=[USER],
                                                                   extra_headers=headers)
            outcome.began = True
            assert raw.headers["x-client-request-id"] == outcome.client_id
            answer = raw.parse()
            usage = answer.usage
            outcome.complete = answer.choices[0].finish_reason == "stop"
    except (openai.APIConnectionError, httpx.TransportError):  # the SDK passes a stream's own on as they are
        return outcome
    outcome.usage = (usage.prompt_tokens, usage.completion_tokens)
    return outcome


def load_until_killed(gateway: Gateway) -> list[Outcome]:
    """WORKERS clients ask in a loop until the gateway dies. Once KILL_AFTER answers are complete,
    the next client to receive a whole stream kills it that instant: "killed right after"."""
    outcomes: list[Outcome] = []
    lock, killed, enough = threading.Lock(), threading.Event(), threading.Event()

    def kill_when_enough() -> None:
        with lock:
            if enough.is_set() and not killed.is_set():
                os.kill(gateway.proc.pid, signal.SIGKILL)
                killed.set()

    def worker(n: int) -> None:
        client = gateway.client(timeout=30)
        while not killed.is_set():
            outcome = ask(client, n % 2 == 0, kill_when_enough)
            with lock:
                outcomes.append(outcome)
                if sum(o.complete for o in outcomes) >= KILL_AFTER:
                    enough.set()

    with ThreadPoolExecutor(WORKERS) as pool:
        running = [pool.submit(worker, n) for n in range(WORKERS)]
        try:
            done, _ = wait(running, timeout=120, return_when=FIRST_EXCEPTION)
            for future in done:
                future.result()  # a worker's failure, as it was
            assert killed.is_set(), "the gateway answered too few requests"
        finally:
            killed.set()  # whatever happened, the workers stop
    assert gateway.proc.wait(10) == -signal.SIGKILL
    return outcomes


def test_kill_9_mid_load_loses_no_record_of_a_complete_answer(emulator, database_url, tmp_path):
    # the upstream closes each stream a while after its [DONE]: a gateway that recorded only once the
    # upstream was done with would lose the record of the very answer whose arrival set off the kill
    emulator.script({"match": {"stream": True}, "times": -1, "chunks": 30, "chunk_delay": 0.01, "linger": 0.5},
                    {"match": {"stream": False}, "times": -1, "delay": 0.1})
    config = gateway_config(emulator.base, free_port()) + f"database: {database_url}\n"
    with start_gateway(config, tmp_path, GATEWAY_ENV) as gateway:
        outcomes = load_until_killed(gateway)
    with start_gateway(config, tmp_path, GATEWAY_ENV) as restarted:
        # the journal is written in order: once a new request's record is in, everything before it is
        marker = ask(restarted.client(), stream=False)
        record_of(restarted, marker.client_id)
        rows = restarted.fetch(select(usage_records.c.request_id, usage_records.c.client_request_id,
                                      usage_records.c.status,
                                      usage_records.c.prompt_tokens, usage_records.c.completion_tokens))

    complete = {o.client_id: o for o in outcomes if o.complete}
    cut_off = {o.client_id for o in outcomes if not o.complete}  # in flight at the kill, or refused after it
    assert len(complete) >= KILL_AFTER and {o.stream for o in complete.values()} == {True, False}
    assert any(o.stream and o.began for o in outcomes if not o.complete)  # streams were cut mid-way
    assert max(Counter(row.request_id for row in rows).values()) == 1  # the database's key, unique
    counts = Counter(row.client_request_id for row in rows)
    assert max(counts.values()) == 1  # no request recorded twice (each client id was sent once)
    succeeded = {row.client_request_id: row for row in rows if row.status == 200}
    assert set(complete) <= set(succeeded), f"lost: {sorted(set(complete) - set(succeeded))[:5]}"
    for client_id, outcome in complete.items():
        row = succeeded[client_id]
        assert (row.prompt_tokens, row.completion_tokens) == outcome.usage
    extra = set(succeeded) - set(complete) - {marker.client_id}
    assert extra <= cut_off, "a record for a request no client made"
    assert len(succeeded) - 1 == len(complete) + len(extra)

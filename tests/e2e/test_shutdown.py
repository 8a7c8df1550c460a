"""Graceful shutdown of a real `relaygate serve` process: on SIGTERM it stops accepting
connections, lets the streams and requests in flight finish, writes every usage record to the
database and exits 0."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import threading

import httpx
import orjson

from tests.e2e.conftest import CLIENT_KEY, RELAYGATE, free_port, one_upstream_config, wait_http

STREAMS = 4
CHUNKS, CHUNK_DELAY = 16, 0.25  # each stream takes about 4 s


def shutdown_config(e: str) -> str:
    return one_upstream_config(e, "slow", "slow-m", "server:\n  shutdown_timeout: 60\n", database=None)


class Stream(threading.Thread):
    """One streamed request read as raw server-sent events; `started` is set at the first event."""

    def __init__(self, base: str) -> None:
        super().__init__(daemon=True)
        self.base = base
        self.started = threading.Event()
        self.events: list[bytes] = []
        self.request_id = ""
        self.error: BaseException | None = None

    def run(self) -> None:
        body = {"model": "slow", "messages": [{"role": "user", "content": "Hi"}], "stream": True}
        try:
            with httpx.stream("POST", f"{self.base}/v1/chat/completions", json=body, timeout=60,
                              headers={"Authorization": f"Bearer {CLIENT_KEY}"}) as response:
                self.request_id = response.headers["x-request-id"]
                for line in response.iter_lines():
                    if line.startswith("data: "):
                        self.events.append(line[6:].encode())
                        self.started.set()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc
            self.started.set()


def refused(base: str) -> bool:
    """A new request is not served: the connection is refused, or (caught while the listener closes)
    accepted and closed, or reset, without an answer."""
    try:
        httpx.get(f"{base}/healthz", timeout=2)
    except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError):
        return True
    return False


def test_sigterm_lets_streams_finish_and_writes_usage(emulator, tmp_path):
    emulator.script({"match": {"model": "slow-m"}, "times": -1, "chunks": CHUNKS, "chunk_delay": CHUNK_DELAY})
    (tmp_path / "relaygate.yaml").write_text(shutdown_config(emulator.base))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with (tmp_path / "gateway.log").open("w") as log:
        proc = subprocess.Popen([RELAYGATE, "serve", "--config", "relaygate.yaml", "--port", str(port)],
                                cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_http(f"{base}/healthz", proc)
        streams = [Stream(base) for _ in range(STREAMS)]
        for stream in streams:
            stream.start()
        for stream in streams:
            assert stream.started.wait(30)
        proc.send_signal(signal.SIGTERM)
        while not refused(base):  # the listener closes within a moment of the signal
            assert proc.poll() is None
        assert any(stream.is_alive() for stream in streams)  # refused while streams were still running
        for stream in streams:
            stream.join(60)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    for stream in streams:
        assert stream.error is None
        assert stream.events[-1] == b"[DONE]"
        chunks = [orjson.loads(event) for event in stream.events[:-1]]
        assert not any("error" in chunk for chunk in chunks)
        assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "stop"
    assert len({len(stream.events) for stream in streams}) == 1  # all whole, none cut short
    assert sorted(p.name for p in tmp_path.glob("relaygate.db*")) == ["relaygate.db"], \
        "every connection closed in order: no -wal or -shm file is left behind"
    ids = [stream.request_id for stream in streams]
    with sqlite3.connect(tmp_path / "relaygate.db") as db:
        rows = db.execute(
            f"SELECT request_id, status, completion_tokens FROM usage_records "
            f"WHERE request_id IN ({','.join('?' * len(ids))})", ids).fetchall()
    assert sorted(r[0] for r in rows) == sorted(ids)
    assert all(status == 200 and tokens > 0 for _, status, tokens in rows)
    assert "Traceback" not in (tmp_path / "gateway.log").read_text()

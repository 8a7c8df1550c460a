"""`relaygate serve --workers N`: the workers are processes of their own, and what must be one for
them all (a key's rate limits and budget) is shared through a private redis-server when the
configuration names no Redis (store/private_redis.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from relaygate.observability.workers import INTERVAL as WORKERS_INTERVAL
from tests.e2e.conftest import RELAYGATE, UPSTREAM_KEYS, Emulator, Gateway, free_port, start_gateway

KEY = "sk-test-workers-key-01"
RPM = 5
HI = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def config(emulator: Emulator) -> str:
    return f"""
providers:
  emu:
    type: openai
    base_url: {emulator.base}/openai/v1
    api_key: {UPSTREAM_KEYS['openai']}
models:
  m:
    - {{provider: emu, model: gpt-4o-mini}}
keys:
  - {{key: {KEY}, name: workers, rpm: {RPM}}}
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()


def both_started(gateway: Gateway) -> None:
    """Until both workers have started (a slow one would leave every connection to the other)."""
    deadline = time.monotonic() + 30
    while gateway.log_path.read_text().count("Application startup complete") < 2:
        assert time.monotonic() < deadline, gateway.log_path.read_text()[-3000:]
        time.sleep(0.05)


def test_two_workers_share_one_rate_limit(emulator: Emulator, tmp_path: Path) -> None:
    with start_gateway(config(emulator), tmp_path, args=("--workers", "2")) as gateway:
        both_started(gateway)
        statuses, workers = [], set()
        for _ in range(4 * RPM):
            with httpx.Client(timeout=10) as client:  # a connection each, so both workers take some
                response = client.post(f"{gateway.base}/v1/chat/completions", json=HI,
                                       headers={"Authorization": f"Bearer {KEY}"})
            statuses.append(response.status_code)
            workers.add(response.headers["x-request-id"][:-10])  # a per-process prefix, then a counter
        started = re.search(r"private redis-server \(pid (\d+)", gateway.log_path.read_text())
        assert started, gateway.log_path.read_text()[-3000:]
        redis_pid = int(started.group(1))
        assert alive(redis_pid)
    assert len(workers) == 2, "both workers answered"
    assert statuses.count(200) == RPM and statuses.count(429) == 3 * RPM, statuses
    deadline = time.monotonic() + 5
    while alive(redis_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(redis_pid), "the private redis-server stops with the server"


def test_workers_without_a_redis_to_share_are_refused_clearly(emulator: Emulator, tmp_path: Path) -> None:
    (tmp_path / "relaygate.yaml").write_text(config(emulator))
    no_redis = {**os.environ, "PATH": str(Path(sys.executable).parent)}  # the venv's tools, no redis-server
    done = subprocess.run([RELAYGATE, "serve", "--config", "relaygate.yaml", "--port", str(free_port()),
                           "--workers", "2"], cwd=tmp_path, env=no_redis, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "set `redis:` in the configuration, install redis-server" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("workers", ["1", "2"])
def test_no_private_redis_when_nothing_needs_sharing(emulator: Emulator, tmp_path: Path, workers: str) -> None:
    """One worker, or workers with no store and no limits: nothing to share, no redis-server."""
    unlimited = config(emulator).replace(f", rpm: {RPM}", "") + "database: null\n"
    with start_gateway(unlimited if workers == "2" else config(emulator), tmp_path, args=("--workers", workers)) as gw:
        response = httpx.post(f"{gw.base}/v1/chat/completions", headers={"Authorization": f"Bearer {KEY}"}, json=HI,
                              timeout=10)
        assert response.status_code == 200
        assert "private redis-server" not in gw.log_path.read_text()


def total(text: str, name: str, **labels: str) -> float:
    """The sum of the `name` samples carrying these labels in a Prometheus exposition."""
    wanted = [f'{label}="{value}"' for label, value in labels.items()]
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name + "{") and all(w in line for w in wanted))


def test_a_scrape_of_any_worker_counts_every_workers_requests(emulator: Emulator, tmp_path: Path) -> None:
    unlimited = config(emulator).replace(f", rpm: {RPM}", "") + "database: null\n"
    with start_gateway(unlimited, tmp_path, args=("--workers", "2")) as gateway:
        both_started(gateway)
        workers = set()
        for _ in range(20):
            with httpx.Client(timeout=10) as client:
                response = client.post(f"{gateway.base}/v1/chat/completions", json=HI,
                                       headers={"Authorization": f"Bearer {KEY}"})
            assert response.status_code == 200
            workers.add(response.headers["x-request-id"][:-10])
        assert len(workers) == 2, "both workers answered"

        def scrape() -> str:
            with httpx.Client(timeout=10) as client:  # a connection each: any worker may answer
                return client.get(f"{gateway.base}/metrics").text

        time.sleep(WORKERS_INTERVAL)  # each worker writes its figures for the others once a second
        deadline, agreeing = time.monotonic() + 10, 0
        while agreeing < 8:  # eight scrapes in a row, whichever workers answer them, see all 20
            text = scrape()
            counted = (total(text, "relaygate_requests_total", model="m", status_class="2xx"),
                       total(text, "relaygate_request_duration_seconds_count", model="m"),
                       total(text, "relaygate_upstream_attempts_total", provider="emu", outcome="ok"),
                       total(text, "relaygate_requests_in_flight"))
            if counted == (20, 20, 20, 0):
                agreeing += 1
                continue
            agreeing = 0
            assert time.monotonic() < deadline, text
            time.sleep(0.2)


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid`, from /proc/*/stat (field 4 after the command's parentheses)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_the_private_redis_dies_with_a_killed_server(emulator: Emulator, tmp_path: Path) -> None:
    """kill -9 of the server leaves nothing of it running: the kernel ends its redis-server."""
    with start_gateway(config(emulator), tmp_path, args=("--workers", "2")) as gateway:
        redis_pid = int(re.search(r"private redis-server \(pid (\d+)", gateway.log_path.read_text()).group(1))
        assert gateway.proc is not None
        others = [pid for pid in children(gateway.proc.pid) if pid != redis_pid]
        gateway.proc.kill()
        gateway.proc.wait()
        try:
            deadline = time.monotonic() + 5
            while alive(redis_pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not alive(redis_pid)
        finally:
            for pid in others:  # the workers, orphaned by the kill: uvicorn's business, not this test's
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    pass

"""The real gateway server (a `relaygate serve` process) in front of the real emulator process."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
import yaml
from _databases import PostgresCluster, fetch
from openai import OpenAI

ROOT = Path(__file__).resolve().parents[2]
RELAYGATE = str(Path(sys.executable).parent / "relaygate")
CLIENT_KEY = "sk-test-client-key-0001"
LIMITED_KEY = "sk-test-limited-key-002"
RPM_KEY = "sk-test-rpm-limited-003"
TPM_KEY = "sk-test-tpm-limited-004"
SLOTS_KEY = "sk-test-one-at-a-time-05"
UPSTREAM_KEYS = {
    "openai": "sk-up-openai-secret-1",
    "deepseek": "sk-up-deepseek-secret-2",
    "alibaba": "sk-up-dashscope-secret-3",
    "doubao": "up-ark-secret-4",
    "anthropic": "sk-ant-up-secret-5",
    "gemini": "AIza-up-gemini-secret-6",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    """Until `url` answers; a gateway can take ten seconds and more to start on a loaded machine."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


class Emulator:
    """Handle on the emulator process: its base URL and its control API."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.http = httpx.Client(base_url=self.base, timeout=10.0)

    def script(self, *rules: dict[str, Any]) -> None:
        self.http.post("/_emulator/script", json=list(rules)).raise_for_status()

    def requests(self) -> list[dict[str, Any]]:
        return self.http.get("/_emulator/requests").json()

    def last(self) -> dict[str, Any]:
        return self.requests()[-1]

    def reset(self) -> None:
        self.http.delete("/_emulator/script").raise_for_status()
        self.http.delete("/_emulator/requests").raise_for_status()


@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    port = free_port()
    args = [sys.executable, "-m", "relaygate.emulator", "--port", str(port)]
    for key in UPSTREAM_KEYS.values():
        args += ["--key", key]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_http(f"http://127.0.0.1:{port}/_emulator/health", proc)
        yield Emulator(port)
    finally:
        proc.terminate()
        proc.wait(10)


def gateway_config(emulator_base: str, dead_port: int) -> str:
    e = emulator_base
    k = UPSTREAM_KEYS
    return f"""
providers:
  openai:
    type: openai
    base_url: {e}/openai/v1
    api_key: {k['openai']}
    mount: /openai/v1
    models: [gpt-4o-mini, shared-model]
  deepseek:
    type: deepseek
    base_url: {e}/deepseek/v1
    api_key: {k['deepseek']}
    mount: /deepseek/v1
    models: [deepseek-chat, deepseek-reasoner]
  alibaba:
    type: dashscope
    base_url: {e}/dashscope/compatible-mode/v1
    api_key: ${{TEST_DASHSCOPE_KEY}}
    mount: /alibaba/compatible-mode/v1
    models: [qwen-plus, qwen-vl-max, qwen-omni-turbo]
    model_defaults: {{qwen-vl-max: {{max_tokens: 777, temperature: 0.2}}}}
    stream_only: [qwq-plus]
  doubao:
    type: doubao
    base_url: {e}/doubao/api/v3
    api_key: {k['doubao']}
    models: [doubao-seed-1-6-251015]
  vllm:
    type: openai
    base_url: {e}/openai/v1
    api_key: {k['openai']}
    models: [shared-model]
  slow:
    type: openai
    base_url: {e}/openai/v1
    api_key: {k['openai']}
    mount: /slow/v1
    timeout: {{connect: 1, first_token: 1.0, idle: 1.0, total: 3}}
  authfail:
    type: openai
    base_url: {e}/openai/v1
    api_key: {k['openai']}
    mount: /authfail/v1
  dead:
    type: openai
    base_url: http://127.0.0.1:{dead_port}/v1
    api_key: sk-dead-secret
    mount: /dead/v1
models:
  chat-default:
    - {{provider: alibaba, model: qwen-plus}}
  reasoner:
    - {{provider: deepseek, model: deepseek-reasoner}}
keys:
  - {{key: {CLIENT_KEY}, name: tests}}
  - {{key: {LIMITED_KEY}, name: limited, models: [chat-default]}}
  - {{key: {RPM_KEY}, name: rpm-limited, rpm: 5}}
  - {{key: {TPM_KEY}, name: tpm-limited, tpm: 300}}
  - {{key: {SLOTS_KEY}, name: one-at-a-time, max_concurrency: 1}}
mounts:
  /compat/v1: {{envelope: true}}
routing:                         # one attempt: these tests see each upstream failure as it is
  max_attempts: 1                # (retries and fallback have their own tests and gateways)
  circuit: {{failures: 1000}}
server:
  max_body_bytes: 1048576
"""



def one_upstream_config(emulator_base: str, model: str, upstream_model: str, extra: str = "",
                        database: str | None = "null") -> str:
    """A gateway with one OpenAI-wire upstream (the emulator) behind one catalog model and the client
    key `team-a`; `extra` is appended as further top-level YAML, `database=None` keeps the default."""
    store = f"database: {database}\n" if database is not None else ""
    return f"""{store}providers:
  primary:
    type: openai
    base_url: {emulator_base}/openai/v1
    api_key: {UPSTREAM_KEYS['openai']}
models:
  {model}:
    - {{provider: primary, model: {upstream_model}}}
keys:
  - {{key: {CLIENT_KEY}, name: team-a}}
{extra}"""

class Gateway:
    def __init__(self, port: int, log_path: Path, env: dict[str, str] | None = None,
                 proc: subprocess.Popen | None = None) -> None:
        self.env = {**os.environ, **(env or {})}
        self.base = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self.workdir = log_path.parent
        self.config_path = self.workdir / "relaygate.yaml"
        self.proc = proc
        configured = yaml.safe_load(self.config_path.read_text()) or {}
        self.database: str | None = configured.get("database", f"sqlite:///{self.workdir / 'relaygate.db'}")

    def fetch(self, statement: Any) -> list[Any]:
        """Rows of a SQLAlchemy statement run on this gateway's database, SQLite or PostgreSQL."""
        assert self.database is not None
        return fetch(self.database, statement)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`relaygate ARGS --config <this gateway's configuration>`, run beside it."""
        return subprocess.run([RELAYGATE, *args, "--config", str(self.config_path)], cwd=self.workdir,
                              capture_output=True, text=True, timeout=60, env=self.env)

    def client(self, mount: str = "/v1", key: str = CLIENT_KEY, **kwargs: Any) -> OpenAI:
        return OpenAI(base_url=self.base + mount, api_key=key, max_retries=0, **kwargs)

    def log(self) -> str:
        return self.log_path.read_text()


@contextmanager
def start_gateway(config_text: str, workdir: Path, env: dict[str, str] | None = None,
                  args: tuple[str, ...] = ()) -> Iterator[Gateway]:
    """A `relaygate serve [ARGS]` process on a free port with this configuration, stopped on exit."""
    config = workdir / "relaygate.yaml"
    config.write_text(config_text)
    port = free_port()
    log_path = workdir / "gateway.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(  # run in workdir: the default database and journal land there
            [RELAYGATE, "serve", "--config", str(config), "--port", str(port), *args],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}, cwd=workdir,
        )
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", proc)
        yield Gateway(port, log_path, env, proc)
    finally:
        proc.terminate()
        stop(proc, log_path)


def stop(proc: subprocess.Popen, log_path: Path, timeout: float = 10) -> None:
    """Wait for a terminated gateway to exit; one that does not is made to print every thread's
    stack into its log (SIGUSR1, see cli.py), killed, and reported with that log's end."""
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGUSR1)
        time.sleep(1)
        proc.kill()
        proc.wait()
        raise AssertionError(f"the gateway did not exit within {timeout} s of SIGTERM; its log ends:\n"
                             + log_path.read_text()[-6000:]) from None


GATEWAY_ENV = {"TEST_DASHSCOPE_KEY": UPSTREAM_KEYS["alibaba"]}


@pytest.fixture(scope="session")
def shared_gateway(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    config = gateway_config(emulator.base, free_port())
    with start_gateway(config, tmp_path_factory.mktemp("gateway"), GATEWAY_ENV) as gateway:
        yield gateway


@pytest.fixture(scope="session")
def gateway(shared_gateway: Gateway) -> Gateway:
    """The gateway most tests share (a module may put its own in place of it)."""
    return shared_gateway


def fresh_database(request: pytest.FixtureRequest, workdir: Path) -> str:
    """An empty database of the kind `request.param` names: a SQLite file in `workdir`, or a new
    database on the session's PostgreSQL cluster."""
    if request.param == "sqlite":
        return f"sqlite:///{workdir / 'relaygate.db'}"
    cluster: PostgresCluster = request.getfixturevalue("postgres")
    return asyncio.run(cluster.create_database())


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def governed_gateway(
    request: pytest.FixtureRequest, emulator: Emulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    """The test configuration's gateway on each database the store supports, so that keys, limits
    and usage records are checked on both: the shared gateway (its own new SQLite file), then one
    on a new database of the session's PostgreSQL cluster. Tests name their keys apart."""
    if request.param == "sqlite":
        yield request.getfixturevalue("shared_gateway")
        return
    workdir = tmp_path_factory.mktemp("gateway-postgresql")
    config = gateway_config(emulator.base, free_port()) + f"database: {fresh_database(request, workdir)}\n"
    with start_gateway(config, workdir, GATEWAY_ENV) as gateway:
        yield gateway


@pytest.fixture(autouse=True)
def _fresh_emulator(request: pytest.FixtureRequest) -> None:
    if "emulator" in request.fixturenames:
        request.getfixturevalue("emulator").reset()


ADMIN_KEY = "rg-admin-test-key-0000000001"


def admin_client(gateway: Gateway, key: str = ADMIN_KEY) -> httpx.Client:
    return httpx.Client(base_url=gateway.base, headers={"Authorization": f"Bearer {key}"}, timeout=30.0)


def database_for(backend: str, request: pytest.FixtureRequest, workdir: Path) -> str:
    """A fresh database on SQLite or on the session's PostgreSQL cluster."""
    if backend == "sqlite":
        return f"sqlite:///{workdir / 'relaygate.db'}"
    return asyncio.run(request.getfixturevalue("postgres").create_database())


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def admin_gateway(request: pytest.FixtureRequest, emulator: Emulator,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """The test gateway with an admin key, on a fresh SQLite or PostgreSQL database."""
    workdir = tmp_path_factory.mktemp("admin")
    config = gateway_config(emulator.base, free_port())
    config += f"admin_key: {ADMIN_KEY}\ndatabase: {database_for(request.param, request, workdir)}\n"
    env = {"TEST_DASHSCOPE_KEY": UPSTREAM_KEYS["alibaba"]}
    with start_gateway(config, workdir, env) as gateway:
        yield gateway

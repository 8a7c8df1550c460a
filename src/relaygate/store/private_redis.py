"""A private redis-server for the workers of one `relaygate serve --workers N`.

Every worker is a process of its own, so limits and budgets kept in process memory would be each
worker's: a key's 60 requests a minute would be 60 per worker, and a budget could be spent once per
worker. Workers share them the way instances do, through Redis (governance/limiter.py,
governance/shared_budgets.py). When the configuration names no `redis` and something needs sharing
(a database, whose keys may carry limits and budgets, or a configured key with limits), the serving
process starts a redis-server of its own for its workers: on a Unix socket in a directory only its
user can enter, no TCP port, nothing saved to disk. It is stopped with the server, and by the kernel
should the server die without stopping it (PR_SET_PDEATHSIG). Budgets are brought up to the
database's spend when the workers connect, as with any Redis.
"""

from __future__ import annotations

import ctypes
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable

from relaygate.config import Config
from relaygate.errors import ConfigError

STARTUP_SECONDS = 5.0
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def needs_sharing(config: Config, workers: int) -> bool:
    """Whether `workers` processes would each hold state that must be one: limits and budgets."""
    if workers <= 1 or config.redis is not None:
        return False
    return config.database is not None or any(k.rpm or k.tpm or k.max_concurrency for k in config.keys)


def _death_signal() -> Callable[[], None] | None:
    """What the child runs before redis-server: ask the kernel for SIGTERM when its parent dies.
    prctl is looked up here, in the parent, so that the child between fork and exec only calls it.
    None where there is no prctl (not Linux): the server's own stop still ends the child."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class PrivateRedis:
    """A redis-server child on a Unix socket; `url` for the workers, `stop()` when serving ends."""

    def __init__(self, proc: subprocess.Popen[bytes], folder: Path) -> None:
        self.proc = proc
        self.folder = folder
        self.socket = folder / "redis.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    @classmethod
    def start(cls, workers: int) -> PrivateRedis:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ConfigError(
                f"--workers {workers}: the workers must share rate limits and budgets, which they do through "
                "Redis; set `redis:` in the configuration, install redis-server (relaygate then runs a private "
                "one for its workers), or run one worker per instance")
        folder = Path(tempfile.mkdtemp(prefix="relaygate-workers-"))  # mode 0700
        proc = subprocess.Popen(
            [binary, "--port", "0", "--unixsocket", str(folder / "redis.sock"), "--unixsocketperm", "700",
             "--dir", str(folder), "--save", "", "--appendonly", "no", "--loglevel", "warning"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, preexec_fn=_death_signal(),
        )
        private = cls(proc, folder)
        try:
            private._wait_until_up()
        except BaseException:
            private.stop()
            raise
        return private

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if self.proc.poll() is not None:
                raise ConfigError(f"the workers' private redis-server exited at start (status {self.proc.returncode})")
            if self._answers():
                return
            if time.monotonic() > deadline:
                raise ConfigError(f"the workers' private redis-server did not answer within {STARTUP_SECONDS:g} s")
            time.sleep(0.02)

    def _answers(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                probe.settimeout(1)
                probe.connect(str(self.socket))
                probe.sendall(b"PING\r\n")
                return probe.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.folder, ignore_errors=True)

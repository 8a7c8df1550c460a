"""Shared by the bench scripts: start the emulator and a gateway on free ports, wait for them."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import aiohttp

PY = sys.executable
RELAYGATE = str(Path(PY).parent / "relaygate")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def emulator_and_gateway(config: Callable[[str], str]) -> Iterator[tuple[str, str, Path]]:
    """(emulator URL, gateway URL, the gateway's working directory, where its SQLite database and
    usage journal are); `config` makes the gateway's YAML from the emulator's URL."""
    e_port, g_port = free_port(), free_port()
    emulator, gateway = f"http://127.0.0.1:{e_port}", f"http://127.0.0.1:{g_port}"
    path = Path(tempfile.mkdtemp(prefix="relaygate-bench-")) / "relaygate.yaml"
    path.write_text(config(emulator))
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    procs = [
        subprocess.Popen([PY, "-m", "relaygate.emulator", "--port", str(e_port)], **quiet),
        subprocess.Popen([RELAYGATE, "serve", "--config", str(path), "--port", str(g_port), "--log-level", "error"],
                         cwd=path.parent, **quiet),
    ]
    try:
        asyncio.run(_wait_up([f"{emulator}/_emulator/health", f"{gateway}/healthz"]))
        yield emulator, gateway, path.parent
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)


async def _wait_up(urls: list[str]) -> None:
    async with aiohttp.ClientSession() as session:
        for url in urls:
            for _ in range(200):
                try:
                    async with session.get(url) as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
            else:
                raise RuntimeError(f"{url} did not come up")

"""Machine instructions per request of relaygate's paths, counted under valgrind's callgrind.

The load benchmarks (run.py, side_by_side.py) time CPU on a shared machine whose speed drifts by
±15% between runs and by a few percent within one. Here each gateway runs under callgrind, which
counts the instructions its process executes (every thread: the event loop, the usage writer's);
that count does not change with load or with the machine's speed, so two runs of the same code agree
to within a fraction of a percent and a change of 1% shows. What it does not see: time spent
waiting on memory (a path that touches more memory costs more time than its instructions say) and
the kernel's work for the process's system calls. So it tells what a change does to the work, and the
load benchmarks tell what that work costs in time.

Each system is the one side_by_side.py runs under the same name (core, governed, redis, budget-only,
key-only, anthropic), started under callgrind (~50 times slower); it is warmed up, its counters are
zeroed, it answers --requests requests one at a time on one keep-alive connection, and its counters
are dumped once its usage writer has written them (the writer's work is counted: it is the
process's). The systems run two at a time.

    .venv/bin/python bench/instructions.py [--requests 1000] [--stream] [--systems core,governed,key-only]
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import run as bench
import side_by_side as sbs

SETTLE = 2.5  # seconds for the usage writer (one batch a second) to store what was answered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000, help="requests counted per system")
    parser.add_argument("--warmup", type=int, default=300, help="requests answered before counting")
    parser.add_argument("--stream", action="store_true", help="streamed answers (20 chunks) instead of whole ones")
    parser.add_argument("--systems", default="core,governed,key-only",
                        help=f"which, the first being the one the others are compared with: {', '.join(sbs.SYSTEMS)}")
    args = parser.parse_args()
    systems = args.systems.split(",")
    unknown = set(systems) - set(sbs.SYSTEMS)
    if unknown:
        parser.error(f"unknown systems: {', '.join(sorted(unknown))}")

    tmp = Path(tempfile.mkdtemp(prefix="relaygate-instructions-"))
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    services = [
        subprocess.Popen([bench.PY, "-m", "relaygate.emulator", "--port", str(bench.PORTS["emulator"]), "--no-record"],
                         **quiet),
        subprocess.Popen(["redis-server", "--bind", "127.0.0.1", "--port", str(bench.PORTS["redis"]), "--save", "",
                          "--appendonly", "no"], **quiet),
    ]
    try:
        bench.wait_port(bench.PORTS["emulator"])
        bench.wait_port(bench.PORTS["redis"])
        with ThreadPoolExecutor(2) as pool:
            counts = dict(zip(systems, pool.map(lambda name: count(name, tmp / name, args), systems)))
        print(report(counts, args))
    finally:
        for p in services:
            p.terminate()
        for p in services:
            p.wait(10)


def count(name: str, folder: Path, args: argparse.Namespace) -> float:
    """Instructions per request of one system."""
    folder.mkdir()
    config = sbs.SYSTEMS[name]
    (folder / "relaygate.yaml").write_text(config)
    key = bench.CLIENT_KEY if config is bench.CONFIG else bench.governed_key(
        folder / "relaygate.yaml", sbs.KEY_OPTIONS.get(name, bench.GOVERNED_KEY_OPTIONS))
    port = sbs.PORTS[name]
    out = folder / "callgrind.out"
    gateway = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", bench.PY, bench.RELAYGATE, "serve",
         "--config", "relaygate.yaml", "--port", str(port), "--log-level", "warning"],
        cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        bench.wait_port(port, timeout=300)
        body = json.dumps({"model": sbs.MODELS.get(name, "bench-model"), "max_tokens": 64, "stream": args.stream,
                           "messages": [{"role": "system", "content": "You are a helpful assistant."},
                                        {"role": "user", "content": "Write one sentence about benchmarks."}]})
        ask(port, key, body, args.warmup)
        time.sleep(SETTLE)
        callgrind_control("-z", gateway.pid)
        ask(port, key, body, args.requests)
        time.sleep(SETTLE)
        callgrind_control("-d", gateway.pid)
        dumped = next(folder.glob("callgrind.out.*"))
        total = int(re.search(r"^summary: (\d+)", dumped.read_text(errors="replace"), re.MULTILINE)[1])
        return total / args.requests
    finally:
        gateway.terminate()
        gateway.wait(60)


def ask(port: int, key: str, body: str, requests: int) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    for _ in range(requests):
        connection.request("POST", "/v1/chat/completions", body, headers)
        response = connection.getresponse()
        answer = response.read()
        if response.status != 200:
            raise SystemExit(f"port {port} answered {response.status}: {answer[:300]!r}")
    connection.close()


def callgrind_control(option: str, pid: int) -> None:
    subprocess.run(["callgrind_control", option, str(pid)], check=True, capture_output=True)


def report(counts: dict[str, float], args: argparse.Namespace) -> str:
    kind = "streamed (20 chunks)" if args.stream else "whole answers"
    first = next(iter(counts))
    lines = [f"Instructions per request, {kind}, {args.requests} requests each (callgrind):", "",
             f"| system | instructions / request | {first} / system |", "|---|---|---|"]
    for name, value in counts.items():
        lines.append(f"| {name} | {value:,.0f} | {counts[first] / value:.3f}x |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())

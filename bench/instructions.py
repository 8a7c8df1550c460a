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
key-only, postgres, postgres-redis, anthropic; a PostgreSQL server's own work is not counted, as
Redis's is not), started under callgrind (~50 times slower); it is warmed up, its counters are
zeroed, it answers --requests requests one at a time on one keep-alive connection, and its counters
are dumped. The systems run two at a time. What a gateway does each second whatever its load (the
key cache's look at the database, the Redis heartbeat, the writer waking up) is counted apart, while
it idles, and taken off: at callgrind's pace a second holds ~50 requests, under load thousands.

The usage writer is counted apart. Under callgrind a second holds ~50 requests, so the writer's
batches, one a second, would hold 50 records where under load they hold thousands, and what a batch
costs whatever its size would be spread over too few records. So the gateways write no batch while
they are counted (`usage_write_interval: 3600`): what is counted is the request path (the key, the
limits and budget, the record made and journaled). `--writer` then counts what the writer spends per
record on batches of --batch records made as the gateway makes them: on SQLite in the process
(`SqliteSink`: the records' journal lines bound and inserted, and the rollup, in a worker thread),
on PostgreSQL the gateway's side only (the lines made COPY text rows and copied in).

    .venv/bin/python bench/instructions.py [--requests 1000] [--stream] [--systems core,governed,key-only]
    .venv/bin/python bench/instructions.py --writer [--batch 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import http.client
import json
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import postgres
import run as bench
import side_by_side as sbs

NO_BATCHES = "usage_write_interval: 3600\n"  # no batch written while the gateway is counted
IDLE = 10.0  # seconds the gateway is counted idle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000, help="requests counted per system")
    parser.add_argument("--warmup", type=int, default=300, help="requests answered before counting")
    parser.add_argument("--stream", action="store_true", help="streamed answers (20 chunks) instead of whole ones")
    parser.add_argument("--priced", action="store_true", help=f"the models priced ({sbs.PRICE}); else unpriced")
    parser.add_argument("--systems", default="core,governed,key-only",
                        help=f"which, the first being the one the others are compared with: {', '.join(sbs.SYSTEMS)}")
    parser.add_argument("--writer", action="store_true", help="count the usage writer per record instead")
    parser.add_argument("--batch", type=int, default=3000, help="records per batch, with --writer")
    parser.add_argument("--writer-case", help=argparse.SUPPRESS)  # the run under callgrind, with --writer
    parser.add_argument("--marks", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.writer_case:
        return writer_case(args)
    if args.writer:
        return print(writer(args))
    systems = args.systems.split(",")
    unknown = set(systems) - set(sbs.SYSTEMS)
    if unknown:
        parser.error(f"unknown systems: {', '.join(sorted(unknown))}")

    bench.ensure_free([bench.PORTS["emulator"], bench.PORTS["redis"], *(sbs.PORTS[name] for name in systems)])
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
        database_server = sbs.start_postgres(systems)
        if database_server is not None:
            services.append(database_server)  # type: ignore[arg-type]
        with ThreadPoolExecutor(2) as pool:
            counts = dict(zip(systems, pool.map(lambda name: count(name, tmp / name, args), systems)))
        print(report(counts, args))
    finally:
        for p in services:
            if isinstance(p, subprocess.Popen):
                p.terminate()
                p.wait(10)
            else:
                p.stop()


def count(name: str, folder: Path, args: argparse.Namespace) -> float:
    """Instructions per request of one system."""
    folder.mkdir()
    config = sbs.SYSTEMS[name]
    text = sbs.priced(config) if args.priced else config
    (folder / "relaygate.yaml").write_text(text if config is bench.CONFIG else text + NO_BATCHES)
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
        callgrind_control("-z", gateway.pid)
        time.sleep(IDLE)  # what it does each second whatever the load (key cache, Redis, writer wake-ups)
        callgrind_control("-d", gateway.pid)
        started = time.monotonic()
        ask(port, key, body, args.requests)
        callgrind_control("-d", gateway.pid)
        busy = time.monotonic() - started
        idle, total = (dumped_total(folder / f"callgrind.out.{n}") for n in (1, 2))
        return (total - idle / IDLE * busy) / args.requests
    finally:
        gateway.terminate()
        gateway.wait(60)


def dumped_total(path: Path) -> int:
    return int(re.search(r"^summary: (\d+)", path.read_text(errors="replace"), re.MULTILINE)[1])


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
    kind = ("streamed (20 chunks)" if args.stream else "whole answers") + (", priced model" if args.priced else "")
    first = next(iter(counts))
    lines = [f"Instructions per request, {kind}, {args.requests} requests each (callgrind; the request path: "
             "no usage batch written while counted, see --writer):", "",
             f"| system | instructions / request | {first} / system |", "|---|---|---|"]
    for name, value in counts.items():
        lines.append(f"| {name} | {value:,.0f} | {counts[first] / value:.3f}x |")
    return "\n".join(lines) + "\n"


MARKS = """#include <valgrind/callgrind.h>
void dump(const char *name) { CALLGRIND_DUMP_STATS_AT(name); }
"""
WRITER_ROUNDS = 3
# Batches written before counting: the connection made and the statements prepared by the first,
# and the memory a batch's rows take found free again (the first batches' rows need fresh arenas
# from the allocator, as a gateway's do only while it is young: ~60k and ~26k instructions a row,
# ~17k after)
WARMUP_BATCHES = 3


def writer(args: argparse.Namespace) -> str:
    """Runs this script again under callgrind for each database, the batches between two dumps of
    the counters (a three-line helper compiled with gcc tells callgrind when)."""
    work = Path(tempfile.mkdtemp(prefix="relaygate-writer-"))
    (work / "marks.c").write_text(MARKS)
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(work / "marks.so"), str(work / "marks.c")], check=True)
    server = postgres.Server(bench.LOAD_CORE)
    server.start()
    try:
        urls = {"SQLite": f"sqlite:///{work / 'writer.db'}", "PostgreSQL": server.create("bench_writer")}
        lines = [f"The usage writer per record, batches of {args.batch} (callgrind; PostgreSQL: the gateway's side):",
                 "", "| database | instructions / record |", "|---|---|"]
        for name, url in urls.items():
            out = work / f"{name}.out"
            subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, __file__,
                            "--writer-case", url, "--batch", str(args.batch), "--marks", str(work / "marks.so")],
                           check=True, capture_output=True)
            dumped = next(path for path in work.glob(f"{name}.out.*") if b"Client Request: writer" in path.read_bytes())
            total = int(re.search(r"^summary: (\d+)", dumped.read_text(errors="replace"), re.MULTILINE)[1])
            lines.append(f"| {name} | {total / (WRITER_ROUNDS * args.batch):,.0f} |")
        return "\n".join(lines) + "\n"
    finally:
        server.stop()


def writer_case(args: argparse.Namespace) -> None:
    """Under callgrind: a migrated database, then batches of fresh records stored as the writer stores
    the records it journaled (`write_lines` of their lines where the engine takes lines, else
    `write_records`), the WRITER_ROUNDS after WARMUP_BATCHES counted."""
    from relaygate.app import _tune_gc
    from relaygate.metering.journal import line_of
    from relaygate.metering.sink import stores_lines, write_lines, write_records
    from relaygate.store.db import create_engine
    from relaygate.store.migrate import migrate

    marks = ctypes.CDLL(args.marks)
    _tune_gc()  # the collector's settings the writer runs under in the gateway

    async def run() -> None:
        await migrate(args.writer_case)
        engine = create_engine(args.writer_case)
        try:
            batches: list[Any] = [[bench_record(n * args.batch + i) for i in range(args.batch)]
                                  for n in range(WARMUP_BATCHES + WRITER_ROUNDS)]
            if stores_lines(engine):  # the journal's lines, as the journal holds them
                batches = [b"".join(line_of(r) for r in batch) for batch in batches]
            write = write_lines if stores_lines(engine) else write_records
            for batch in batches[:WARMUP_BATCHES]:
                await write(engine, batch)
            marks.dump(b"warm-up")  # a dump zeroes every thread's counters; a zero only this thread's
            for batch in batches[WARMUP_BATCHES:]:
                assert await write(engine, batch) == args.batch
            marks.dump(b"writer")
        finally:
            await engine.dispose()

    asyncio.run(run())


def bench_record(n: int) -> Any:
    """A record as the governed systems make them (one attempt, a priced answer)."""
    from relaygate.metering.usage import Attempt, UsageRecord

    return UsageRecord(
        request_id=f"req_bench{n:012x}", key="bench-governed", model="bench-model",
        created_at=datetime.now(timezone.utc), provider="up", upstream_model="bench-model", prompt_tokens=23,
        completion_tokens=20, cost=Decimal("0.0000405"), latency_ms=2, ttft_ms=None, status=200,
        attempts=(Attempt("up", "bench-model", 200, 2, prompt_tokens=23, completion_tokens=20),),
    )


if __name__ == "__main__":
    sys.exit(main())

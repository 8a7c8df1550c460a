"""CPU per request of relaygate's core path and its governance paths, measured side by side.

The throughput benchmark (run.py) measures one system at a time, so on a shared machine whose speed
drifts between runs a ratio of two runs carries that drift. Here the gateways run at the same time
on the same core, each under its own wrk, so whatever slows the core slows them all alike; what is
compared is the CPU time each gateway process spent (user + system, from /proc) per request it
answered, round by round. With a CPU-bound gateway, throughput is the inverse of that, so
`core / governed` CPU is the throughput ratio the governance path costs.

Systems: the core path (configured key, no store), the whole governance path with limits and
budgets in memory, and with them shared through Redis (as run.py configures them: a database key
with RPM, TPM, concurrency limits and a budget never reached, a usage record per request through the
journal into SQLite); the governance path in memory with its key carrying a budget and no limits
(`budget-only`) or neither (`key-only`: the key, the journal and the writer), to see what the parts
cost; the whole governance path with its database in a PostgreSQL server (`postgres`, and
`postgres-redis` with limits and budgets shared through Redis: how several instances run; the server
on the load core, as Redis); and, with `--systems core,anthropic`, the core path asked for a model
whose upstream speaks Anthropic's Messages API (translated both ways) next to the OpenAI-wire one.

    .venv/bin/python bench/side_by_side.py [--rounds 5] [--duration 6] [--connections 32] [--stream]
                                           [--systems core,governed,redis]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import tempfile
from pathlib import Path

import postgres
import run as bench

# the governed path with its database in a PostgreSQL server (on the load core, as Redis), limits and
# budgets in memory or shared through Redis: how several instances run
DATABASES = {"postgres": "bench_postgres", "postgres-redis": "bench_postgres_redis"}
POSTGRES_CONFIG = bench.CONFIG.replace(
    "database: null", f"database: postgresql://postgres@127.0.0.1:{postgres.PORT}/{DATABASES['postgres']}\n"
    "usage_journal: ./postgres-usage.jsonl")
POSTGRES_REDIS_CONFIG = bench.CONFIG.replace(
    "database: null", f"database: postgresql://postgres@127.0.0.1:{postgres.PORT}/{DATABASES['postgres-redis']}\n"
    f"usage_journal: ./postgres-usage.jsonl\nredis: redis://127.0.0.1:{bench.PORTS['redis']}/0")
SYSTEMS = {"core": bench.CONFIG, "governed": bench.GOVERNED_CONFIG, "redis": bench.REDIS_CONFIG,
           "anthropic": bench.CONFIG, "budget-only": bench.GOVERNED_CONFIG, "key-only": bench.GOVERNED_CONFIG,
           "postgres": POSTGRES_CONFIG, "postgres-redis": POSTGRES_REDIS_CONFIG}
MODELS = {"anthropic": "bench-claude"}  # the model each system is asked for, where not bench-model
PORTS = {"core": 9310, "governed": 9311, "redis": 9312, "anthropic": 9313, "budget-only": 9314, "key-only": 9315,
         "postgres": 9316, "postgres-redis": 9317}
# the governed path with parts of it off, by what the database key carries: no rate limits (the
# budget alone), or neither (the key, the journal and the writer)
KEY_OPTIONS = {"budget-only": bench.BUDGET_OPTIONS, "key-only": []}


PRICE = "price: {input: 2.5, output: 10}"  # USD per 1M tokens, as a flagship model's


def priced(config: str) -> str:
    """The configuration with a price on the bench's models, which every request is then charged
    (its cost in the answer and the record, and against the key's budget, reserved and booked)."""
    return re.sub(r"(- \{provider: \w+, model: [\w-]+)\}", rf"\1, {PRICE}}}", config)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=int, default=6, help="seconds per round")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections per system")
    parser.add_argument("--stream", action="store_true", help="streamed answers (20 chunks) instead of whole ones")
    parser.add_argument("--paced", type=float, default=0.0, metavar="MS",
                        help="with --stream: the upstream sends a chunk every MS milliseconds, as a model generates "
                             "them, instead of the whole stream at once")
    parser.add_argument("--priced", action="store_true", help=f"the models priced ({PRICE}); else unpriced")
    parser.add_argument("--systems", default="core,governed,redis",
                        help=f"which, the first being the one the others are compared with: {', '.join(SYSTEMS)}")
    args = parser.parse_args()
    systems = args.systems.split(",")
    unknown = set(systems) - set(SYSTEMS)
    if unknown:
        parser.error(f"unknown systems: {', '.join(sorted(unknown))}")

    bench.ensure_free([bench.PORTS["emulator"], bench.PORTS["redis"], *(PORTS[name] for name in systems)])
    tmp = Path(tempfile.mkdtemp(prefix="relaygate-side-by-side-"))
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    procs: list[subprocess.Popen] = []
    stops: list = []  # run once the processes are gone
    gateways: dict[str, tuple[subprocess.Popen, str]] = {}
    try:
        procs.append(bench.pinned(bench.LOAD_CORE, [bench.PY, "-m", "relaygate.emulator", "--port",
                                                    str(bench.PORTS["emulator"]), "--no-record"], **quiet))
        procs.append(bench.pinned(bench.LOAD_CORE, ["redis-server", "--bind", "127.0.0.1", "--port",
                                                    str(bench.PORTS["redis"]), "--save", "", "--appendonly", "no"],
                                  **quiet))
        bench.wait_port(bench.PORTS["emulator"])
        bench.wait_port(bench.PORTS["redis"])
        database_server = start_postgres(systems)
        if database_server is not None:
            stops.append(database_server.stop)
        if args.paced:
            bench.script_slow_streams(args.paced / 1000, {"stream": True})
        for name in systems:
            config = SYSTEMS[name]
            folder = tmp / name
            folder.mkdir()
            (folder / "relaygate.yaml").write_text(priced(config) if args.priced else config)
            key = bench.CLIENT_KEY if config is bench.CONFIG else bench.governed_key(
                folder / "relaygate.yaml", KEY_OPTIONS.get(name, bench.GOVERNED_KEY_OPTIONS))
            gateway = bench.pinned(bench.SUT_CORE, [bench.RELAYGATE, "serve", "--config", "relaygate.yaml",
                                                    "--port", str(PORTS[name]), "--log-level", "warning"],
                                   cwd=folder, **quiet)
            procs.append(gateway)
            bench.wait_port(PORTS[name])
            gateways[name] = (gateway, key)

        per_request: dict[str, list[float]] = {name: [] for name in gateways}
        for round_no in range(args.rounds + 1):  # round 0 warms up
            seconds = args.duration if round_no else 2
            before = {name: cpu_seconds(p.pid) for name, (p, _) in gateways.items()}
            loads = {name: load(name, key, args, seconds) for name, (_, key) in gateways.items()}
            answered = {name: finished(w) for name, w in loads.items()}
            if not round_no:
                continue
            for name, (p, _) in gateways.items():
                per_request[name].append((cpu_seconds(p.pid) - before[name]) / answered[name] * 1e6)
            print(f"round {round_no}: " + ", ".join(f"{n} {v[-1]:.1f} µs" for n, v in per_request.items()), flush=True)
        print(report(per_request, args))
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(10)
        for stop in stops:
            stop()


def start_postgres(systems: list[str]) -> postgres.Server | None:
    """The PostgreSQL server, with a database for each system that needs one; None when none does."""
    needed = [DATABASES[name] for name in systems if name in DATABASES]
    if not needed:
        return None
    server = postgres.Server(bench.LOAD_CORE)
    server.start()
    for database in needed:
        server.create(database)
    return server


def load(name: str, key: str, args: argparse.Namespace, seconds: int) -> subprocess.Popen:
    env = {**os.environ, "KEY": key, "MODEL": MODELS.get(name, "bench-model"), "STREAM": "1" if args.stream else "0"}
    return subprocess.Popen(
        ["taskset", "-c", bench.LOAD_CORE, "wrk", "-t1", f"-c{args.connections}", f"-d{seconds}s",
         "-s", str(bench.HERE / "post.lua"), f"http://127.0.0.1:{PORTS[name]}/v1/chat/completions"],
        env=env, stdout=subprocess.PIPE, text=True,
    )


def finished(wrk: subprocess.Popen) -> int:
    """Requests the run answered with a 2xx (a run with errors stops the benchmark)."""
    out = wrk.communicate()[0]
    line = next(l for l in out.splitlines() if l.startswith("RESULT"))
    result = {k: float(v) for k, v in re.findall(r"(\w+)=([\d.]+)", line)}
    if result["errors"] or result["non2xx"]:
        raise SystemExit(f"errors under load: {line}")
    return int(re.search(r"(\d+) requests in", out).group(1))


def report(per_request: dict[str, list[float]], args: argparse.Namespace) -> str:
    kind = "streamed (20 chunks)" if args.stream else "whole answers"
    if args.stream and args.paced:
        kind = f"streamed (20 chunks, one every {args.paced:g} ms)"
    if args.priced:
        kind += ", priced model"
    first = next(iter(per_request))
    lines = [f"CPU per request, {kind}, {args.connections} connections each, medians of {args.rounds} rounds:",
             "", f"| system | CPU µs / request | {first} / system (throughput ratio) |", "|---|---|---|"]
    for name, values in per_request.items():
        ratios = [c / v for c, v in zip(per_request[first], values)]
        lines.append(f"| {name} | {statistics.median(values):.1f} | {statistics.median(ratios):.2f}x |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

"""Direct-vs-gateway benchmark: the emulator alone, the reference pass-through, and relaygate.

One run starts the upstream emulator and the load generator (wrk) on one core and the system under
test on the other (taskset), then measures, interleaved round by round:
  nonstream-c1, nonstream-c64, stream-c64 (20 chunks): req/s, p50/p99 latency (wrk);
  time to first byte of a stream (a small asyncio client, concurrency 8);
  relaygate's idle and peak RSS; and, once, N concurrent open streams held through relaygate.
Beside the core path: an Anthropic-translated upstream, and the whole governance path — a key from
the database with RPM, TPM and concurrency limits and a budget (never reached), its usage record
through the journal into SQLite on the same core — with limits and budgets in memory, and shared
through a redis-server (on the load core).
Medians over --rounds are printed as a Markdown table, with relaygate as a ratio of the reference.

    .venv/bin/python bench/run.py [--rounds 3] [--duration 10] [--reference ../shared/bench/naive_proxy.py]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import aiohttp

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY = sys.executable
RELAYGATE = str(Path(PY).parent / "relaygate")
UPSTREAM_KEY = "sk-bench-upstream"
CLIENT_KEY = "sk-bench-client-key"
PORTS = {"emulator": 9100, "reference": 9200, "relaygate": 9300, "relaygate-governed": 9301, "relaygate-redis": 9302,
         "redis": 9400}
# The governed key's limits and budget are far above the load: checked and booked, never hit
LIMIT_OPTIONS = ["--rpm", "100000000", "--tpm", "10000000000", "--max-concurrency", "100000"]
BUDGET_OPTIONS = ["--budget", "1000000", "--budget-period", "monthly"]
GOVERNED_KEY_OPTIONS = LIMIT_OPTIONS + BUDGET_OPTIONS
SUT_CORE, LOAD_CORE = "0", "1"
SCENARIOS = [("nonstream-c1", False, 1), ("nonstream-c64", False, 64), ("stream-c64", True, 64)]
# relaygate alone, the same load translated to and from Anthropic's Messages API, next to OpenAI wire;
# and with the whole governance path, limits and budgets in memory ("relaygate-governed") and shared
# through Redis ("relaygate-redis")
TRANSLATED = [("nonstream-c64", False, 64), ("stream-c64", True, 64)]

CONFIG = f"""
database: null                            # the core path: configured keys, no store
providers:
  up:
    type: openai
    base_url: http://127.0.0.1:{PORTS['emulator']}/openai/v1
    api_key: {UPSTREAM_KEY}
  claude:
    type: anthropic
    base_url: http://127.0.0.1:{PORTS['emulator']}/anthropic
    api_key: {UPSTREAM_KEY}
models:
  bench-model:
    - {{provider: up, model: bench-model}}
  bench-claude:
    - {{provider: claude, model: bench-claude}}
keys:
  - {{key: {CLIENT_KEY}, name: bench}}
"""
GOVERNED_CONFIG = CONFIG.replace(
    "database: null", "database: sqlite:///./governed.db\nusage_journal: ./governed-usage.jsonl")
REDIS_CONFIG = CONFIG.replace(
    "database: null", "database: sqlite:///./redis.db\nusage_journal: ./redis-usage.jsonl\n"
    f"redis: redis://127.0.0.1:{PORTS['redis']}/0")
GOVERNED = ["relaygate-governed", "relaygate-redis"]
GOVERNED_KEYS: dict[str, str] = {}  # system → the database key made for it at start


def pinned(core: str, args: list[str], **kwargs) -> subprocess.Popen:
    return subprocess.Popen(["taskset", "-c", core, *args], **kwargs)


def wait_port(port: int, timeout: float = 20.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"port {port} did not open")


def ensure_free(ports: Iterable[int]) -> None:
    """Stop unless every port is free: a service we start on a taken port exits at once, and a stale
    one already listening there (an emulator left with a pacing script, a gateway of another run)
    would be measured in its place."""
    import socket

    for port in ports:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                raise SystemExit(f"port {port} is in use: stop what listens there (a benchmark left running?)")


def rss_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def target_url(name: str) -> tuple[str, str]:
    """(chat completions URL, key) for a system under test."""
    port = PORTS[name]
    if name in GOVERNED:
        return f"http://127.0.0.1:{port}/v1/chat/completions", GOVERNED_KEYS[name]
    if name == "emulator":
        return f"http://127.0.0.1:{port}/openai/v1/chat/completions", UPSTREAM_KEY
    if name == "reference":
        return f"http://127.0.0.1:{port}/v1/chat/completions", UPSTREAM_KEY
    return f"http://127.0.0.1:{port}/v1/chat/completions", CLIENT_KEY


def governed_key(config: Path, options: list[str] = GOVERNED_KEY_OPTIONS) -> str:
    """A key in the configuration's database, made with the relaygate CLI (which also creates the
    database); the CLI prints the key on its last line."""
    out = subprocess.run([RELAYGATE, "keys", "create", "--config", str(config), "--name", "bench-governed",
                          *options], capture_output=True, text=True, cwd=config.parent)
    if out.returncode:
        raise SystemExit(f"relaygate keys create failed for {config}: {out.stderr.strip()[-2000:]}")
    return out.stdout.strip().splitlines()[-1]


def run_wrk(name: str, stream: bool, conns: int, duration: int, model: str = "bench-model") -> dict[str, float]:
    url, key = target_url(name)
    env = {**os.environ, "KEY": key, "MODEL": model, "STREAM": "1" if stream else "0"}
    out = subprocess.run(
        ["taskset", "-c", LOAD_CORE, "wrk", "-t1", f"-c{conns}", f"-d{duration}s", "--latency",
         "-s", str(HERE / "post.lua"), url],
        capture_output=True, text=True, env=env, check=True,
    ).stdout
    line = next(l for l in out.splitlines() if l.startswith("RESULT"))
    return {k: float(v) for k, v in re.findall(r"(\w+)=([\d.]+)", line)}


async def ttfb_ms(name: str, requests: int = 200, concurrency: int = 8) -> float:
    """Median time to the first body byte of a streamed answer."""
    url, key = target_url(name)
    body = {"model": "bench-model", "stream": True, "max_tokens": 64,
            "messages": [{"role": "user", "content": "Write one sentence about benchmarks."}]}
    headers = {"Authorization": f"Bearer {key}"}
    samples: list[float] = []
    async with aiohttp.ClientSession() as session:
        async def one() -> None:
            start = time.perf_counter()
            async with session.post(url, json=body, headers=headers) as resp:
                await resp.content.readany()
                samples.append((time.perf_counter() - start) * 1000)
                await resp.read()

        async def worker(n: int) -> None:
            for _ in range(n):
                await one()

        await asyncio.gather(*(worker(requests // concurrency) for _ in range(concurrency)))
    return statistics.median(samples)


async def hold_streams(count: int) -> tuple[int, int]:
    """Open `count` streams through relaygate at once (slow upstream chunks); (completed, failed)."""
    url, key = target_url("relaygate")
    body = {"model": "bench-model", "stream": True,
            "messages": [{"role": "user", "content": "hold the line"}]}
    ok = failed = 0
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as session:
        async def one() -> None:
            nonlocal ok, failed
            try:
                async with session.post(url, json=body, headers={"Authorization": f"Bearer {key}"}) as resp:
                    text = await resp.text()
                    ok += resp.status == 200 and text.rstrip().endswith("data: [DONE]")
                    failed += not (resp.status == 200 and text.rstrip().endswith("data: [DONE]"))
            except aiohttp.ClientError:
                failed += 1

        await asyncio.gather(*(one() for _ in range(count)))
    return ok, failed


def script_slow_streams(chunk_delay: float, match: dict | None = None) -> None:
    """From now on the emulator spaces the chunks of every stream `match`es (by default the streams
    of bench-model) by `chunk_delay` seconds."""
    import urllib.request

    rule = [{"match": match or {"model": "bench-model"}, "times": -1, "chunk_delay": chunk_delay}]
    request = urllib.request.Request(
        f"http://127.0.0.1:{PORTS['emulator']}/_emulator/script", data=json.dumps(rule).encode(),
        headers={"Content-Type": "application/json"}, method="POST",
    )
    urllib.request.urlopen(request).read()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--reference", default=str(ROOT.parent / "shared" / "bench" / "naive_proxy.py"))
    parser.add_argument("--streams", type=int, default=2000, help="concurrent open streams to hold (0: skip)")
    parser.add_argument("--out", default=str(HERE / "results"))
    args = parser.parse_args()
    ensure_free(PORTS.values())

    procs: list[subprocess.Popen] = []
    tmp = Path(tempfile.mkdtemp(prefix="relaygate-bench-"))
    (tmp / "relaygate.yaml").write_text(CONFIG)
    (tmp / "governed.yaml").write_text(GOVERNED_CONFIG)
    (tmp / "redis.yaml").write_text(REDIS_CONFIG)
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    try:
        procs.append(pinned(LOAD_CORE, [PY, "-m", "relaygate.emulator", "--port", str(PORTS["emulator"]),
                                        "--no-record"], **quiet))
        wait_port(PORTS["emulator"])
        systems = ["emulator", "relaygate"]
        if Path(args.reference).exists():
            env = {**os.environ, "UPSTREAM": f"http://127.0.0.1:{PORTS['emulator']}/openai/v1",
                   "PORT": str(PORTS["reference"])}
            procs.append(pinned(SUT_CORE, [PY, args.reference], env=env, **quiet))
            wait_port(PORTS["reference"])
            systems.insert(1, "reference")
        else:
            print(f"reference pass-through not found at {args.reference}; measuring without it")
        gateway = pinned(SUT_CORE, [RELAYGATE, "serve", "--config", str(tmp / "relaygate.yaml"),
                                    "--port", str(PORTS["relaygate"]), "--log-level", "warning"],
                         cwd=tmp, **quiet)  # its database and usage journal go to the temporary folder
        procs.append(gateway)
        wait_port(PORTS["relaygate"])
        for system, config in (("relaygate-governed", "governed.yaml"), ("relaygate-redis", "redis.yaml")):
            GOVERNED_KEYS[system] = governed_key(tmp / config)
        procs.append(pinned(SUT_CORE, [RELAYGATE, "serve", "--config", str(tmp / "governed.yaml"),
                                       "--port", str(PORTS["relaygate-governed"]), "--log-level", "warning"],
                            cwd=tmp, **quiet))
        wait_port(PORTS["relaygate-governed"])
        procs.append(pinned(LOAD_CORE, ["redis-server", "--bind", "127.0.0.1", "--port", str(PORTS["redis"]),
                                        "--save", "", "--appendonly", "no"], **quiet))
        wait_port(PORTS["redis"])
        procs.append(pinned(SUT_CORE, [RELAYGATE, "serve", "--config", str(tmp / "redis.yaml"),
                                       "--port", str(PORTS["relaygate-redis"]), "--log-level", "warning"],
                            cwd=tmp, **quiet))
        wait_port(PORTS["relaygate-redis"])
        run_wrk("relaygate", False, 4, 2)  # warm-up
        idle_rss = rss_kb(gateway.pid, "VmRSS")

        results: dict[str, dict[str, list[dict[str, float]]]] = {}
        for round_no in range(args.rounds):
            for scenario, stream, conns in SCENARIOS:
                for system in systems:
                    r = run_wrk(system, stream, conns, args.duration)
                    results.setdefault(scenario, {}).setdefault(system, []).append(r)
                    print(f"round {round_no + 1} {scenario:14} {system:10} {r}", flush=True)
            for scenario, stream, conns in TRANSLATED:
                r = run_wrk("relaygate", stream, conns, args.duration, model="bench-claude")
                results.setdefault(scenario, {}).setdefault("relaygate-anthropic", []).append(r)
                print(f"round {round_no + 1} {scenario:14} relaygate-anthropic {r}", flush=True)
                for system in GOVERNED:
                    r = run_wrk(system, stream, conns, args.duration)
                    results.setdefault(scenario, {}).setdefault(system, []).append(r)
                    print(f"round {round_no + 1} {scenario:14} {system} {r}", flush=True)
            for system in systems:
                t = asyncio.run(ttfb_ms(system))
                results.setdefault("ttfb", {}).setdefault(system, []).append({"ttfb_ms": t})
        peak_rss = rss_kb(gateway.pid, "VmHWM")

        held = None
        if args.streams:
            script_slow_streams(0.05)
            held = asyncio.run(hold_streams(args.streams))
            peak_after_streams = rss_kb(gateway.pid, "VmHWM")
        report = summarise(results, systems, idle_rss, peak_rss, held,
                           peak_after_streams if args.streams else None)
        print(report)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        (out / f"bench-{stamp}.json").write_text(json.dumps(results, indent=1))
        (out / f"bench-{stamp}.md").write_text(report)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(10)


def median(runs: list[dict[str, float]], field: str) -> float:
    return statistics.median(r[field] for r in runs)


def summarise(results, systems, idle_rss, peak_rss, held, peak_streams) -> str:
    lines = ["| scenario | system | req/s | p50 ms | p99 ms | errors |", "|---|---|---|---|---|---|"]
    for scenario, _, _ in SCENARIOS:
        for system in systems:
            runs = results[scenario][system]
            errors = sum(r["errors"] + r["non2xx"] for r in runs)
            lines.append(f"| {scenario} | {system} | {median(runs, 'rps'):.0f} | {median(runs, 'p50_ms'):.2f} "
                         f"| {median(runs, 'p99_ms'):.2f} | {errors:.0f} |")
    lines.append("")
    ttfb = {s: median(results["ttfb"][s], "ttfb_ms") for s in systems}
    lines.append("time to first byte, streamed, concurrency 8 (median ms): "
                 + ", ".join(f"{s} {v:.2f}" for s, v in ttfb.items()))
    if "reference" in systems:
        lines.append("")
        lines.append("relaygate / reference (medians of the rounds):")
        for scenario, _, conns in SCENARIOS:
            rg, ref = results[scenario]["relaygate"], results[scenario]["reference"]
            lines.append(f"- {scenario}: throughput {median(rg, 'rps') / median(ref, 'rps'):.2f}x")
        direct = median(results["nonstream-c1"]["emulator"], "p50_ms")
        added_rg = median(results["nonstream-c1"]["relaygate"], "p50_ms") - direct
        added_ref = median(results["nonstream-c1"]["reference"], "p50_ms") - direct
        lines.append(f"- added p50 at concurrency 1: relaygate {added_rg:.3f} ms, reference {added_ref:.3f} ms "
                     f"({added_rg / added_ref if added_ref > 0 else float('nan'):.2f}x)")
    lines.append("")
    lines.append("Anthropic Messages upstream (translated both ways) / OpenAI-wire upstream, both through relaygate:")
    for scenario, _, _ in TRANSLATED:
        translated, plain = results[scenario]["relaygate-anthropic"], results[scenario]["relaygate"]
        lines.append(f"- {scenario}: {median(translated, 'rps'):.0f} vs {median(plain, 'rps'):.0f} req/s "
                     f"({median(translated, 'rps') / median(plain, 'rps'):.2f}x)")
    lines.append("")
    lines.append("The whole governance path (a database key with RPM, TPM, concurrency limits and a budget, never "
                 "reached; a usage record per request through the journal into SQLite) / the core path:")
    for scenario, _, _ in TRANSLATED:
        plain = median(results[scenario]["relaygate"], "rps")
        cells = [f"{name} {median(results[scenario][system], 'rps'):.0f} "
                 f"({median(results[scenario][system], 'rps') / plain:.2f}x)"
                 for name, system in (("limits and budgets in memory", "relaygate-governed"),
                                      ("through Redis", "relaygate-redis"))]
        lines.append(f"- {scenario}: core {plain:.0f} req/s; " + "; ".join(cells))
    lines.append(f"\nrelaygate RSS: idle {idle_rss / 1024:.1f} MB, peak under load {peak_rss / 1024:.1f} MB")
    if held is not None:
        lines.append(f"{held[0] + held[1]} concurrent open streams: {held[0]} completed, {held[1]} failed; "
                     f"peak RSS {peak_streams / 1024:.1f} MB")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

"""Hedging: tail latency of a model whose first deployment stalls on one request in ten.

Runs the same load twice, hedging off and hedging on (a second deployment starts when the first has
not answered within --after seconds), and prints p50/p90/p99 latency for each.

    .venv/bin/python bench/hedge.py [--requests 400] [--concurrency 8] [--stall 1.0] [--after 0.1]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import aiohttp

from harness import emulator_and_gateway

KEY = "sk-hedge-client-key"


def config(hedge_after: float | None):
    hedge = f"routing:\n  hedge: {{tail: {hedge_after}}}\n" if hedge_after else ""
    return lambda emulator: f"""
providers:
  a: {{type: openai, base_url: "{emulator}/openai/v1", api_key: sk-up}}
  b: {{type: deepseek, base_url: "{emulator}/deepseek/v1", api_key: sk-up}}
models:
  tail:
    - {{provider: a, model: tail-a}}
    - {{provider: b, model: tail-b}}
keys:
  - {{key: {KEY}, name: hedge}}
{hedge}"""


async def load(emulator: str, gateway: str, requests: int, concurrency: int, stall: float) -> list[float]:
    async with aiohttp.ClientSession() as session:
        rule = {"match": {"model": "tail-a"}, "times": -1, "every": 10, "delay": stall}
        async with session.post(f"{emulator}/_emulator/script", json=[rule]):
            pass
        latencies: list[float] = []
        remaining = [requests]

        async def worker() -> None:
            while remaining[0] > 0:
                remaining[0] -= 1
                started = time.perf_counter()
                async with session.post(f"{gateway}/v1/chat/completions", headers={"Authorization": f"Bearer {KEY}"},
                                        json={"model": "tail", "messages": [{"role": "user", "content": "hi"}]}) as r:
                    await r.read()
                    assert r.status == 200, r.status
                latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return latencies


def percentiles(latencies: list[float]) -> str:
    q = statistics.quantiles(latencies, n=100)
    return f"p50 {q[49] * 1000:.0f} ms, p90 {q[89] * 1000:.0f} ms, p99 {q[98] * 1000:.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--stall", type=float, default=1.0)
    parser.add_argument("--after", type=float, default=0.1)
    args = parser.parse_args()
    for label, after in (("hedging off", None), (f"hedging after {args.after}s", args.after)):
        with emulator_and_gateway(config(after)) as (emulator, gateway, _):
            latencies = asyncio.run(load(emulator, gateway, args.requests, args.concurrency, args.stall))
        print(f"{label:20} {percentiles(latencies)}")


if __name__ == "__main__":
    main()

"""Chaos run: requests through relaygate while one of two upstreams fails at random.

2,000 requests (half streamed) at concurrency 32 against a model with two deployments; the first
fails 30% of the time before its first byte (500, 503, 429, or a connection cut). Every answer is
checked against the emulator's deterministic reply for its unique prompt: nothing may fail, be
duplicated or be cut short, and the gateway's reported attempts must equal what the upstream saw.

    .venv/bin/python bench/chaos.py [--requests 2000] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import time
from collections import Counter
from pathlib import Path

import aiohttp

from harness import emulator_and_gateway

KEY = "sk-chaos-client-key"
FAULTS = [  # applied in turn to what the previous rules left: 10% each, 30% in all
    {"status": 500, "chance": 0.1},
    {"status": 503, "chance": 0.1 / 0.9},
    {"cut_after": 0, "chance": 0.1 / 0.8},
]


def config(emulator: str) -> str:
    return f"""
providers:
  flaky: {{type: openai, base_url: "{emulator}/openai/v1", api_key: sk-up}}
  steady: {{type: deepseek, base_url: "{emulator}/deepseek/v1", api_key: sk-up}}
models:
  chaos:
    - {{provider: flaky, model: chaos-flaky}}
    - {{provider: steady, model: chaos-steady}}
keys:
  - {{key: {KEY}, name: chaos}}
routing:
  max_attempts: 3
  backoff: {{initial: 0.01, max: 0.1}}
  circuit: {{failures: 1000, cooldown: 1}}
"""


async def expected_reply(session: aiohttp.ClientSession, emulator: str, prompt: str) -> str:
    body = {"model": "chaos-steady", "messages": [{"role": "user", "content": prompt}]}
    async with session.post(f"{emulator}/deepseek/v1/chat/completions", json=body,
                            headers={"Authorization": "Bearer sk-up"}) as response:
        return (await response.json())["choices"][0]["message"]["content"]


async def one(session, gateway, i, stream) -> tuple[str, str, int]:
    """(outcome, content, attempts) for request i."""
    prompt = f"chaos request {i}"
    body = {"model": "chaos", "stream": stream, "messages": [{"role": "user", "content": prompt}]}
    async with session.post(f"{gateway}/v1/chat/completions", json=body,
                            headers={"Authorization": f"Bearer {KEY}"}) as response:
        attempts = int(response.headers.get("x-relaygate-attempts", "0"))
        if response.status != 200:
            return f"status {response.status}", await response.text(), attempts
        if not stream:
            return "ok", (await response.json())["choices"][0]["message"]["content"], attempts
        text = await response.text()
    return _stream_outcome(text), _stream_content(text), attempts


def _stream_outcome(text: str) -> str:
    if not text.rstrip().endswith("data: [DONE]"):
        return "stream without [DONE]"
    return "error frame" if '"error"' in text else "ok"


def _stream_content(text: str) -> str:
    parts = []
    for line in text.splitlines():
        if line.startswith("data: {"):
            for choice in json.loads(line[6:]).get("choices", []):
                parts.append(choice.get("delta", {}).get("content") or "")
    return "".join(parts)


async def run(requests: int, concurrency: int, emulator: str, gateway: str) -> int:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        async with session.post(f"{emulator}/_emulator/script", json=[
            {"match": {"model": "chaos-flaky"}, "times": -1, **fault} for fault in FAULTS
        ]):
            pass
        queue = list(range(requests))
        results: list[tuple[int, str, str, int]] = []

        async def worker() -> None:
            while queue:
                i = queue.pop()
                outcome, content, attempts = await one(session, gateway, i, stream=i % 2 == 0)
                results.append((i, outcome, content, attempts))

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.monotonic() - started
        return await report(session, emulator, results, elapsed)


async def report(session, emulator, results, elapsed) -> int:
    outcomes = Counter(outcome for _, outcome, _, _ in results)
    async with session.get(f"{emulator}/_emulator/requests") as response:
        seen = Counter(r["body"]["model"] for r in await response.json()
                       if isinstance(r.get("body"), dict) and r["body"].get("model", "").startswith("chaos-"))
    wrong = 0  # asked of the emulator directly only now, so that they are not counted above
    for i, outcome, content, _ in results:
        if outcome == "ok" and content != await expected_reply(session, emulator, f"chaos request {i}"):
            wrong += 1
    reported = sum(attempts for *_, attempts in results)
    upstream = seen["chaos-flaky"] + seen["chaos-steady"]
    print(f"{len(results)} requests in {elapsed:.1f}s: {dict(outcomes)}")
    print(f"answers differing from the expected reply (duplicated or cut): {wrong}")
    print(f"upstream calls: flaky {seen['chaos-flaky']}, steady {seen['chaos-steady']}; "
          f"attempts reported by the gateway: {reported} (upstream saw {upstream})")
    failed = len(results) - outcomes["ok"]
    return 0 if failed == 0 and wrong == 0 and reported == upstream else 1


def check_usage_records(database: Path, requests: int) -> int:
    """Every request has its usage record, and every attempt is listed in one."""
    deadline = time.monotonic() + 10
    while True:
        with sqlite3.connect(database) as db:
            rows = db.execute("SELECT status, attempts FROM usage_records WHERE model = 'chaos'").fetchall()
        if len(rows) >= requests or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    attempts = [a for _, listed in rows for a in json.loads(listed)]
    failed = Counter(a["status"] for a in attempts if a["status"] != 200)
    print(f"usage records: {len(rows)} for {requests} requests, listing {len(attempts)} attempts "
          f"({sum(failed.values())} failed ones: {dict(failed)})")
    return 0 if len(rows) == requests and all(status == 200 for status, _ in rows) else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    with emulator_and_gateway(config) as (emulator, gateway, workdir):
        code = asyncio.run(run(args.requests, args.concurrency, emulator, gateway))
        code |= check_usage_records(workdir / "relaygate.db", args.requests)
    print("PASS" if code == 0 else "FAIL")
    sys.exit(code)


if __name__ == "__main__":
    main()

"""`python -m relaygate.emulator`: serve the emulated upstreams until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

from .server import start_emulator


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m relaygate.emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100, help="0 picks a free port")
    parser.add_argument("--key", action="append", default=[], help="an accepted API key (repeatable)")
    parser.add_argument("--no-record", action="store_true", help="do not record requests (benchmarks)")
    parser.add_argument(
        "--per-event-writes", action="store_true", help="write each stream event separately even when unpaced"
    )
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    runner, port = await start_emulator(
        args.host, args.port, args.key, record=not args.no_record, burst=not args.per_event_writes
    )
    print(f"emulator listening on http://{args.host}:{port}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def event_loop_runner() -> Callable[[Coroutine[Any, Any, None]], None]:
    """`uvloop.run` when uvloop is installed, else `asyncio.run`."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run
    return uvloop.run


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        event_loop_runner()(serve(args))


if __name__ == "__main__":
    main()

"""Sends answers: whole JSON bodies, or SSE streams paced, cut or stalled as a rule asks.

Also watches the client: when it goes away before the answer is complete, the request's record
is marked `disconnected`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from aiohttp import web

from .recording import Record, mark_disconnected

KEEPALIVE = b": keep-alive\n\n"
# How often a waiting response checks on its client: rare enough that thousands of paced streams
# (the benchmark holds 2,000 open) cost little, often enough that a test sees a disconnect quickly.
POLL_SECONDS = 0.1
STALL_KEEPALIVE_SECONDS = 1.0
DONE, CUT, GONE = "done", "cut", "gone"
JSON_HEADERS = {"Content-Type": "application/json"}
SSE_HEADERS = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}


@dataclass(frozen=True)
class Pacing:
    """Timing and failure injection for one response (all off by default)."""

    delay: float = 0.0
    chunk_delay: float = 0.0
    cut_after: int | None = None
    stall_after: int | None = None
    keepalive: bool = False
    burst: bool = True
    linger: float = 0.0  # seconds the body stays open after the last event

    @property
    def per_event(self) -> bool:
        """Whether each event needs its own write (pauses or comments between events)."""
        return bool(self.chunk_delay or self.keepalive or not self.burst)


NO_PACING = Pacing()
PER_EVENT = Pacing(burst=False)


def merged(defaults: Mapping[str, str], overrides: Mapping[str, str]) -> dict[str, str]:
    """Response headers: the defaults, each replaced by an override of any letter case."""
    replaced = {name.lower() for name in overrides}
    return {**{k: v for k, v in defaults.items() if k.lower() not in replaced}, **overrides}


def client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


async def wait(request: web.Request, seconds: float) -> bool:
    """Sleeps `seconds`; False as soon as the client has gone away."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not client_gone(request):
        left = deadline - loop.time()
        if left <= 0:
            return True
        await asyncio.sleep(min(left, POLL_SECONDS))
    return False


async def hang(request: web.Request, response: web.StreamResponse | None = None) -> None:
    """Waits until the client leaves, writing keep-alive comments to `response` if given."""
    while await wait(request, STALL_KEEPALIVE_SECONDS):
        if response is not None:
            await response.write(KEEPALIVE)


async def cut(request: web.Request) -> None:
    """Drops the TCP connection (after what was written has left), like a crashed upstream."""
    transport = request.transport
    for _ in range(100):
        if transport is None or transport.get_write_buffer_size() == 0:
            break
        await asyncio.sleep(0.01)
    if transport is not None:
        transport.abort()


async def send_json(
    request: web.Request, status: int, body: bytes, headers: Mapping[str, str], pacing: Pacing, record: Record | None
) -> web.StreamResponse:
    """A whole JSON response; a rule's stall or cut applies before anything is sent."""
    if not await _before_headers(request, pacing, record):
        return web.Response(status=499)
    return web.Response(status=status, body=body, headers=merged(JSON_HEADERS, headers))


async def send_stream(
    request: web.Request,
    events: Iterable[bytes],
    headers: Mapping[str, str],
    pacing: Pacing,
    record: Record | None,
) -> web.StreamResponse:
    """An SSE response; see `_write_events` for how events are grouped into writes."""
    response = web.StreamResponse(status=200, headers=merged(SSE_HEADERS, headers))
    if not await _before_headers(request, pacing, record, streaming=True):
        return response
    try:
        await response.prepare(request)
        outcome = await _write_events(request, response, events, pacing)
        if outcome == DONE and pacing.linger and not await wait(request, pacing.linger):
            outcome = GONE
        if outcome == DONE:
            await response.write_eof()
    except ConnectionError:
        outcome = GONE
    except asyncio.CancelledError:
        mark_disconnected(record)
        raise
    if outcome == GONE:
        mark_disconnected(record)
    return response


async def _before_headers(request: web.Request, pacing: Pacing, record: Record | None, streaming: bool = False) -> bool:
    """Applies the delay (and, for whole bodies, stall or cut); False if nothing more should be sent."""
    if pacing.delay and not await wait(request, pacing.delay):
        mark_disconnected(record)
        return False
    if streaming:
        return True
    if pacing.stall_after is not None:
        await hang(request)
        mark_disconnected(record)
        return False
    if pacing.cut_after is not None:
        await cut(request)
        return False
    return True


async def _write_events(
    request: web.Request, response: web.StreamResponse, events: Iterable[bytes], pacing: Pacing
) -> str:
    """Writes the events; says whether the stream is DONE, was CUT, or the client is GONE.

    Unpaced events go out in one write: one syscall per event would make the emulator, not the
    gateway under test, the benchmark's bottleneck.
    """
    events = list(events)
    stop = min((k for k in (pacing.cut_after, pacing.stall_after) if k is not None and k < len(events)), default=None)
    if pacing.per_event:
        outcome = await _write_one_by_one(request, response, events[:stop], pacing)
    else:
        await response.write(b"".join(events[:stop]))
        outcome = DONE
    if stop is None or outcome != DONE:
        return outcome
    return await _stop(request, response, pacing, stop)


async def _write_one_by_one(
    request: web.Request, response: web.StreamResponse, events: list[bytes], pacing: Pacing
) -> str:
    for sent, event in enumerate(events):
        if sent and not await _between_events(request, response, pacing):
            return GONE
        await response.write(event)
    return DONE


async def _stop(request: web.Request, response: web.StreamResponse, pacing: Pacing, sent: int) -> str:
    """Ends a stream early as scripted: cut the connection, or stall until the client leaves."""
    if sent == pacing.cut_after:
        await cut(request)
        return CUT
    await hang(request, response if pacing.keepalive else None)
    return GONE


async def _between_events(request: web.Request, response: web.StreamResponse, pacing: Pacing) -> bool:
    if pacing.chunk_delay and not await wait(request, pacing.chunk_delay):
        return False
    if pacing.keepalive:
        await response.write(KEEPALIVE)
    return True

"""Relaying an upstream stream to the client: committed at the first good event, then forwarded
piece by piece as it arrives, within the provider's first-token, idle and total limits."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Protocol


from relaygate.errors import GatewayError, UpstreamError, UpstreamTimeout
from relaygate.ingress.http import Headers, Send
from relaygate.metering.estimate import SAMPLE_BYTES
from relaygate.metering.prices import ModelPrice, cost
from relaygate.providers.aggregate import summed
from relaygate.providers.base import StreamTranslator
from relaygate.providers.openai_stream import OpenAIStreamRelay, StreamEnd, first_event_error, whole_lf_events
from relaygate.routing.hedge import Lease, LostRace
from relaygate.routing.resolve import Upstream
from relaygate.upstream.client import UpstreamClient, streaming_timeout, transport_errors
from relaygate.upstream.deadline import StreamDeadline
from relaygate.wire.sse import DONE, Event, SSEDecoder
from relaygate.wire.usage_cost import read_usage, usage_with_cost, with_cost

if TYPE_CHECKING:
    from relaygate.ingress.disconnect import cancel_on_disconnect

TIMEOUT_MESSAGES = {
    "first_token": "Provider '{0}' sent no first token within {1.first_token:g}s.",
    "idle": "Provider '{0}' went silent for over {1.idle:g}s.",
    "total": "Provider '{0}' exceeded the total time limit of {1.total:g}s.",
}
SSE_HEADERS: Headers = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


class ClientStream:
    """The client side of a stream: headers go out with the first good event (the commit point).

    `on_end` runs just before the last bytes go out, so the usage record is journaled before the
    client can have a complete answer. The first bytes sent are kept as a sample (references to
    pieces sent anyway) for counting tokens when a stream ends without the upstream's usage
    (metering/estimate.py)."""

    __slots__ = ("send", "guard", "lease", "headers", "committed", "committed_at", "finished", "on_end", "sent",
                 "sample")

    def __init__(self, send: Send, guard: cancel_on_disconnect, lease: Lease, headers: Callable[[], Headers],
                 on_end: Callable[[ClientStream], None] | None = None) -> None:
        self.send = send
        self.guard = guard
        self.lease = lease
        self.headers = headers
        self.committed = False
        self.committed_at: float | None = None
        self.finished = False
        self.on_end = on_end
        self.sent = 0
        self.sample: list[bytes] = []

    async def _commit(self) -> None:
        """The first good event: this attempt answers the client (when hedged, if it is first)."""
        if not self.lease.claim():
            raise LostRace
        self.committed = True
        self.committed_at = time.monotonic()
        await self.send({"type": "http.response.start", "status": 200, "headers": [*SSE_HEADERS, *self.headers()]})

    async def write(self, data: bytes) -> None:
        if not self.committed:
            await self._commit()
        self.sent += len(data)
        if self.sent <= SAMPLE_BYTES:
            self.sample.append(data)
        await self.send({"type": "http.response.body", "body": data, "more_body": True})

    async def finish(self, data: bytes) -> None:
        if not self.committed:
            await self._commit()
        self.finished = self.guard.response_sent = True
        self.sent += len(data)
        if self.sent <= SAMPLE_BYTES:
            self.sample.append(data)
        if self.on_end is not None:
            self.on_end(self)
        await self.send({"type": "http.response.body", "body": data, "more_body": False})


class Pump(Protocol):
    """Upstream pieces in, client bytes out. `feed` returns None while no event is complete yet;
    `failure` is an upstream error found in the last piece, after the bytes that preceded it."""

    end: StreamEnd
    failure: GatewayError | None

    def feed(self, piece: bytes) -> bytes | None: ...

    def close(self) -> bytes: ...


class PassthroughPump:
    """An OpenAI-wire upstream: its bytes go out as they came, but for the usage chunk."""

    __slots__ = ("provider", "relay", "decoder", "started", "end")
    failure = None  # an OpenAI-wire error event is forwarded as it came

    def __init__(self, provider: str, client_wants_usage: bool, price: ModelPrice | None = None) -> None:
        self.provider = provider
        self.relay = OpenAIStreamRelay(client_wants_usage, price)
        self.decoder = SSEDecoder()
        self.started = False
        self.end = self.relay.end

    def feed(self, piece: bytes) -> bytes | None:
        """A piece of whole events takes the fast path; anything else goes through the decoder."""
        if self.decoder.at_boundary and whole_lf_events(piece):
            out = self._whole_events(piece)
            if out is not None:
                return out
        clean = self.decoder.at_boundary
        events = self.decoder.feed(piece)
        if not events:
            return None
        self._check_first(events[0])
        return self.relay.forward(events, piece if clean and self.decoder.at_boundary else None)

    def _whole_events(self, piece: bytes) -> bytes | None:
        if not self.started:
            first = piece[: piece.find(b"\n\n")]
            if first[:6] != b"data: " or b"\n" in first:
                return None  # a comment or a multi-line event first: let the decoder look
            self._check_first(Event(first[6:]))
        return self.relay.forward_piece(piece)

    def _check_first(self, event: Event) -> None:
        """An upstream that fails right away may still answer 200 with an error event first."""
        if self.started:
            return
        self.started = True
        error = first_event_error(event)
        if error is not None:
            raise UpstreamError(f"Provider '{self.provider}' failed: {str(error.get('message', 'error'))[:300]}")

    def close(self) -> bytes:
        return b""


class TranslatedPump:
    """An upstream with its own stream format: each event becomes zero or more chat chunks.
    A translator whose upstream frames events in its own way brings its own `decoder`.

    A piece of whole events (ending with a blank line, LF or CRLF, with nothing held by the decoder)
    is cut at its blank lines, and each event goes to the translator's `fast` first when it has one
    at the time: the framed chat chunk for an event it knows by its bytes (most of them), or None,
    having changed nothing, for the decoder and `translate`. Cutting there changes nothing for the
    decoder, which is fed the same bytes in the same order, only in more calls."""

    __slots__ = ("translator", "decoder", "end", "failure", "price", "clean", "done")

    def __init__(self, translator: StreamTranslator, price: ModelPrice | None = None, last: bool = True) -> None:
        """`last`: the client's stream ends with this one's ([DONE] follows it), as it does but for
        the copies of a CopiesPump."""
        self.translator = translator
        self.decoder = getattr(translator, "decoder", None) or SSEDecoder()
        self.end = translator.end
        self.failure: GatewayError | None = None
        self.price = price
        self.clean = True  # the decoder holds nothing
        self.done = DONE if last else b""

    def feed(self, piece: bytes) -> bytes | None:
        """An upstream error event stops the translation; what came before it in the same piece is
        still returned (and sent), and the error is kept in `failure` for the relay to raise next."""
        blank = None
        if self.clean:
            blank = b"\n\n" if piece.endswith(b"\n\n") else b"\r\n\r\n" if piece.endswith(b"\r\n\r\n") else None
        if blank is not None:
            fast = self.translator.fast
            if fast is not None:
                end = len(piece) - len(blank)
                if piece.find(blank) == end:  # one event, as most pieces are
                    framed = fast(piece, end)
                    if framed is not None:  # a chunk of `fast` never carries usage or ends the stream
                        return framed
            return self._events(piece, blank)
        events = self.decoder.feed(piece)
        self.clean = self.decoder.at_boundary
        if not events:
            return None
        chunks: list[bytes] = []
        try:
            for event in events:
                chunks += self.translator.translate(event)
        except GatewayError as exc:
            self.failure = exc
        return self._frames(chunks)

    def _events(self, piece: bytes, blank: bytes) -> bytes | None:
        """`feed` for a piece of whole events, cut at each `blank` line; None when it held no event
        (only comments, say), as the decoder would have it. A translator's `run`, where it has one, takes
        each stretch of events its `fast` would answer by itself (most of them) in one call."""
        translator, decoder = self.translator, self.decoder
        whole = decoder.whole
        out: list[bytes] = []  # framed, in order: what `fast` wrote, and `chunks` once framed
        chunks: list[bytes] = []  # what `translate` made since the last `fast` event
        blocks = piece.split(blank)
        blocks.pop()  # the empty tail after the last blank line
        n, count = 0, len(blocks)  # the next block
        at, pos = 0, 0  # a block, and where it begins in the piece (worked out only for `run`)
        events = 0
        try:
            while n < count:
                run = translator.run
                if run is not None:
                    for block in blocks[at:n]:
                        pos += len(block) + len(blank)
                    sent, pos, taken = run(piece, pos, blank)
                    at = n = n + taken
                    if taken:
                        events += taken
                        if chunks:
                            out.append(self._framed(chunks))
                            chunks = []
                        out.append(sent)
                        if n == count:
                            break
                fast = translator.fast
                block = blocks[n]
                n += 1
                if fast is not None:
                    framed = fast(block, len(block))
                    if framed is not None:
                        events += 1
                        if chunks:
                            out.append(self._framed(chunks))
                            chunks = []
                        out.append(framed)
                        continue
                event = whole(block)
                if event is not None:
                    events += 1
                    chunks += translator.translate(event)
                    continue
                decoded = decoder.feed(block + blank)
                if not decoder.at_boundary:  # what began is not SSE (Gemini's bare error): the rest is its
                    decoded += decoder.feed(blank.join(blocks[n:]) + blank) if n < count else []
                events += len(decoded)
                for event in decoded:
                    chunks += translator.translate(event)
                if not decoder.at_boundary:
                    break
        except GatewayError as exc:
            self.failure = exc
        self.clean = decoder.at_boundary
        if not events:
            return None
        if chunks:
            out.append(self._framed(chunks))
        sent = b"".join(out)
        return sent + self.done if self.end.done else sent

    def close(self) -> bytes:
        chunks = [chunk for event in self.decoder.flush() for chunk in self.translator.translate(event)]
        return self._frames(chunks + self.translator.close())

    def _frames(self, chunks: list[bytes]) -> bytes:
        out = self._framed(chunks)
        return out + self.done if self.end.done else out

    def _framed(self, chunks: list[bytes]) -> bytes:
        if self.price is not None and self.end.usage is not None:
            self._price_usage(chunks)
        return b"data: " + b"\n\ndata: ".join(chunks) + b"\n\n" if chunks else b""

    def _price_usage(self, chunks: list[bytes]) -> None:
        """The chunk that carries the usage (the last one with it) gets the usage's cost added."""
        for i in range(len(chunks) - 1, -1, -1):
            if b'"usage":{' in chunks[i]:
                usage, bounds = read_usage(chunks[i])
                if usage is not None and bounds is not None:
                    self.end.cost = cost(self.price, usage)
                    chunks[i] = with_cost(chunks[i], usage, bounds, self.end.cost)
                return


class CopiesPump:
    """The streams of the calls made for one request's `n` choices, where the upstream streams one
    choice per call (Anthropic's): each copy's pump writes its chunks as its choice (`as_choice`)
    and without a [DONE]; this one holds what metering reads (their usage added up, priced once)
    and, when every copy is done, writes the stream's end: the usage chunk, if the client asked for
    it, and [DONE]."""

    failure = None

    def __init__(self, pumps: list[TranslatedPump], price: ModelPrice | None,
                 usage_chunk: Callable[[dict[str, Any]], bytes] | None) -> None:
        self.pumps = pumps
        self.price = price
        self.usage_chunk = usage_chunk

    @property
    def end(self) -> StreamEnd:
        """The copies' ends as one: done when all are, their usage added up when each has one."""
        end = StreamEnd(done=all(pump.end.done for pump in self.pumps))
        usages = [pump.end.usage for pump in self.pumps]
        if all(isinstance(usage, dict) for usage in usages):
            end.usage = summed(usages)  # type: ignore[arg-type]
            end.cost = cost(self.price, end.usage) if self.price is not None else None
        return end

    def tail(self) -> bytes:
        """The stream's last bytes once every copy is done: the usage chunk when asked for, [DONE]."""
        end = self.end
        if self.usage_chunk is None or end.usage is None:
            return DONE
        return b"data: " + self.usage_chunk(usage_with_cost(end.usage, end.cost)) + b"\n\n" + DONE


async def relay_copies(
    client: UpstreamClient, stream: ClientStream, pumps: list[TranslatedPump], upstream: Upstream, url: str,
    headers: dict[str, str], payload: bytes,
) -> None:
    """`relay_stream` of the same call made once per pump, at once, into one client stream: each
    piece a copy translates goes out as it comes (whole events, so copies interleave between
    events). The first copy to fail cancels the others and its error is the attempt's.

    The stream commits only once every copy has its first good event, so that an upstream refusing
    one of the calls (a 400, a 429) fails the attempt before any byte went out, as it would a
    single call, and the router may still fall back. The copies' first pieces then go out in choice
    order: a client meets choice i before choice i + 1, as the openai SDK's stream accumulator,
    which numbers choices as they first appear, needs."""
    lock = asyncio.Lock()
    all_started = asyncio.Event()
    firsts: list[bytes | None] = [None] * len(pumps)

    async def one(choice: int, pump: TranslatedPump) -> None:
        async def write(out: bytes) -> None:
            if firsts[choice] is not None:
                async with lock:
                    await stream.write(out)
                return
            firsts[choice] = out
            if all(first is not None for first in firsts):  # the last copy to start sends every first piece
                async with lock:
                    await stream.write(b"".join(firsts))  # type: ignore[arg-type]
                all_started.set()
            else:
                await all_started.wait()

        await _relay_one(client, stream, pump, upstream, url, headers, payload, write, None)

    try:
        async with asyncio.TaskGroup() as group:
            for choice, pump in enumerate(pumps):
                group.create_task(one(choice, pump))
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None


async def relay_stream(
    client: UpstreamClient, stream: ClientStream, pump: Pump, upstream: Upstream, url: str,
    headers: dict[str, str], payload: bytes,
) -> None:
    """Send the request and forward what comes back. The client's stream is finished as soon as the
    answer is complete; the upstream body is still read to its end so its connection is pooled."""
    await _relay_one(client, stream, pump, upstream, url, headers, payload, stream.write, stream.finish)


async def _relay_one(
    client: UpstreamClient, stream: ClientStream, pump: Pump, upstream: Upstream, url: str,
    headers: dict[str, str], payload: bytes, write: Callable[[bytes], Awaitable[None]],
    finish: Callable[[bytes], Awaitable[None]] | None,
) -> None:
    """One upstream stream into `stream`: its pieces written as they come and, with `finish`, the
    piece that completes the answer finishing it (a copy's end is the CopiesPump's business)."""
    limits = upstream.timeout
    deadline = StreamDeadline(limits)
    try:
        async with deadline:
            response = await client.post(upstream.name, url, headers, payload, streaming_timeout(limits))
            with transport_errors(upstream.name):
                async with response:
                    if not 200 <= response.status < 300:
                        data = await response.read()
                        raise upstream.adapter.error_from_status(
                            upstream.name, response.status, data, response.headers.get("retry-after"), upstream.keys
                        )
                    async for piece in response.content.iter_any():
                        if stream.finished:
                            continue
                        out = pump.feed(piece)
                        if out is None:
                            continue
                        if pump.failure is not None and not stream.committed:
                            raise pump.failure  # nothing went out yet: the attempt fails whole, may fall back
                        if finish is not None and pump.end.done:
                            await finish(out)
                            continue
                        if out:
                            await write(out)
                        if pump.failure is not None:
                            raise pump.failure
                        deadline.alive()
                    if not stream.finished:
                        tail = pump.close()
                        if finish is not None and pump.end.done:
                            await finish(tail)
                        elif tail:
                            await write(tail)
    except TimeoutError:
        raise UpstreamTimeout(TIMEOUT_MESSAGES[deadline.phase].format(upstream.name, limits)) from None

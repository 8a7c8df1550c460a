"""Shared rate limits taken from Redis in blocks, for keys whose limits are large.

Asking Redis at every admission and every settlement costs each request two script calls, which for
a busy key is most of what sharing limits costs. A key whose every limit is large enough instead
takes a block of its allowance at a time (`lease` in store/lua/limits.lua): a thousandth of its RPM
and TPM, a hundredth of its concurrency, with the request that needed it. This instance then admits
against its block without a round trip until the block runs short, and gives back what it did not
use once the key has been idle for IDLE seconds (the watcher's round, governance/limiter.py).

What this changes for the limits: requests, tokens and slots held in a block count as used for the
other instances while this one holds them, so near a limit one instance can be refused what another
holds unused, by at most a block each, until that block goes back. A key with any limit below
LEASED_BELOW is never leased: its requests go to Redis one by one, and its limits hold exactly
across instances. A block taken by an instance that dies is never given back: its requests and
tokens come back as the minute refills them, its slots when its heartbeat runs out. The rate-limit
headers of a leased admission are those of its last lease, less what this instance used since.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from relaygate.governance.limits import KeyLimits, Verdict, given_headers

if TYPE_CHECKING:
    from relaygate.governance.redis_limits import RedisLimiter

RATE_PARTS = 1000  # a block of RPM or TPM is this fraction of the limit
SLOT_PARTS = 100  # a block of concurrency slots is this fraction of the limit
LEASED_BELOW = 2  # blocks smaller than this: the key goes to Redis per request
IDLE = 1.0  # seconds without an admission after which a key's unused block goes back


@lru_cache(maxsize=4096)
def blocks(limits: KeyLimits) -> tuple[int, int, int] | None:
    """(requests, tokens, slots) per block, or None when the key is not leased (some limit too small,
    or no limit at all); worked out once per set of limits, not per request."""
    sizes = (limits.rpm // RATE_PARTS if limits.rpm is not None else None,
             limits.tpm // RATE_PARTS if limits.tpm is not None else None,
             limits.max_concurrency // SLOT_PARTS if limits.max_concurrency is not None else None)
    if not limits or any(size is not None and size < LEASED_BELOW for size in sizes):
        return None
    return sizes[0] or 0, sizes[1] or 0, sizes[2] or 0


class Share:
    """This instance's block of one key's shared limits, and what it shows in the headers."""

    __slots__ = ("limits", "requests", "tokens", "slots", "busy", "last", "shown")

    def __init__(self, limits: KeyLimits) -> None:
        self.limits = limits  # the key's limits as last seen (they may change while a block is held)
        self.requests = 0  # requests leased, not used yet
        self.tokens = 0  # tokens leased, not used yet (negative: used more than leased; owed)
        self.slots = 0  # concurrency slots this instance holds in Redis
        self.busy = 0  # of which in use
        self.last = 0.0  # when it last admitted a request (monotonic)
        self.shown = (0, 0.0, 0, 0.0, 0.0)  # left and reset of requests and tokens at the last lease, and when

    def short(self, limits: KeyLimits, tokens: int) -> tuple[int, int, int] | None:
        """What this request needs that the block lacks, or None when the block covers it."""
        need = (1 - self.requests if limits.rpm is not None and self.requests < 1 else 0,
                tokens - self.tokens if limits.tpm is not None and self.tokens < tokens else 0,
                1 if limits.max_concurrency is not None and self.busy >= self.slots else 0)
        return need if any(need) else None

    def held(self, limits: KeyLimits, tokens: int, now: float) -> list[tuple[bytes, bytes]] | None:
        """The request taken from the block, and the headers it shows, when the block covers it
        (`short` is None); None, and nothing taken, when it does not. Every admission a block
        serves runs this, so it is one step."""
        rpm, tpm, most = limits.rpm, limits.tpm, limits.max_concurrency
        if ((rpm is not None and self.requests < 1) or (tpm is not None and self.tokens < tokens)
                or (most is not None and self.busy >= self.slots)):
            return None
        if rpm is not None:
            self.requests -= 1
        if tpm is not None:
            self.tokens -= tokens
        if most is not None:
            self.busy += 1
        self.last = now
        return self.headers(limits, now)

    def headers(self, limits: KeyLimits, now: float) -> list[tuple[bytes, bytes]]:
        left_requests, reset_requests, left_tokens, reset_tokens, at = self.shown
        left_requests += self.requests
        left_tokens += self.tokens
        reset_requests -= now - at
        reset_tokens -= now - at
        return given_headers(limits.packed, left_requests if left_requests > 0 else 0,
                             reset_requests if reset_requests > 0.0 else 0.0, left_tokens if left_tokens > 0 else 0,
                             reset_tokens if reset_tokens > 0.0 else 0.0)


class LeasedLimits:
    """The shares of one connection to Redis (a new connection starts with none)."""

    def __init__(self, shared: RedisLimiter) -> None:
        self.shared = shared
        self.shares: dict[str, Share] = {}

    async def admit(self, key: str, limits: KeyLimits, sizes: tuple[int, int, int], tokens: int,
                    now: float) -> Verdict:
        tokens = min(tokens, limits.tpm) if limits.tpm is not None else 0
        share = self.shares.get(key)
        if share is None:
            share = self.shares[key] = Share(limits)
        share.limits = limits
        need = share.short(limits, tokens)
        while need is not None:  # another request may spend what a lease brought while it was awaited
            refused = await self.shared.lease(key, limits, share, need, sizes, now)
            if refused is not None:
                return refused
            need = share.short(limits, tokens)
        return Verdict(True, share.held(limits, tokens, now), 0.0, "", self, tokens)  # held: nothing is short

    def admit_held(self, key: str, limits: KeyLimits, tokens: int, now: float) -> Verdict | None:
        """`admit` without a wait when the key's block covers the request; None when it takes a lease."""
        share = self.shares.get(key)
        if share is None or (share.limits is not limits and blocks(limits) is None):  # no longer leased
            return None
        tpm = limits.tpm
        tokens = (tokens if tokens < tpm else tpm) if tpm is not None else 0
        headers = share.held(limits, tokens, now)
        if headers is None:
            return None
        share.limits = limits
        return Verdict(True, headers, 0.0, "", self, tokens)

    def settle(self, key: str, limits: KeyLimits, reserved: int, used: int | None) -> None:
        """Locally: the slot goes back to the block, unused tokens too (more used: the block owes them)."""
        share = self.shares.get(key)
        if share is None:  # its block went back while the request ran (idle key, long request)
            if limits.tpm is not None and used is not None and used != reserved:
                self.shared.give_back(key, limits, 0, reserved - used, 0)  # settled with Redis itself
            return
        if limits.max_concurrency is not None:
            share.busy = max(share.busy - 1, 0)
        if limits.tpm is not None and used is not None:
            share.tokens += reserved - used

    def give_back(self, now: float) -> None:
        """Blocks of keys idle for IDLE seconds go back whole; a busy key's owed tokens are charged."""
        for key, share in list(self.shares.items()):
            idle = now - share.last >= IDLE
            if idle:
                back = (share.requests, share.tokens, share.slots - share.busy)
                share.requests = share.tokens = 0
                share.slots = share.busy
                if share.busy == 0:
                    del self.shares[key]
            elif share.tokens < 0:
                back = (0, share.tokens, 0)
                share.tokens = 0
            else:
                continue
            if any(back):
                self.shared.give_back(key, share.limits, *back)


def lease_result(share: Share, result: list[Any], now: float) -> tuple[int, float]:
    """Adds what Redis granted to the share and keeps what the headers show; (verdict, wait seconds)."""
    verdict, wait, got_requests, got_tokens, got_slots, left_r, reset_r, left_t, reset_t = result
    share.requests += got_requests
    share.tokens += got_tokens
    share.slots += got_slots
    share.shown = (max(0, left_r), reset_r / 1e6, max(0, left_t), reset_t / 1e6, now)
    return verdict, wait / 1e6


def wanted(need: int, have: int, size: int) -> int:
    """A block's worth on top of what is held, never less than the need."""
    return max(need, size - have, 0) if size else need


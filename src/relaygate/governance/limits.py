"""Requests-per-minute, tokens-per-minute and concurrency limits per client key, in memory.

RPM and TPM are one-minute windows kept as a generic cell rate algorithm (GCRA), which is a token
bucket holding a minute's allowance: a burst of N + k requests on an N RPM key admits exactly N,
and the allowance comes back evenly over the minute. The state is one number per key and limit
(the "theoretical arrival time"), so the same rule runs as one atomic script in Redis when several
instances share limits. TPM admits on an estimate of the prompt's tokens and settles with the
upstream's real usage. Answers carry OpenAI's `x-ratelimit-*` headers; a refusal says when to retry.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any
from dataclasses import dataclass, field

WINDOW = 60.0  # seconds


@dataclass(frozen=True, slots=True)
class KeyLimits:
    rpm: int | None = None
    tpm: int | None = None
    max_concurrency: int | None = None
    active: bool = field(init=False, default=False)  # any limit set: worked out once, read per request

    def __post_init__(self) -> None:
        object.__setattr__(self, "active", any(v is not None for v in (self.rpm, self.tpm, self.max_concurrency)))

    def __bool__(self) -> bool:
        return self.active


@dataclass(slots=True)
class Verdict:
    allowed: bool
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    retry_after: float = 0.0
    reason: str = ""  # which limit refused: "requests", "tokens" or "concurrency"
    shared: Any = None  # the RedisLimiter that admitted it, which settles it; None: this process's
    reserved: int = 0  # tokens reserved for the TPM limit, settled with the real usage


class Gcra:
    """One one-minute allowance of `limit` units per key."""

    __slots__ = ("limit", "interval", "tat")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.interval = WINDOW / limit  # seconds for one unit to come back
        self.tat: dict[str, float] = {}

    def take(self, key: str, units: int, now: float) -> tuple[bool, float]:
        """(allowed, seconds to wait if not); `units` above the whole allowance never fit."""
        tat = max(self.tat.get(key, now), now) + units * self.interval
        over = tat - now - WINDOW
        if over > 1e-9:
            return False, over
        self.tat[key] = tat
        return True, 0.0

    def give_back(self, key: str, units: int, now: float) -> None:
        """Settlement: units reserved but not used return to the allowance (negative: charge more)."""
        tat = self.tat.get(key, now) - units * self.interval
        self.tat[key] = max(tat, now - WINDOW)

    def state(self, key: str, now: float) -> tuple[int, float]:
        """(units left, seconds until the whole allowance is back), for the rate-limit headers."""
        used = self.tat.get(key, now) - now
        if used <= 0.0:
            return self.limit, 0.0
        return max(0, math.floor((WINDOW - used) / self.interval + 1e-9)), used


class MemoryLimiter:
    """Limits of one process; `now` is passed in so every rule is tested without sleeping."""

    def __init__(self) -> None:
        self.requests: dict[int, Gcra] = {}
        self.tokens: dict[int, Gcra] = {}
        self.in_flight: dict[str, int] = {}

    def _bucket(self, table: dict[int, Gcra], limit: int) -> Gcra:
        bucket = table.get(limit)
        if bucket is None:
            bucket = table[limit] = Gcra(limit)
        return bucket

    def admit(self, key: str, limits: KeyLimits, tokens: int, now: float) -> Verdict:
        requests = self._bucket(self.requests, limits.rpm) if limits.rpm is not None else None
        budget = self._bucket(self.tokens, limits.tpm) if limits.tpm is not None else None
        refusal = None
        if limits.max_concurrency is not None and self.in_flight.get(key, 0) >= limits.max_concurrency:
            refusal = 1.0, "concurrency"
        elif requests is not None and not (taken := requests.take(key, 1, now))[0]:
            refusal = taken[1], "requests"
        elif budget is not None and not (taken := budget.take(key, min(tokens, budget.limit), now))[0]:
            if requests is not None:
                requests.give_back(key, 1, now)
            refusal = taken[1], "tokens"
        elif limits.max_concurrency is not None:
            self.in_flight[key] = self.in_flight.get(key, 0) + 1
        headers = rate_headers(limits, requests.state(key, now) if requests is not None else None,
                               budget.state(key, now) if budget is not None else None)
        if refusal is not None:
            return Verdict(False, headers, *refusal)
        return Verdict(True, headers)

    def settle(self, key: str, limits: KeyLimits, reserved: int, used: int | None, now: float) -> None:
        """The request is over: free its concurrency slot and correct the token estimate."""
        if limits.max_concurrency is not None:
            self.in_flight[key] = max(self.in_flight.get(key, 1) - 1, 0)
        if limits.tpm is not None and used is not None:
            self._bucket(self.tokens, limits.tpm).give_back(key, min(reserved, limits.tpm) - used, now)


def rate_headers(
    limits: KeyLimits, requests: tuple[int, float] | None, tokens: tuple[int, float] | None
) -> list[tuple[bytes, bytes]]:
    """OpenAI's `x-ratelimit-*` headers from (remaining, seconds until the whole allowance is back)."""
    out: list[tuple[bytes, bytes]] = []
    if limits.rpm is not None and requests is not None:
        out += (_limit_header("requests", limits.rpm), (b"x-ratelimit-remaining-requests", b"%d" % requests[0]),
                (b"x-ratelimit-reset-requests", _reset(math.ceil(requests[1] * 1000))))
    if limits.tpm is not None and tokens is not None:
        out += (_limit_header("tokens", limits.tpm), (b"x-ratelimit-remaining-tokens", b"%d" % tokens[0]),
                (b"x-ratelimit-reset-tokens", _reset(math.ceil(tokens[1] * 1000))))
    return out


@lru_cache(maxsize=1024)
def _limit_header(kind: str, limit: int) -> tuple[bytes, bytes]:
    return f"x-ratelimit-limit-{kind}".encode(), str(limit).encode()


@lru_cache(maxsize=4096)
def _reset(milliseconds: int) -> bytes:
    """`duration` of a whole number of milliseconds, as a header value; most resets under load are a
    few milliseconds (a large allowance comes back fast), so the text is made once for each."""
    return duration(milliseconds / 1000).encode()


def duration(seconds: float) -> str:
    """OpenAI's reset format: `1s`, `6m0s`, `120ms`."""
    if seconds <= 0:
        return "0ms"
    if seconds < 1:
        return f"{math.ceil(seconds * 1000)}ms"
    minutes, rest = divmod(math.ceil(seconds), 60)
    return f"{minutes}m{rest}s" if minutes else f"{rest}s"


def estimate_prompt_tokens(raw_body: bytes) -> int:
    """A cheap upper-side guess at admission (about four bytes a token); settled with real usage."""
    return max(1, len(raw_body) // 4)

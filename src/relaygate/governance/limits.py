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
    # worked out once, read per request: any limit set; seconds for one request and one token to come back
    active: bool = field(init=False, default=False)
    per_request: float = field(init=False, default=0.0, compare=False, repr=False)
    per_token: float = field(init=False, default=0.0, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "active", any(v is not None for v in (self.rpm, self.tpm, self.max_concurrency)))
        object.__setattr__(self, "per_request", WINDOW / self.rpm if self.rpm else 0.0)
        object.__setattr__(self, "per_token", WINDOW / self.tpm if self.tpm else 0.0)

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


class _Allowance:
    """One key's state in this process: the theoretical arrival time of its requests and of its
    tokens (each for the limit it was kept for: a changed limit starts afresh), and its requests in flight."""

    __slots__ = ("rpm", "tpm", "requests", "tokens", "in_flight")

    def __init__(self) -> None:
        self.rpm: int | None = None
        self.tpm: int | None = None
        self.requests = self.tokens = -math.inf  # nothing used: the whole allowance is there
        self.in_flight = 0


def _left(tat: float, limit: int, per_unit: float, now: float) -> tuple[int, float]:
    """(units left, seconds until the whole allowance is back) of a theoretical arrival time."""
    used = tat - now
    if used <= 0.0:
        return limit, 0.0
    return max(0, math.floor((WINDOW - used) / per_unit + 1e-9)), used


class MemoryLimiter:
    """Limits of one process; `now` is passed in so every rule is tested without sleeping. Each key's
    state is one object (`_Allowance`), worked on in one pass per admission: this runs for every request."""

    def __init__(self) -> None:
        self.keys: dict[str, _Allowance] = {}

    def _state(self, key: str, limits: KeyLimits) -> _Allowance:
        state = self.keys.get(key)
        if state is None:
            state = self.keys[key] = _Allowance()
        if state.rpm != limits.rpm:
            state.rpm, state.requests = limits.rpm, -math.inf
        if state.tpm != limits.tpm:
            state.tpm, state.tokens = limits.tpm, -math.inf
        return state

    def admit(self, key: str, limits: KeyLimits, tokens: int, now: float) -> Verdict:
        state = self._state(key, limits)
        rpm, tpm, most = limits.rpm, limits.tpm, limits.max_concurrency
        refusal = None
        requests, spent = state.requests, state.tokens
        if most is not None and state.in_flight >= most:
            refusal = 1.0, "concurrency"
        else:
            if rpm is not None:  # GCRA: the arrival time moves on by one request; more than a minute ahead is over
                requests = max(requests, now) + limits.per_request
                if (over := requests - now - WINDOW) > 1e-9:
                    refusal, requests = (over, "requests"), state.requests
            if tpm is not None and refusal is None:  # units above the whole allowance never fit
                spent = max(spent, now) + min(tokens, tpm) * limits.per_token
                if (over := spent - now - WINDOW) > 1e-9:
                    refusal, requests, spent = (over, "tokens"), state.requests, state.tokens
            if refusal is None:
                state.requests, state.tokens = requests, spent
                if most is not None:
                    state.in_flight += 1
        headers = rate_headers(limits, _left(requests, rpm, limits.per_request, now) if rpm is not None else None,
                               _left(spent, tpm, limits.per_token, now) if tpm is not None else None)
        if refusal is not None:
            return Verdict(False, headers, *refusal)
        return Verdict(True, headers, reserved=tokens)

    def settle(self, key: str, limits: KeyLimits, reserved: int, used: int | None, now: float) -> None:
        """The request is over: free its concurrency slot and correct the token estimate (units
        reserved but not used come back; more used than reserved are charged)."""
        state = self.keys.get(key)
        if state is None:
            return
        if limits.max_concurrency is not None and state.in_flight:
            state.in_flight -= 1
        if limits.tpm is not None and used is not None and state.tpm == limits.tpm:
            state.tokens = max(state.tokens - (min(reserved, limits.tpm) - used) * limits.per_token, now - WINDOW)

    def in_flight(self, key: str) -> int:
        state = self.keys.get(key)
        return state.in_flight if state is not None else 0


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

"""Requests-per-minute, tokens-per-minute and concurrency limits per client key, in memory.

RPM and TPM are one-minute windows kept as a generic cell rate algorithm (GCRA), which is a token
bucket holding a minute's allowance: a burst of N + k requests on an N RPM key admits exactly N,
and the allowance comes back evenly over the minute. The state is one number per key and limit
(the "theoretical arrival time", kept here as the time owed after the last admission), so the same
rule runs as one atomic script in Redis when several instances share limits. TPM admits on an
estimate of the prompt's tokens and settles with the upstream's real usage. Answers carry OpenAI's
`x-ratelimit-*` headers; a refusal says when to retry.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any
from dataclasses import dataclass, field

from relaygate import speedups

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
    # what an Allowance takes: (rpm, tpm, max_concurrency, each -1 when not set, per_request, per_token,
    # and the `x-ratelimit-limit-*` headers of rpm and tpm, or None)
    packed: tuple[Any, ...] = field(init=False, default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "active", any(v is not None for v in (self.rpm, self.tpm, self.max_concurrency)))
        object.__setattr__(self, "per_request", WINDOW / self.rpm if self.rpm else 0.0)
        object.__setattr__(self, "per_token", WINDOW / self.tpm if self.tpm else 0.0)
        object.__setattr__(self, "packed", (
            _unset(self.rpm), _unset(self.tpm), _unset(self.max_concurrency), self.per_request, self.per_token,
            None if self.rpm is None else _limit_header("requests", self.rpm),
            None if self.tpm is None else _limit_header("tokens", self.tpm),
        ))

    def __bool__(self) -> bool:
        return self.active


def _unset(limit: int | None) -> int:
    return -1 if limit is None else limit


@dataclass(slots=True)
class PyVerdict:
    """An admission: allowed or not, the `x-ratelimit-*` headers, and what settles it. The C module's
    `Verdict` is the same, made without a call into Python's __init__ (one is made per request)."""

    allowed: bool
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    retry_after: float = 0.0
    reason: str = ""  # which limit refused: "requests", "tokens" or "concurrency"
    shared: Any = None  # the RedisLimiter that admitted it, which settles it; None: this process's
    reserved: int = 0  # tokens reserved for the TPM limit, settled with the real usage


Verdict: Any = speedups.native.Verdict if speedups.native is not None else PyVerdict


class PyAllowance:
    """One key's state in this process: for its requests and for its tokens, how far ahead of `at`
    their theoretical arrival time was (each for the limit it was kept for: a changed limit starts
    afresh), and its requests in flight. GCRA is kept as the time owed rather than as the arrival
    time itself, so its sums are of numbers under a minute: as an arrival time, `now + k * 60 / N`
    rounds to the precision of the clock's reading, which after a few days of uptime is coarse enough
    to refuse the last request of a burst of N on an N RPM key (a quarter of the limits at 1e6 s).
    The C module's `Allowance` does the same (speedups.py); this is it without the module.
    `packed` is KeyLimits.packed."""

    __slots__ = ("rpm", "tpm", "requests", "tokens", "at", "in_flight")

    def __init__(self) -> None:
        self.rpm = self.tpm = -1
        self.requests = self.tokens = 0.0  # seconds owed at `at`; none: the whole allowance is there
        self.at = -math.inf
        self.in_flight = 0

    def admit(self, packed: tuple[Any, ...], tokens: int, now: float) -> tuple[bool, list[tuple[bytes, bytes]], float, str]:
        """(allowed, the `x-ratelimit-*` headers, seconds to wait and the limit that refused when refused)."""
        rpm, tpm, most, per_request, per_token, rpm_header, tpm_header = packed
        if self.rpm != rpm:
            self.rpm, self.requests = rpm, 0.0
        if self.tpm != tpm:
            self.tpm, self.tokens = tpm, 0.0
        gone = now - self.at
        owed_requests = requests = self.requests - gone  # owed now (at most 0: nothing)
        owed_tokens = spent = self.tokens - gone
        wait, reason = 0.0, ""
        if most >= 0 and self.in_flight >= most:
            wait, reason = 1.0, "concurrency"
        else:
            if rpm >= 0:  # GCRA: one more request owed; more than a minute owed is over
                requests = max(requests, 0.0) + per_request
                if (over := requests - WINDOW) > 1e-9:
                    wait, reason, requests = over, "requests", owed_requests
            if tpm >= 0 and not reason:  # units above the whole allowance never fit
                spent = max(spent, 0.0) + min(tokens, tpm) * per_token
                if (over := spent - WINDOW) > 1e-9:
                    wait, reason, requests, spent = over, "tokens", owed_requests, owed_tokens
            if not reason:
                self.requests, self.tokens, self.at = requests, spent, now
                if most >= 0:
                    self.in_flight += 1
        headers: list[tuple[bytes, bytes]] = []
        if rpm >= 0:
            _add_headers(headers, rpm_header, REQUEST_HEADERS, *_left(requests, rpm, per_request))
        if tpm >= 0:
            _add_headers(headers, tpm_header, TOKEN_HEADERS, *_left(spent, tpm, per_token))
        return not reason, headers, wait, reason

    def settle(self, packed: tuple[Any, ...], reserved: int, used: int | None, now: float) -> None:
        """The request is over: free its concurrency slot and correct the token estimate (units
        reserved but not used come back; more used than reserved are charged)."""
        tpm = packed[1]
        if packed[2] >= 0 and self.in_flight:
            self.in_flight -= 1
        if tpm >= 0 and used is not None and self.tpm == tpm:
            gone = now - self.at
            back = (min(reserved, tpm) - used) * packed[4]
            self.requests = max(self.requests - gone, 0.0)
            self.tokens = max(self.tokens - gone - back, 0.0)
            self.at = now


Allowance: Any = speedups.native.Allowance if speedups.native is not None else PyAllowance


def _left(used: float, limit: int, per_unit: float) -> tuple[int, float]:
    """(units left, seconds until the whole allowance is back) of the time owed."""
    if used <= 0.0:
        return limit, 0.0
    return max(0, math.floor((WINDOW - used) / per_unit + 1e-9)), used


class MemoryLimiter:
    """Limits of one process; `now` is passed in so every rule is tested without sleeping. Each key's
    state is one object (an Allowance), worked on in one call per admission: this runs for every request."""

    def __init__(self) -> None:
        self.keys: dict[str, Any] = {}

    def admit(self, key: str, limits: KeyLimits, tokens: int, now: float) -> Verdict:
        state = self.keys.get(key)
        if state is None:
            state = self.keys[key] = Allowance()
        allowed, headers, wait, reason = state.admit(limits.packed, tokens, now)
        if allowed:
            return Verdict(True, headers, 0.0, "", None, tokens)
        return Verdict(False, headers, wait, reason)

    def settle(self, key: str, limits: KeyLimits, reserved: int, used: int | None, now: float) -> None:
        """The request is over: free its concurrency slot and correct the token estimate."""
        state = self.keys.get(key)
        if state is not None:
            state.settle(limits.packed, reserved, used, now)

    def in_flight(self, key: str) -> int:
        state = self.keys.get(key)
        return state.in_flight if state is not None else 0


REQUEST_HEADERS = (b"x-ratelimit-remaining-requests", b"x-ratelimit-reset-requests")
TOKEN_HEADERS = (b"x-ratelimit-remaining-tokens", b"x-ratelimit-reset-tokens")


def _add_headers(out: list[tuple[bytes, bytes]], limit_header: tuple[bytes, bytes], names: tuple[bytes, bytes],
                 left: int, reset: float) -> None:
    out += (limit_header, (names[0], b"%d" % left), (names[1], _reset(math.ceil(reset * 1000))))


def py_given_headers(packed: tuple[Any, ...], left_requests: int, reset_requests: float, left_tokens: int,
                     reset_tokens: float) -> list[tuple[bytes, bytes]]:
    """OpenAI's `x-ratelimit-*` headers of every limit a KeyLimits' `packed` form sets, from each one's
    remaining units and seconds until its whole allowance is back, as the shared limits know them
    (the C module's `rate_headers` does the same)."""
    out: list[tuple[bytes, bytes]] = []
    if packed[5] is not None:
        _add_headers(out, packed[5], REQUEST_HEADERS, left_requests, reset_requests)
    if packed[6] is not None:
        _add_headers(out, packed[6], TOKEN_HEADERS, left_tokens, reset_tokens)
    return out


given_headers: Any = speedups.native.rate_headers if speedups.native is not None else py_given_headers


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

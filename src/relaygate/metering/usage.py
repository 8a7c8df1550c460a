"""One client request's usage, as a value: what the journal holds and the database receives.

Token counts follow OpenAI's `usage`: `prompt_tokens` includes the cached ones
(`prompt_tokens_details.cached_tokens`) and `completion_tokens` includes the reasoning ones
(`completion_tokens_details.reasoning_tokens`). The provider adapters translate to that shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class Tokens:
    prompt: int = 0
    completion: int = 0
    reasoning: int = 0
    cached: int = 0


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def tokens_of(usage: Mapping[str, Any] | None) -> Tokens:
    """Counts from an OpenAI-shaped `usage`; missing or malformed counts are 0. DeepSeek reports
    cache hits as `prompt_cache_hit_tokens` (https://api-docs.deepseek.com/guides/kv_cache)."""
    if not usage:
        return Tokens()
    prompt_details = usage.get("prompt_tokens_details") or {}
    completion_details = usage.get("completion_tokens_details") or {}
    cached = _count(prompt_details.get("cached_tokens")) or _count(usage.get("prompt_cache_hit_tokens"))
    return Tokens(
        prompt=_count(usage.get("prompt_tokens")),
        completion=_count(usage.get("completion_tokens")),
        reasoning=_count(completion_details.get("reasoning_tokens")),
        cached=cached,
    )


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try at one deployment within a request."""

    provider: str
    model: str  # the upstream's model name
    status: int
    latency_ms: int
    error: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True, slots=True)
class UsageRecord:
    request_id: str
    key: str
    model: str  # the model id the client asked for
    created_at: datetime  # when the request finished, aware UTC
    provider: str | None = None
    upstream_model: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    cached_tokens: int = 0
    cost: Decimal = Decimal(0)  # USD charged to the key: every attempt that produced tokens
    latency_ms: int | None = None
    ttft_ms: int | None = None
    status: int = 200
    error_code: str | None = None
    stream: bool = False
    estimated: bool = False  # counted from text because the upstream gave no usage
    attempts: tuple[Attempt, ...] = field(default=())

    @property
    def day(self) -> date:
        """The rollup's day: the UTC date the request finished."""
        return self.created_at.astimezone(timezone.utc).date()

    def to_json(self) -> bytes:
        """One journal line (without its newline). Cost is text so that no digit is lost.
        orjson serialises the dataclasses itself: `dataclasses.asdict` deep-copies and cost 40x more."""
        return orjson.dumps(self, default=_decimal_text)

    @classmethod
    def from_json(cls, line: bytes) -> UsageRecord:
        data = orjson.loads(line)
        data["cost"] = Decimal(data["cost"])
        data["created_at"] = datetime.fromisoformat(data["created_at"])
        data["attempts"] = tuple(Attempt(**a) for a in data.get("attempts") or ())
        return cls(**data)

    def row(self) -> dict[str, Any]:
        """Column values for `usage_records`."""
        return {
            "request_id": self.request_id, "key_name": self.key, "model": self.model,
            "provider": self.provider, "upstream_model": self.upstream_model,
            "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
            "reasoning_tokens": self.reasoning_tokens, "cached_tokens": self.cached_tokens,
            "cost": self.cost, "latency_ms": self.latency_ms, "ttft_ms": self.ttft_ms,
            "status": self.status, "error_code": self.error_code, "stream": self.stream,
            "estimated": self.estimated, "attempts": [attempt_dict(a) for a in self.attempts],
            "created_at": self.created_at,
        }


def _decimal_text(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def attempt_dict(attempt: Attempt) -> dict[str, Any]:
    return {f.name: getattr(attempt, f.name) for f in fields(attempt)}

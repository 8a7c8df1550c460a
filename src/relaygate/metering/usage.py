"""One client request's usage, as a value: what the journal holds and the database receives.

Token counts follow OpenAI's `usage`: `prompt_tokens` includes the cached ones
(`prompt_tokens_details.cached_tokens`) and `completion_tokens` includes the reasoning ones
(`completion_tokens_details.reasoning_tokens`). The provider adapters translate to that shape.

The journal holds a record as one JSON array (`to_json`), its values in the order of the
`usage_records` columns (`RECORD_COLUMNS`): the batch writer hands the parsed array to the database
nearly as it is, with no object made per record on the way (sink.py). New columns go at the end.
Lines written by earlier versions, as JSON objects or as arrays without the columns added since,
are still read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

import orjson

Entry = list[Any]  # a parsed journal line: the values of RECORD_COLUMNS, cost as text, time in ISO 8601
RECORD_COLUMNS = (
    "request_id", "key_name", "model", "provider", "upstream_model", "prompt_tokens", "completion_tokens",
    "reasoning_tokens", "cached_tokens", "cost", "latency_ms", "ttft_ms", "status", "error_code", "stream",
    "estimated", "attempts", "created_at", "client_request_id",
)
_PREVIOUS_LENGTH = len(RECORD_COLUMNS) - 1  # lines written before `client_request_id` was added
RECORD_FIELDS = tuple("key" if column == "key_name" else column for column in RECORD_COLUMNS)  # UsageRecord's


@dataclass(slots=True)
class Tokens:
    prompt: int = 0
    completion: int = 0
    reasoning: int = 0
    cached: int = 0  # read from the provider's prompt cache
    cache_write: int = 0  # written to it (part of `prompt`, as `cached` is)
    cache_write_1h: int = 0  # of which to a one-hour cache
    explicit: bool = False  # the cache is one the client asked for (DashScope's explicit cache), read at its own price


MOST_TOKENS = 2**31 - 1  # what a record's count columns hold (INTEGER); an upstream's larger count is cut to it


def _count(value: Any) -> int:
    if type(value) is not int or value <= 0:  # a bool is not a count
        return 0
    return value if value <= MOST_TOKENS else MOST_TOKENS


def _details(usage: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    details = usage.get(name)
    return details if isinstance(details, dict) else {}


def tokens_of(usage: Mapping[str, Any] | None) -> Tokens:
    """Counts from an OpenAI-shaped `usage`; missing or malformed counts are 0. DeepSeek reports
    cache hits as `prompt_cache_hit_tokens` (https://api-docs.deepseek.com/guides/kv_cache); cache
    writes are `prompt_tokens_details.cache_write_tokens` (as OpenRouter reports them), the one-hour
    ones among them `cache_write_1h_tokens` (relaygate's, from Anthropic's usage). DashScope reports
    its explicit cache in `prompt_tokens_details` as Anthropic does in `usage`:
    `cache_creation_input_tokens` and `cache_creation.ephemeral_1h_input_tokens`, with `cache_type:
    "ephemeral"` when the request used it (its reads then bill at the explicit cache's price)."""
    if not usage:
        return Tokens()
    details = _details(usage, "prompt_tokens_details")
    cached = _count(details.get("cached_tokens")) or _count(usage.get("prompt_cache_hit_tokens"))
    writes = _count(details.get("cache_write_tokens")) or _count(details.get("cache_creation_input_tokens"))
    long_writes = _count(details.get("cache_write_1h_tokens"))
    if not long_writes and "cache_creation" in details:
        long_writes = _count(_details(details, "cache_creation").get("ephemeral_1h_input_tokens"))
    return Tokens(_count(usage.get("prompt_tokens")), _count(usage.get("completion_tokens")),
                  _count(_details(usage, "completion_tokens_details").get("reasoning_tokens")), cached,
                  writes, long_writes, details.get("cache_type") == "ephemeral")


@dataclass  # no __slots__: orjson writes a dataclass with a __dict__ six times faster (0.2 against 1.3 µs)
class Attempt:
    """One try at one deployment within a request."""

    provider: str
    model: str  # the upstream's model name
    status: int
    latency_ms: int
    error: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(slots=True)
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
    client_request_id: str | None = None  # the client's own id for the request, when it sent one

    @property
    def day(self) -> date:
        """The rollup's day: the UTC date the request finished."""
        return self.created_at.astimezone(timezone.utc).date()

    def to_json(self, option: int = 0) -> bytes:
        """One journal line (without its newline unless `option` has OPT_APPEND_NEWLINE): an array in
        `RECORD_COLUMNS` order. Cost is text so that no digit is lost; orjson writes the time and the
        attempts (dataclasses) itself."""
        return orjson.dumps((
            self.request_id, self.key, self.model, self.provider, self.upstream_model, self.prompt_tokens,
            self.completion_tokens, self.reasoning_tokens, self.cached_tokens, str(self.cost), self.latency_ms,
            self.ttft_ms, self.status, self.error_code, self.stream, self.estimated, self.attempts, self.created_at,
            self.client_request_id,
        ), option=option)

    def entry(self) -> Entry:
        """The record as the journal's reader gives it to the writer (`entry_of` of its line)."""
        return orjson.loads(self.to_json())

    @classmethod
    def from_json(cls, line: bytes) -> UsageRecord:
        """A journal line back into a record, either form."""
        data = orjson.loads(line)
        if isinstance(data, list):
            data = dict(zip(RECORD_FIELDS, data))
        data["cost"] = Decimal(data["cost"])
        data["created_at"] = datetime.fromisoformat(data["created_at"])
        data["attempts"] = tuple(Attempt(**a) for a in data.get("attempts") or ())
        return cls(**data)


def entry_of(line: bytes) -> Entry:
    """A journal line as an entry; a line of an earlier form is converted: an object, or an array
    without the columns added since (at its end), which are null."""
    data = orjson.loads(line)
    if isinstance(data, list):
        if len(data) == len(RECORD_COLUMNS):
            return data
        if len(data) == _PREVIOUS_LENGTH:
            data.append(None)
            return data
        raise ValueError(f"a journal entry has {len(RECORD_COLUMNS)} values, not {len(data)}")
    return UsageRecord.from_json(line).entry()

"""One finished client request → its UsageRecord: tokens from the answer's usage, cost from the
deployment's price (configured, else the bundled table), and every attempt made on the way."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Iterable

from relaygate.metering.prices import cost_of_tokens
from relaygate.metering.usage import Attempt, UsageRecord, tokens_of
from relaygate.routing.attempt import AttemptRecord
from relaygate.routing.resolve import Target


def usage_record(
    *, request_id: str, client_request_id: str | None = None,
    key: str, model: str, target: Target | None, usage: dict[str, Any] | None,
    cost: Decimal | None = None, attempts: Iterable[AttemptRecord], status: int, error_code: str | None, stream: bool,
    latency: float, ttft: float | None, estimated: bool = False,
) -> UsageRecord:
    tokens = tokens_of(usage)
    if cost is None:
        price = target.model_price if target is not None else None
        cost = cost_of_tokens(price, tokens) if price is not None else Decimal(0)
    return UsageRecord(
        request_id=request_id, key=key, model=model, created_at=datetime.now(timezone.utc),
        provider=target.upstream.name if target else None, upstream_model=target.model if target else None,
        prompt_tokens=tokens.prompt, completion_tokens=tokens.completion, reasoning_tokens=tokens.reasoning,
        cached_tokens=tokens.cached, cost=cost, latency_ms=round(latency * 1000),
        ttft_ms=round(ttft * 1000) if ttft is not None else None, status=status, error_code=error_code,
        stream=stream, estimated=estimated, attempts=tuple(_attempt(a) for a in attempts),
        client_request_id=client_request_id,
    )


def _attempt(record: AttemptRecord) -> Attempt:
    return Attempt(provider=record.provider, model=record.model, status=record.status,
                   latency_ms=round(record.seconds * 1000), error=record.error)

"""Usage records for the metering tests."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from hypothesis import strategies as st

from relaygate.metering.usage import Attempt, UsageRecord

DAY0 = datetime(2026, 3, 1, 10, 30, tzinfo=timezone.utc)


def record(n: int, *, key: str = "team-a", model: str = "gpt-4o", day: int = 0,
           cost: str = "0.0012345678", prompt: int = 100, completion: int = 20) -> UsageRecord:
    return UsageRecord(
        request_id=f"req-{n:06d}", key=key, model=model, created_at=DAY0 + timedelta(days=day, seconds=n),
        provider="openai", upstream_model=model, prompt_tokens=prompt, completion_tokens=completion,
        reasoning_tokens=completion // 4, cached_tokens=prompt // 10, cost=Decimal(cost), latency_ms=120,
        ttft_ms=30, stream=n % 2 == 0,
        attempts=(Attempt("openai", model, 200, 120, prompt_tokens=prompt, completion_tokens=completion),),
    )


def mixed(count: int, seed: int = 7) -> list[UsageRecord]:
    """Records over 2 keys, 3 models and 4 days with uneven tokens and exact 10-digit costs."""
    rng = random.Random(seed)
    return [
        record(n, key=rng.choice(["team-a", "team-b"]), model=rng.choice(["gpt-4o", "qwen-plus", "deepseek-chat"]),
               day=rng.randrange(4), cost=f"0.{rng.randrange(10**10):010d}",
               prompt=rng.randrange(1, 5000), completion=rng.randrange(0, 800))
        for n in range(count)
    ]


def entries(records: list[UsageRecord]) -> list[list]:
    """The records as the journal's reader hands them to the batch writer."""
    return [r.entry() for r in records]


def record_strategy(text, count, costs, flags):
    """Hypothesis's arbitrary UsageRecords, of the given strategies for texts, counts, costs and flags;
    times of any zone (UTC most often), on a whole second or not."""
    optional_text = st.one_of(st.none(), text)
    zones = st.one_of(st.just(timezone.utc), st.just(timezone.utc),
                      st.builds(timezone, st.integers(-14 * 60, 14 * 60).map(lambda m: timedelta(minutes=m))))
    moments = st.builds(lambda moment, zone, whole: (moment.replace(microsecond=0) if whole else moment).replace(
        tzinfo=zone), st.datetimes(datetime(1, 1, 2), datetime(9999, 12, 30)), zones, st.booleans())
    attempts = st.lists(st.builds(Attempt, text, text, st.integers(100, 599), st.integers(0, 10**6), optional_text,
                                  count, count), max_size=3).map(tuple)
    return st.builds(
        UsageRecord, request_id=text, key=text, model=text, created_at=moments, provider=optional_text,
        upstream_model=optional_text, prompt_tokens=count, completion_tokens=count, reasoning_tokens=count,
        cached_tokens=count, cost=costs, latency_ms=st.one_of(st.none(), count), ttft_ms=st.one_of(st.none(), count),
        status=st.integers(100, 599), error_code=optional_text, stream=flags, estimated=flags, attempts=attempts,
        client_request_id=optional_text,
    )


def outcome(make, record):
    """What `make(record)` gave, or the type of what it raised (the C and the Python must raise alike)."""
    try:
        return make(record)
    except Exception as exc:  # noqa: BLE001
        return type(exc)

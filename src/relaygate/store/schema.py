"""The tables: client keys, one usage record per request, and the daily rollup reports read.

Migrations (`migrations/versions/`) create exactly these; `tests/store` checks the two agree.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON, BigInteger, Boolean, CheckConstraint, Column, Date, Index, Integer, MetaData, String, Table, text,
)

from relaygate.store.types import Money, UTCDateTime

metadata = MetaData()

# 64-bit integers: BIGINT, but on SQLite INTEGER, which holds 64 bits already and is the only type
# of which SQLite makes a rowid (INTEGER PRIMARY KEY).
_INT64 = BigInteger().with_variant(Integer(), "sqlite")
CLIENT_ID_GIVEN = text("client_request_id IS NOT NULL")
ERROR_STATUS = text("status >= 400")  # the request log's status filters: errors are few, an index finds them

api_keys = Table(
    "api_keys", metadata,
    Column("id", _INT64, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("digest", String(64), nullable=False, unique=True),  # SHA-256 of the secret, hex
    Column("prefix", String(16), nullable=False),  # the secret's first characters, for display only
    Column("metadata", JSON, nullable=False),
    Column("models", JSON, nullable=True),  # list of allowed model ids; null allows every model
    Column("budget", Money, nullable=True),  # USD per period (or in total without a period)
    Column("budget_period", String(16), nullable=True),
    Column("rpm", _INT64, nullable=True),
    Column("tpm", _INT64, nullable=True),
    Column("max_concurrency", _INT64, nullable=True),
    Column("expires_at", UTCDateTime, nullable=True),
    Column("disabled", Boolean, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    CheckConstraint("budget_period IN ('daily', 'monthly')", name="ck_api_keys_budget_period"),
    Index("ix_api_keys_updated_at", "updated_at"),  # running gateways poll for changed keys
)

usage_records = Table(
    "usage_records", metadata,
    Column("id", _INT64, primary_key=True, autoincrement=True),
    Column("request_id", String(64), nullable=False, unique=True),  # idempotency key of journal replay
    Column("key_name", String(200), nullable=False),
    Column("model", String(200), nullable=False),  # as the client asked for it
    Column("provider", String(100), nullable=True),
    Column("upstream_model", String(200), nullable=True),
    Column("prompt_tokens", Integer, nullable=False),
    Column("completion_tokens", Integer, nullable=False),
    Column("reasoning_tokens", Integer, nullable=False),
    Column("cached_tokens", Integer, nullable=False),
    Column("cost", Money, nullable=False),
    Column("latency_ms", Integer, nullable=True),
    Column("ttft_ms", Integer, nullable=True),
    Column("status", Integer, nullable=False),
    Column("error_code", String(100), nullable=True),
    Column("stream", Boolean, nullable=False),
    Column("estimated", Boolean, nullable=False),  # tokens counted from text: the upstream sent no usage
    Column("attempts", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("client_request_id", String(128), nullable=True),  # the client's own id, not unique: it may repeat
    Index("ix_usage_records_key_created", "key_name", "created_at"),
    Index("ix_usage_records_model_created", "model", "created_at"),
    Index("ix_usage_records_created", "created_at"),
    Index("ix_usage_records_provider_created", "provider", "created_at"),  # the admin request log's filters
    Index("ix_usage_records_error_created", "status", "created_at",
          sqlite_where=ERROR_STATUS, postgresql_where=ERROR_STATUS),  # partial: an ok row's filter walks created_at
    Index("ix_usage_records_client_request_created", "client_request_id", "created_at",
          sqlite_where=CLIENT_ID_GIVEN, postgresql_where=CLIENT_ID_GIVEN),  # partial: most requests send none
)

# One row per (UTC day, key, model), kept up to date in the transaction that writes the records.
usage_daily = Table(
    "usage_daily", metadata,
    Column("day", Date, primary_key=True),
    Column("key_name", String(200), primary_key=True),
    Column("model", String(200), primary_key=True),
    Column("requests", BigInteger, nullable=False),
    Column("prompt_tokens", BigInteger, nullable=False),
    Column("completion_tokens", BigInteger, nullable=False),
    Column("reasoning_tokens", BigInteger, nullable=False),
    Column("cached_tokens", BigInteger, nullable=False),
    Column("cost", Money, nullable=False),
    Index("ix_usage_daily_key_day", "key_name", "day"),
    Index("ix_usage_daily_model_day", "model", "day"),
)

ROLLUP_COUNTS = ("requests", "prompt_tokens", "completion_tokens", "reasoning_tokens", "cached_tokens", "cost")

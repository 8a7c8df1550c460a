"""Keys, usage records and the daily usage rollup.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Types are spelled out here rather than imported, so later changes to the models cannot rewrite
# history: Money is NUMERIC(28, 10) on PostgreSQL and an integer count of 1e-10 USD on SQLite.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MONEY = sa.Numeric(28, 10).with_variant(sa.BigInteger(), "sqlite")
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    _api_keys()
    _usage_records()
    _usage_daily()


def _api_keys() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("digest", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("metadata", sa.JSON, nullable=False),
        sa.Column("models", sa.JSON, nullable=True),
        sa.Column("budget", MONEY, nullable=True),
        sa.Column("budget_period", sa.String(16), nullable=True),
        sa.Column("rpm", sa.Integer, nullable=True),
        sa.Column("tpm", sa.Integer, nullable=True),
        sa.Column("max_concurrency", sa.Integer, nullable=True),
        sa.Column("expires_at", WHEN, nullable=True),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.Column("revoked_at", WHEN, nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.CheckConstraint("budget_period IN ('daily', 'monthly')", name="ck_api_keys_budget_period"),
    )
    op.create_index("ix_api_keys_updated_at", "api_keys", ["updated_at"])


def _usage_records() -> None:
    op.create_table(
        "usage_records",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(64), nullable=False, unique=True),
        sa.Column("key_name", sa.String(200), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("provider", sa.String(100), nullable=True),
        sa.Column("upstream_model", sa.String(200), nullable=True),
        sa.Column("prompt_tokens", sa.Integer, nullable=False),
        sa.Column("completion_tokens", sa.Integer, nullable=False),
        sa.Column("reasoning_tokens", sa.Integer, nullable=False),
        sa.Column("cached_tokens", sa.Integer, nullable=False),
        sa.Column("cost", MONEY, nullable=False),
        sa.Column("latency_ms", sa.Integer, nullable=True),
        sa.Column("ttft_ms", sa.Integer, nullable=True),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("error_code", sa.String(100), nullable=True),
        sa.Column("stream", sa.Boolean, nullable=False),
        sa.Column("estimated", sa.Boolean, nullable=False),
        sa.Column("attempts", sa.JSON, nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
    )
    op.create_index("ix_usage_records_key_created", "usage_records", ["key_name", "created_at"])
    op.create_index("ix_usage_records_model_created", "usage_records", ["model", "created_at"])
    op.create_index("ix_usage_records_created", "usage_records", ["created_at"])


def _usage_daily() -> None:
    op.create_table(
        "usage_daily",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("key_name", sa.String(200), primary_key=True),
        sa.Column("model", sa.String(200), primary_key=True),
        sa.Column("requests", sa.BigInteger, nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger, nullable=False),
        sa.Column("completion_tokens", sa.BigInteger, nullable=False),
        sa.Column("reasoning_tokens", sa.BigInteger, nullable=False),
        sa.Column("cached_tokens", sa.BigInteger, nullable=False),
        sa.Column("cost", MONEY, nullable=False),
    )
    op.create_index("ix_usage_daily_key_day", "usage_daily", ["key_name", "day"])
    op.create_index("ix_usage_daily_model_day", "usage_daily", ["model", "day"])


def downgrade() -> None:
    op.drop_table("usage_daily")
    op.drop_table("usage_records")
    op.drop_table("api_keys")

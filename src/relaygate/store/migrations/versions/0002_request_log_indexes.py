"""Indexes for the admin API's request log: filtered by provider or by status, newest first.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_usage_records_provider_created", "usage_records", ["provider", "created_at"])
    op.create_index("ix_usage_records_status_created", "usage_records", ["status", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_usage_records_status_created", "usage_records")
    op.drop_index("ix_usage_records_provider_created", "usage_records")

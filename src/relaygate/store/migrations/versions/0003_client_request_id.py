"""The client's own request id beside relaygate's: stored with each usage record, and indexed for
the request log's filter where it was given (a partial index: records without one cost nothing).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

GIVEN = sa.text("client_request_id IS NOT NULL")


def upgrade() -> None:
    op.add_column("usage_records", sa.Column("client_request_id", sa.String(128), nullable=True))
    op.create_index("ix_usage_records_client_request_created", "usage_records", ["client_request_id", "created_at"],
                    sqlite_where=GIVEN, postgresql_where=GIVEN)


def downgrade() -> None:
    op.drop_index("ix_usage_records_client_request_created", "usage_records")
    with op.batch_alter_table("usage_records") as table:  # SQLite drops a column by copying the table
        table.drop_column("client_request_id")

"""The request log's status index holds the errors only (a partial index, `status >= 400`). Every
record paid for an entry in it, and the writer inserts thousands a second; a filter on errors or on
one error code walks it as before, and a filter on successful answers, which are most records, walks
the time index and skips the few errors on its way.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ERRORS = sa.text("status >= 400")


def upgrade() -> None:
    op.drop_index("ix_usage_records_status_created", "usage_records")
    op.create_index("ix_usage_records_error_created", "usage_records", ["status", "created_at"],
                    sqlite_where=ERRORS, postgresql_where=ERRORS)


def downgrade() -> None:
    op.drop_index("ix_usage_records_error_created", "usage_records")
    op.create_index("ix_usage_records_status_created", "usage_records", ["status", "created_at"])

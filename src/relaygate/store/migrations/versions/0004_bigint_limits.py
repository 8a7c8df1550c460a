"""A key's limits as 64-bit integers: a TPM of ten billion (an organisation's whole allowance, say)
did not fit PostgreSQL's INTEGER. SQLite's INTEGER column already holds 64 bits: nothing to do there.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

LIMITS = ("rpm", "tpm", "max_concurrency")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for column in LIMITS:
            op.alter_column("api_keys", column, type_=sa.BigInteger, existing_type=sa.Integer, existing_nullable=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for column in LIMITS:
            op.alter_column("api_keys", column, type_=sa.Integer, existing_type=sa.BigInteger, existing_nullable=True)

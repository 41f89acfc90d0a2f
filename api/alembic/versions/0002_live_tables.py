"""live tables: cycles, quarantine, shift aggregates (``live.tables``; step 2 of the old migrations).

Revision ID: 0002
Revises: 0001
"""
from __future__ import annotations

from alembic import op

from live.tables import create_tables, metadata

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_tables(op.get_bind())  # idempotent: the live worker may have created them first


def downgrade() -> None:
    metadata.drop_all(op.get_bind())

"""sites of runs, API keys, audit log (step 3 of the hand-written migrations, verbatim).

runs.site (existing runs belong to the default site), api_keys and audit_log.

Revision ID: 0003
Revises: 0002
"""
from __future__ import annotations

from alembic import op
from sqlalchemy import BigInteger, Column, DateTime, Integer, MetaData, String, Table, Text, text

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

#: Auto-increment key that is a rowid alias on SQLite (INTEGER PRIMARY KEY) and BIGSERIAL elsewhere.
_ROW_ID = BigInteger().with_variant(Integer(), "sqlite")


def upgrade() -> None:
    """runs.site (existing runs belong to the default site), api_keys and audit_log."""
    conn = op.get_bind()
    conn.execute(text("ALTER TABLE runs ADD COLUMN site VARCHAR(64) NOT NULL DEFAULT 'default'"))
    conn.execute(text("CREATE INDEX ix_runs_site_created_at ON runs (site, created_at)"))
    md = MetaData()
    Table(
        "api_keys", md,
        Column("key_id", String(32), primary_key=True),
        Column("secret_sha256", String(64), nullable=False),
        Column("role", String(16), nullable=False),
        Column("site", String(64), nullable=False),
        Column("name", String(200), nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("revoked_at", DateTime(timezone=True)),
    )
    Table(
        "audit_log", md,
        Column("id", _ROW_ID, primary_key=True, autoincrement=True),
        Column("at", DateTime(timezone=True), nullable=False, index=True),
        Column("subject", String(200), nullable=False),
        Column("role", String(16), nullable=False),
        Column("site", String(64), nullable=False, index=True),
        Column("method", String(10), nullable=False),
        Column("route", String(200), nullable=False),
        Column("status", Integer, nullable=False),
        Column("request_id", String(64)),
        Column("change", Text, nullable=False),
    )
    md.create_all(conn)


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_table("api_keys")
    op.drop_index("ix_runs_site_created_at", table_name="runs")
    op.drop_column("runs", "site")

"""background jobs of long strategies grids (``api.jobs``).

One row per job: its site, status (queued, running, done, failed), progress (replications done of
total), the request as sent, the run it produced or why it failed, the API process that runs it
(``owner``) and ``updated_at``, which that process refreshes while the job is alive, so any process
can tell a job whose runner died.

Revision ID: 0004
Revises: 0003
"""
from __future__ import annotations

from alembic import op
from sqlalchemy import BigInteger, Column, DateTime, Index, MetaData, String, Table, Text

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    md = MetaData()
    Table(
        "jobs", md,
        Column("job_id", String(32), primary_key=True),
        Column("site", String(64), nullable=False),
        Column("status", String(16), nullable=False),
        Column("done", BigInteger, nullable=False),
        Column("total", BigInteger, nullable=False),
        Column("request", Text, nullable=False),
        Column("run_id", String(64)),
        Column("error", Text),
        Column("owner", String(200), nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("started_at", DateTime(timezone=True)),
        Column("finished_at", DateTime(timezone=True)),
        Column("updated_at", DateTime(timezone=True), nullable=False),
        Index("ix_jobs_status_updated_at", "status", "updated_at"),
    )
    md.create_all(op.get_bind())


def downgrade() -> None:
    op.drop_table("jobs")

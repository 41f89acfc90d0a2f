"""The live path's tables in the run store's database (SQLite or PostgreSQL), defined once.

The worker (``live``) and the API (``api``, which may import ``live``) both use these definitions;
``create_tables`` is idempotent (``checkfirst``), so the worker can create them on a database the
API has not opened yet, and the run store's migrations fold them in as one step.

* ``live_cycles``: one row per accepted cycle, keyed by the cycle's ``id`` (the idempotency key:
  a redelivered event is not stored twice). The typed columns serve the KPIs and the batch layer;
  ``record`` keeps the event's fields as the fleet system sent them (JSON), so exporting a cycle
  into the training data reproduces the export's row.
* ``live_quarantine``: one row per rejected stream entry (unique on the entry id), with the reasons.
* ``live_shift_aggregates``: the batch layer's per site and shift totals (what the shift history reads).
"""
from __future__ import annotations

from sqlalchemy import (BigInteger, Boolean, Column, DateTime, Float, Index, Integer, MetaData, String, Table,
                        Text, UniqueConstraint)
from sqlalchemy.engine import Connection

#: Auto-increment key that is a rowid alias on SQLite (INTEGER PRIMARY KEY) and BIGSERIAL elsewhere.
_ROW_ID = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData()

cycles = Table(
    "live_cycles", metadata,
    Column("id", String(64), primary_key=True),  # the cycle id (hauling_activities.id)
    Column("activity_number", String(64), nullable=False, unique=True),
    Column("site", String(64), nullable=False),
    Column("shift", String(16), nullable=False),
    Column("shift_key", String(32), nullable=False),  # mine-local date of the shift start + shift
    Column("shift_start", DateTime(timezone=True), nullable=False),
    Column("loading_start", DateTime(timezone=True), nullable=False),
    Column("truck_id", String(64), nullable=False),
    Column("excavator_id", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("finished", Boolean, nullable=False),  # status COMPLETED or DELAYED: a load delivered
    Column("load_weight_t", Float, nullable=False),
    Column("total_cycle_min", Float, nullable=False),
    Column("queue_min", Float, nullable=False),
    Column("fuel_l", Float),
    Column("record", Text, nullable=False),  # the event's fields (JSON object of text)
    Column("stream_id", String(32), nullable=False),
    Column("ingested_at", DateTime(timezone=True), nullable=False),
    Column("exported", Boolean, nullable=False, default=False),  # written into the training data
    Index("ix_live_cycles_site_shift", "site", "shift_start"),
    Index("ix_live_cycles_exported", "exported"),
)

quarantine = Table(
    "live_quarantine", metadata,
    Column("id", _ROW_ID, primary_key=True, autoincrement=True),
    Column("stream_id", String(32), nullable=False, unique=True),
    Column("site", String(64), nullable=False),
    Column("cycle_id", String(200)),
    Column("reason", Text, nullable=False),
    Column("fields", Text, nullable=False),  # JSON object of the entry's fields as received
    Column("received_at", DateTime(timezone=True), nullable=False),
)

shift_aggregates = Table(
    "live_shift_aggregates", metadata,
    Column("site", String(64), primary_key=True),
    Column("shift_key", String(32), primary_key=True),
    Column("shift", String(16), nullable=False),
    Column("shift_start", DateTime(timezone=True), nullable=False),
    Column("cycles", Integer, nullable=False),
    Column("loads", Integer, nullable=False),
    Column("tonnes", Float, nullable=False),
    Column("cycle_min_sum", Float, nullable=False),
    Column("queue_min_sum", Float, nullable=False),
    Column("fuel_l", Float, nullable=False),
    Column("fuel_tonnes", Float, nullable=False),
    Column("trucks", Integer, nullable=False),
    Column("computed_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("site", "shift_key", name="uq_live_shift_aggregates"),
)


def create_tables(conn: Connection) -> None:
    """Create the live tables that do not exist yet (safe to call from every process, every start)."""
    metadata.create_all(conn, checkfirst=True)

"""Schema migrations of the run store: an ordered list of steps, applied once each, at open.

``schema_migrations(version, applied_at)`` records what is applied. ``migrate`` runs in ONE
transaction that first takes a database-wide lock (SQLite ``BEGIN IMMEDIATE``, PostgreSQL
``pg_advisory_xact_lock``), so two processes opening the same database at once apply each step
exactly once; the second waits, then finds nothing left to do.

A step is history: never edit one that has shipped, append a new one. Step 1 therefore spells out
the prediction columns as they were (the store checks at open that the table still carries every
``training.features.PREDICTION_LOG_COLUMNS`` column and names the missing ones otherwise).
JSON is stored as TEXT so the same schema works on both databases.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import (BigInteger, Column, DateTime, Float, Integer, MetaData, String, Table, Text, select,
                        text)
from sqlalchemy.engine import Connection

from live.tables import create_tables as create_live_tables

#: Key of the PostgreSQL advisory lock that serialises migrations ("mineops" in ASCII, any fixed int64).
PG_MIGRATION_LOCK_KEY = 0x6D696E656F7073

#: Auto-increment key that is a rowid alias on SQLite (INTEGER PRIMARY KEY) and BIGSERIAL elsewhere.
_ROW_ID = BigInteger().with_variant(Integer(), "sqlite")


def _migrations_table(metadata: MetaData) -> Table:
    return Table(
        "schema_migrations", metadata,
        Column("version", Integer, primary_key=True, autoincrement=False),
        Column("description", String(200), nullable=False),
        Column("applied_at", DateTime(timezone=True), nullable=False),
    )


def _v1_runs_and_predictions(conn: Connection) -> None:
    """runs (one row per simulation request) and predictions (the prediction log)."""
    md = MetaData()
    Table(
        "runs", md,
        Column("id", _ROW_ID, primary_key=True, autoincrement=True),
        Column("run_id", String(64), nullable=False, unique=True),
        Column("created_at", DateTime(timezone=True), nullable=False, index=True),
        Column("model_version", String(64), nullable=False),
        Column("request", Text, nullable=False),
        Column("result", Text, nullable=False),
        Column("timings", Text, nullable=False),
    )
    numeric = ("truck_capacity_t", "bucket_capacity_m3", "operator_rating", "operator_years_experience",
               "distance_km", "log_distance_km", "gradient_pct", "max_speed_kmh", "truck_age_days",
               "excavator_age_days", "days_since_maintenance")
    categorical = ("weather", "road_condition", "shift", "truck_brand", "excavator_model")
    predicted = ("predicted_payload_t", "predicted_fuel_l", "predicted_delay_probability")
    Table(
        "predictions", md,
        Column("id", _ROW_ID, primary_key=True, autoincrement=True),
        Column("logged_at", DateTime(timezone=True), nullable=False),
        Column("run_id", String(64), nullable=False, index=True),
        Column("model_version", String(64), nullable=False),
        *(Column(name, Float) for name in numeric),
        *(Column(name, String(200)) for name in categorical),
        *(Column(name, Float) for name in predicted),
    )
    md.create_all(conn)


@dataclass(frozen=True)
class Migration:
    """One schema step: ``apply(conn)`` runs inside the migration transaction."""

    version: int
    description: str
    apply: Callable[[Connection], None]


#: Every step, in order. Append only.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "runs and predictions tables", _v1_runs_and_predictions),
    Migration(2, "live tables: cycles, quarantine, shift aggregates", create_live_tables),
)


def _lock(conn: Connection) -> None:
    """Take the database-wide migration lock (released when the transaction ends)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_MIGRATION_LOCK_KEY})
    # SQLite: the store opens migration transactions with BEGIN IMMEDIATE (the write lock).


def migrate(conn: Connection, migrations: tuple[Migration, ...] = MIGRATIONS) -> list[int]:
    """Apply the steps not yet recorded, in order; return the versions applied now.

    ``conn`` must be inside a transaction that holds the write lock (SQLite ``BEGIN IMMEDIATE``);
    on PostgreSQL the advisory lock is taken here.
    """
    versions = [m.version for m in migrations]
    if versions != sorted(set(versions)):
        raise ValueError(f"migration versions must be unique and increasing: {versions}")
    _lock(conn)
    md = MetaData()
    table = _migrations_table(md)
    md.create_all(conn, checkfirst=True)
    applied = set(conn.execute(select(table.c.version)).scalars())
    unknown = applied - set(versions)
    if unknown:
        raise RuntimeError(f"the database has schema version(s) {sorted(unknown)} this code does not know: "
                           "it was migrated by a newer release")
    done: list[int] = []
    for step in migrations:
        if step.version in applied:
            continue
        step.apply(conn)
        conn.execute(table.insert().values(version=step.version, description=step.description,
                                           applied_at=datetime.now(timezone.utc)))
        done.append(step.version)
    return done


def applied_versions(conn: Connection) -> list[int]:
    """Versions recorded in ``schema_migrations`` (empty when the table does not exist)."""
    md = MetaData()
    table = _migrations_table(md)
    if not conn.dialect.has_table(conn, table.name):
        return []
    return sorted(conn.execute(select(table.c.version)).scalars())

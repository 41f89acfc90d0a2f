"""runs (one row per simulation request) and predictions (the prediction log).

The schema the hand-written step 1 of the old ``api/migrations.py`` created, spelled out as it was
(the store checks at open that ``predictions`` still has every ``PREDICTION_LOG_COLUMNS`` column).
JSON is stored as TEXT so the same schema works on SQLite and PostgreSQL.

Revision ID: 0001
Revises:
"""
from __future__ import annotations

from alembic import op
from sqlalchemy import BigInteger, Column, DateTime, Float, Integer, MetaData, String, Table, Text

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

#: Auto-increment key that is a rowid alias on SQLite (INTEGER PRIMARY KEY) and BIGSERIAL elsewhere.
_ROW_ID = BigInteger().with_variant(Integer(), "sqlite")


def upgrade() -> None:
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
    md.create_all(op.get_bind())


def downgrade() -> None:
    op.drop_table("predictions")
    op.drop_table("runs")

"""The one feature function shared by training and the simulator.

A *cycle context* is what is known when a haul cycle starts: which truck, excavator, operator and
road, the weather, the road's condition, the shift and the time. ``build_features`` joins that
context to the fleet's master tables and returns the model's feature frame. Training calls it on
historical cycles; the simulator calls it on the contexts of a scenario. Nobody else encodes
features (the pipelines' ColumnTransformer does the encoding inside the saved model).

The maintenance join is *as-of* the cycle's time: only maintenance completed at or before the
cycle counts, so no future record can leak into a training row.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Columns a cycle-context frame must carry.
CONTEXT_COLUMNS: tuple[str, ...] = (
    "truckId", "excavatorId", "operatorId", "roadSegmentId",
    "weatherCondition", "roadCondition", "shift", "at",
)

NUMERIC_FEATURES: tuple[str, ...] = (
    "truck_capacity_t",
    "bucket_capacity_m3",
    "operator_rating",
    "operator_years_experience",
    "distance_km",
    "log_distance_km",
    "gradient_pct",
    "max_speed_kmh",
    "truck_age_days",
    "excavator_age_days",
    "days_since_maintenance",
)
CATEGORICAL_FEATURES: tuple[str, ...] = (
    "weather",
    "road_condition",
    "shift",
    "truck_brand",
    "excavator_model",
)
FEATURE_COLUMNS: tuple[str, ...] = NUMERIC_FEATURES + CATEGORICAL_FEATURES

#: Days assumed since maintenance when a truck has no completed maintenance before the cycle:
#: the export's maintenance history is short, so "none on record" means "long ago". One year is
#: the longest preventive interval in the reference export's schedules (days, named so a mine with
#: other intervals can change it, and part of the feature hash).
NO_MAINTENANCE_ON_RECORD_DAYS: float = 365.0

#: Age used when a unit's purchase date is missing (the export's light vehicle has none), in days.
UNKNOWN_AGE_DAYS: float = 0.0

#: Maintenance statuses that mean the work was done.
COMPLETED_MAINTENANCE = "COMPLETED"

_SECONDS_PER_DAY = 86_400.0


def feature_hash() -> str:
    """Fingerprint of the feature contract; a model trained on another contract is refused."""
    spec = {
        "context": CONTEXT_COLUMNS,
        "numeric": NUMERIC_FEATURES,
        "categorical": CATEGORICAL_FEATURES,
        "no_maintenance_days": NO_MAINTENANCE_ON_RECORD_DAYS,
        "unknown_age_days": UNKNOWN_AGE_DAYS,
        "version": 1,
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Fleet:
    """The master tables the features join to (DataFrames as the loader returns them)."""

    trucks: pd.DataFrame
    excavators: pd.DataFrame
    operators: pd.DataFrame
    road_segments: pd.DataFrame
    maintenance_logs: pd.DataFrame

    @classmethod
    def from_export(cls, export) -> "Fleet":
        """Take the master tables of a loaded export (``training.dataset.Export``)."""
        return cls(
            trucks=export.trucks,
            excavators=export.excavators,
            operators=export.operators,
            road_segments=export.road_segments,
            maintenance_logs=export.maintenance_logs,
        )


def _utc(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series, utc=True, errors="coerce", format="ISO8601")


def _num(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series, errors="coerce").astype(float)


def operator_years_experience(competency: pd.Series) -> pd.Series:
    """``years_experience`` from the operators' ``competency`` JSON (NaN when absent)."""

    def one(value) -> float:
        if isinstance(value, dict):
            data = value
        elif isinstance(value, str) and value:
            try:
                data = json.loads(value)
            except ValueError:
                return np.nan
        else:
            return np.nan
        years = data.get("years_experience") if isinstance(data, dict) else None
        return float(years) if isinstance(years, (int, float)) else np.nan

    return competency.map(one).astype(float)


def _as_of_maintenance(ctx: pd.DataFrame, maintenance: pd.DataFrame) -> pd.Series:
    """Days since the truck's last maintenance completed at or before each cycle's time."""
    done = maintenance[maintenance["status"].astype(str) == COMPLETED_MAINTENANCE]
    done = done[done["truckId"].notna() & (done["truckId"].astype(str) != "")]
    finished = _utc(done["completionDate"]).fillna(_utc(done["actualDate"]))
    # ``.array`` keeps the tz-aware dtype; ``to_numpy()`` would box every time as a Timestamp object.
    logs = pd.DataFrame({"truckId": done["truckId"].astype(str).to_numpy(), "done_at": finished.array})
    logs = logs.dropna(subset=["done_at"]).sort_values("done_at", kind="stable")

    left = pd.DataFrame({
        "_pos": np.arange(len(ctx)),
        "truckId": ctx["truckId"].astype(str).to_numpy(),
        "at": ctx["at"].array,
    }).sort_values("at", kind="stable")
    if logs.empty:
        return pd.Series(NO_MAINTENANCE_ON_RECORD_DAYS, index=ctx.index, dtype=float)
    left["at"] = left["at"].astype(logs["done_at"].dtype)
    joined = pd.merge_asof(left, logs, left_on="at", right_on="done_at", by="truckId",
                           direction="backward", allow_exact_matches=True)
    days = (joined["at"] - joined["done_at"]).dt.total_seconds() / _SECONDS_PER_DAY
    days = days.fillna(NO_MAINTENANCE_ON_RECORD_DAYS).clip(lower=0.0)
    out = np.empty(len(ctx))
    out[joined["_pos"].to_numpy()] = days.to_numpy()
    return pd.Series(out, index=ctx.index)


def build_features(contexts: pd.DataFrame, fleet: Fleet) -> pd.DataFrame:
    """Feature frame (``FEATURE_COLUMNS``, one row per context, same index) for the models.

    ``contexts`` needs ``CONTEXT_COLUMNS``; ``at`` is the cycle's start time (UTC). Categorical
    values are expected in the loader's canonical enum form (``training.schema``).
    """
    missing = [c for c in CONTEXT_COLUMNS if c not in contexts.columns]
    if missing:
        raise KeyError(f"cycle contexts lack column(s) {missing}; need {list(CONTEXT_COLUMNS)}")
    ctx = contexts.copy()
    ctx["at"] = _utc(ctx["at"])

    trucks = fleet.trucks.set_index(fleet.trucks["id"].astype(str))
    excavators = fleet.excavators.set_index(fleet.excavators["id"].astype(str))
    operators = fleet.operators.set_index(fleet.operators["id"].astype(str))
    roads = fleet.road_segments.set_index(fleet.road_segments["id"].astype(str))

    t = trucks.reindex(ctx["truckId"].astype(str))
    e = excavators.reindex(ctx["excavatorId"].astype(str))
    o = operators.reindex(ctx["operatorId"].astype(str))
    r = roads.reindex(ctx["roadSegmentId"].astype(str))

    # tz-aware Series, not ``to_numpy()`` (an object array of boxed Timestamps: most of the
    # feature build's time on a 90-day export).
    at = ctx["at"].reset_index(drop=True)
    truck_purchase = _utc(t["purchaseDate"]).reset_index(drop=True)
    exc_purchase = _utc(e["purchaseDate"]).reset_index(drop=True)

    def age_days(purchase: pd.Series) -> np.ndarray:
        days = (at - purchase).dt.total_seconds().to_numpy() / _SECONDS_PER_DAY
        return np.where(np.isnan(days), UNKNOWN_AGE_DAYS, np.clip(days, 0.0, None))

    distance = _num(r["distance"]).to_numpy()
    out = pd.DataFrame(index=ctx.index)
    out["truck_capacity_t"] = _num(t["capacity"]).to_numpy()
    out["bucket_capacity_m3"] = _num(e["bucketCapacity"]).to_numpy()
    out["operator_rating"] = _num(o["rating"]).to_numpy()
    out["operator_years_experience"] = operator_years_experience(o["competency"]).to_numpy()
    out["distance_km"] = distance
    out["log_distance_km"] = np.log(np.clip(distance, 1e-3, None))
    out["gradient_pct"] = _num(r["gradient"]).to_numpy()
    out["max_speed_kmh"] = _num(r["maxSpeed"]).to_numpy()
    out["truck_age_days"] = age_days(truck_purchase)
    out["excavator_age_days"] = age_days(exc_purchase)
    out["days_since_maintenance"] = _as_of_maintenance(ctx, fleet.maintenance_logs).to_numpy()
    out["weather"] = ctx["weatherCondition"].astype(str).to_numpy()
    out["road_condition"] = ctx["roadCondition"].astype(str).to_numpy()
    out["shift"] = ctx["shift"].astype(str).to_numpy()
    out["truck_brand"] = t["brand"].astype(str).to_numpy()
    out["excavator_model"] = e["model"].astype(str).to_numpy()
    return out[list(FEATURE_COLUMNS)]


#: Model outputs recorded beside the features in the prediction log (units in the names).
PREDICTION_COLUMNS: tuple[str, ...] = (
    "predicted_payload_t",
    "predicted_fuel_l",
    "predicted_delay_probability",
)
#: The prediction log's columns (``logs/prediction_logs.csv`` and the run store's table), in
#: order. The API appends rows; the drift job (``training.drift``) compares them with the
#: reference sample each model version stores (``REFERENCE_FILE``).
PREDICTION_LOG_COLUMNS: tuple[str, ...] = (
    ("logged_at", "run_id", "model_version") + FEATURE_COLUMNS + PREDICTION_COLUMNS
)
#: Sample of the training rows (features + the model's predictions) kept in every version.
REFERENCE_FILE = "reference.parquet"
#: Rows in that sample: enough for stable drift statistics, small enough to load instantly.
REFERENCE_ROWS = 5_000

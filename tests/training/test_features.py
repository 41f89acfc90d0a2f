"""The shared feature function: joins, as-of maintenance (no future leak), contract hash."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from training.features import (FEATURE_COLUMNS, NO_MAINTENANCE_ON_RECORD_DAYS, Fleet, build_features,
                               feature_hash, operator_years_experience)
from tests import paths

REFERENCE = paths.REFERENCE_EXPORT


def _read(name: str) -> pd.DataFrame:
    df = pd.read_csv(REFERENCE / f"{name}.csv", dtype=str, keep_default_na=False)
    return df.mask(df == "")


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return Fleet(_read("trucks"), _read("excavators"), _read("operators"), _read("road_segments"),
                 _read("maintenance_logs"))


def _ctx(fleet: Fleet, truck_id: str, at: str, n: int = 1) -> pd.DataFrame:
    return pd.DataFrame({
        "truckId": [truck_id] * n,
        "excavatorId": [fleet.excavators["id"].iloc[0]] * n,
        "operatorId": [fleet.operators["id"].iloc[0]] * n,
        "roadSegmentId": [fleet.road_segments["id"].iloc[0]] * n,
        "weatherCondition": ["CERAH"] * n, "roadCondition": ["GOOD"] * n, "shift": ["SHIFT_1"] * n,
        "at": [at] * n,
    })


def test_joins_master_values_exactly(fleet):
    truck = fleet.trucks.iloc[1]
    out = build_features(_ctx(fleet, truck["id"], "2025-11-01T08:00:00Z"), fleet)
    assert list(out.columns) == list(FEATURE_COLUMNS)
    row = out.iloc[0]
    assert row["truck_capacity_t"] == float(truck["capacity"])
    assert row["bucket_capacity_m3"] == pytest.approx(8.436327907881749)  # EXC-0001
    assert row["distance_km"] == pytest.approx(4.703302800638965)          # ROAD-0001
    assert row["operator_years_experience"] == 5.0                          # OPR-0001 competency JSON
    assert row["truck_brand"] == truck["brand"]
    assert row["weather"] == "CERAH"


def _completed_truck_log(fleet: Fleet) -> pd.Series:
    logs = fleet.maintenance_logs
    done = logs[(logs["status"] == "COMPLETED") & logs["truckId"].notna()]
    return done.iloc[0]


def test_maintenance_join_is_as_of_the_cycle_time(fleet):
    log = _completed_truck_log(fleet)
    finished = pd.Timestamp(log["completionDate"])
    # Only this truck's logs completed up to the cycle count; pick times around the completion.
    before = (finished - pd.Timedelta(hours=1)).isoformat()
    after = (finished + pd.Timedelta(days=3)).isoformat()
    out_after = build_features(_ctx(fleet, log["truckId"], after), fleet)
    assert out_after["days_since_maintenance"].iloc[0] == pytest.approx(3.0)
    out_before = build_features(_ctx(fleet, log["truckId"], before), fleet)
    # One hour before completion the record must be invisible: the value comes from an earlier
    # record (or none), never from the future one.
    assert out_before["days_since_maintenance"].iloc[0] > 3.0 / 24


def test_no_future_record_leaks_into_any_row(fleet):
    """Adding maintenance records after every cycle must not change any feature row."""
    truck_ids = fleet.trucks["id"].iloc[:20].tolist()
    ctx = pd.concat([_ctx(fleet, t, "2025-10-15T08:00:00Z") for t in truck_ids], ignore_index=True)
    base = build_features(ctx, fleet)
    future = pd.DataFrame({
        "id": [f"future{i}" for i in range(len(truck_ids))], "truckId": truck_ids,
        "status": "COMPLETED", "maintenanceType": "PREVENTIVE",
        "actualDate": "2025-10-20T00:00:00Z", "completionDate": "2025-10-20T06:00:00Z",
    })
    leaky = Fleet(fleet.trucks, fleet.excavators, fleet.operators, fleet.road_segments,
                  pd.concat([fleet.maintenance_logs, future], ignore_index=True))
    pd.testing.assert_frame_equal(base, build_features(ctx, leaky))


def test_truck_without_history_gets_the_named_default(fleet):
    logs = fleet.maintenance_logs
    with_logs = set(logs["truckId"].dropna())
    truck = next(t for t in fleet.trucks["id"] if t not in with_logs)
    out = build_features(_ctx(fleet, truck, "2025-11-01T08:00:00Z"), fleet)
    assert out["days_since_maintenance"].iloc[0] == NO_MAINTENANCE_ON_RECORD_DAYS


def test_rows_keep_their_order_and_index(fleet):
    ids = fleet.trucks["id"].iloc[:5].tolist()
    times = ["2025-11-05T00:00:00Z", "2025-09-01T00:00:00Z", "2025-10-01T00:00:00Z",
             "2025-08-01T00:00:00Z", "2025-11-09T00:00:00Z"]
    ctx = pd.concat([_ctx(fleet, t, at) for t, at in zip(ids, times)], ignore_index=True)
    ctx.index = [10, 11, 12, 13, 14]
    out = build_features(ctx, fleet)
    assert list(out.index) == [10, 11, 12, 13, 14]
    single = [build_features(ctx.loc[[i]], fleet)["days_since_maintenance"].iloc[0] for i in ctx.index]
    assert out["days_since_maintenance"].tolist() == pytest.approx(single)


def test_missing_context_column_is_named(fleet):
    with pytest.raises(KeyError, match="roadSegmentId"):
        build_features(_ctx(fleet, fleet.trucks["id"].iloc[0], "2025-11-01").drop(columns="roadSegmentId"), fleet)


def test_years_experience_parses_json_and_tolerates_garbage():
    s = pd.Series(['{"years_experience": 7}', "not json", None, {"years_experience": 2}])
    out = operator_years_experience(s)
    assert out.iloc[0] == 7 and np.isnan(out.iloc[1]) and np.isnan(out.iloc[2]) and out.iloc[3] == 2


def test_feature_hash_is_stable():
    assert feature_hash() == feature_hash() and len(feature_hash()) == 16

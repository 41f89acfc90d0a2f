"""api.web.master: the form's choices from the master tables (pure functions on a small export)."""
from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd

from api.web import master


class FakeExport:
    def __init__(self, **tables):
        self.__dict__.update(tables)


def export() -> FakeExport:
    return FakeExport(
        road_segments=pd.DataFrame({"id": ["r2", "r1", "r3"], "code": ["ROAD-2", "ROAD-1", "ROAD-3"],
                                    "name": ["B", "A", "C"], "distance": [2.0, 1.5, 9.0],
                                    "roadCondition": ["GOOD", "FAIR", "POOR"], "gradient": [1.0, None, 3.0],
                                    "isActive": [True, True, False]}),
        excavators=pd.DataFrame({"id": ["e1", "e2"], "code": ["EXC-1", "EXC-2"], "name": ["Kobelco", "Hitachi"],
                                 "currentLocation": ["PIT-01", None], "bucketCapacity": [8.4, 11.7],
                                 "isActive": ["true", "false"]}),
        trucks=pd.DataFrame({"capacity": [30.0, 30.0, 2.0, 30.0], "isActive": [True, True, True, False]}),
        vessels=pd.DataFrame({"id": ["v1", "v2"], "name": ["MV Zeta", "BG Alpha"], "type": ["BULK", "BARGE"],
                              "capacity": [55000.0, 8000.0]}),
        sailing_schedules=pd.DataFrame({
            "id": ["s-past", "s-late", "s-soon"], "vesselId": ["v2", "v1", "v2"],
            "etaLoading": pd.to_datetime(["2025-01-01T00:00Z", "2025-03-01T00:00Z", "2025-02-01T00:00Z"]),
            "etsLoading": pd.to_datetime(["2025-01-02T00:00Z", "2025-03-03T00:00Z", "2025-02-02T00:00Z"]),
            "plannedQuantity": [7000.0, 50000.0, 7500.0], "loadingPort": ["J"] * 3, "destination": ["D"] * 3,
            "buyer": [None, "PLN", "PLN"], "status": ["COMPLETED", "SCHEDULED", "SCHEDULED"]}),
    )


def test_active_units_by_code():
    assert [r["id"] for r in master.roads(export())] == ["r1", "r2"]
    assert master.roads(export())[0] == {"id": "r1", "code": "ROAD-1", "name": "A", "distance_km": 1.5,
                                         "road_condition": "FAIR", "gradient_pct": None}
    assert master.excavators(export()) == [{"id": "e1", "code": "EXC-1", "name": "Kobelco", "location": "PIT-01",
                                            "bucket_m3": 8.4}]
    assert master.haul_truck_count(export()) == 2  # the light vehicle and the inactive truck left out


def test_schedules_upcoming_first_by_eta_with_vessel_names():
    now = datetime(2025, 1, 15, tzinfo=timezone.utc)
    rows = master.schedules(export(), now=now)
    assert [(r["id"], r["vessel_name"], r["upcoming"]) for r in rows] == [
        ("s-soon", "BG Alpha", True), ("s-late", "MV Zeta", True), ("s-past", "BG Alpha", False)]
    assert rows[0]["eta"] == "2025-02-01T00:00:00Z" and rows[0]["planned_t"] == 7500.0 and rows[2]["buyer"] == ""


def test_no_vessel_tables():
    empty = FakeExport(vessels=None, sailing_schedules=None)
    assert master.vessels(empty) == [] and master.schedules(empty) == []

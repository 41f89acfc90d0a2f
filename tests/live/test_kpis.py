"""Shift keys and KPI arithmetic of the speed layer (pure)."""
from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd
import pytest

from live.kpis import ShiftTotals, current_shift_key, cycle_columns, kpis, parse_shift_key, shift_key, totals_by_shift


def test_night_shift_after_midnight_belongs_to_the_evening_it_started() -> None:
    # 01:00 WIB on 2 March = 18:00 UTC on 1 March: SHIFT_3 started 23:00 WIB on 1 March
    assert current_shift_key(datetime(2025, 3, 1, 18, 0, tzinfo=timezone.utc)) == "2025-03-01/SHIFT_3"
    assert current_shift_key(datetime(2025, 3, 2, 0, 0, tzinfo=timezone.utc)) == "2025-03-02/SHIFT_1"  # 07:00 WIB
    start, shift = parse_shift_key("2025-03-01/SHIFT_3")
    assert (start, shift) == (datetime(2025, 3, 1, 16, 0, tzinfo=timezone.utc), "SHIFT_3")
    assert shift_key(pd.Timestamp(start), shift) == "2025-03-01/SHIFT_3"


@pytest.mark.parametrize("bad", ["2025-03-01", "2025-03-01/SHIFT_4", "yesterday/SHIFT_1"])
def test_a_bad_shift_key_names_the_expected_form(bad: str) -> None:
    with pytest.raises(ValueError, match="SHIFT_1|date"):
        parse_shift_key(bad)


def test_kpis_from_totals_with_and_without_plan() -> None:
    t = ShiftTotals(cycles=5, loads=4, tonnes=400.0, cycle_min_sum=100.0, queue_min_sum=8.0,
                    fuel_l=90.0, fuel_tonnes=300.0, trucks=3)
    k = kpis(t, 800.0)
    assert (k["plan_attainment_pct"], k["mean_cycle_time_min"], k["mean_queue_time_min"]) == (50.0, 25.0, 2.0)
    assert (k["fuel_l_per_tonne"], k["trucks_working"], k["loads"]) == (0.3, 3, 4)
    empty = kpis(ShiftTotals(), None)
    assert empty["mean_cycle_time_min"] is None and empty["plan_attainment_pct"] is None


def test_cancelled_cycles_count_as_cycles_not_loads() -> None:
    at = pd.to_datetime(["2025-03-02T01:00:00Z", "2025-03-02T02:00:00Z"], utc=True)
    frame = pd.DataFrame({"loadingStartTime": at, "shift": ["SHIFT_1", "SHIFT_1"], "truckId": ["a", "b"],
                          "status": ["COMPLETED", "CANCELLED"], "loadWeight": [50.0, 0.0],
                          "totalCycleTime": [30, 5], "queueDuration": [2, 0], "fuelConsumed": [20.0, None]})
    totals = totals_by_shift(cycle_columns(frame, "pit-a"))
    assert totals == {("pit-a", "2025-03-02/SHIFT_1"): ShiftTotals(
        cycles=2, loads=1, tonnes=50.0, cycle_min_sum=30.0, queue_min_sum=2.0, fuel_l=20.0, fuel_tonnes=50.0, trucks=2)}

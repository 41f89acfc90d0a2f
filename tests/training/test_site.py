"""Site calibration from hauling records: dump capacity, dispatch interval, conditions seen."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from training.site import (MIN_CONDITION_SHIFTS, MIN_DUMP_QUEUE_SHARE, SiteCalibration, calibrate, dump_capacity,
                           dispatch_interval, shift_keys)

T0 = pd.Timestamp("2025-11-03T00:00:00Z")  # 07:00 WIB: the start of a SHIFT_1


def _cycles(n_trucks: int = 4, cycles_per_truck: int = 5, *, gap_min: float = 1.5, cycle_min: float = 20.0,
            dump_wait_min: float = 0.0, dump_min: float = 2.0, weather: str = "CERAH",
            road: str = "GOOD", start: pd.Timestamp = T0, excavator: str = "E1") -> pd.DataFrame:
    """One shift group: trucks leave the line-up ``gap_min`` apart and cycle every ``cycle_min``."""
    rows = []
    for i in range(n_trucks):
        for c in range(cycles_per_truck):
            queue = start + pd.Timedelta(minutes=20 + i * gap_min + c * cycle_min)
            arrival = queue + pd.Timedelta(minutes=10)
            dump_start = arrival + pd.Timedelta(minutes=dump_wait_min)
            rows.append({"id": f"{excavator}-{i}-{c}-{start:%j%H}", "truckId": f"T{i}", "excavatorId": excavator,
                         "roadSegmentId": "R1", "dumpingPointId": None, "shift": "SHIFT_1",
                         "queueStartTime": queue, "loadingStartTime": queue, "arrivalTime": arrival,
                         "dumpingStartTime": dump_start, "dumpingEndTime": dump_start + pd.Timedelta(minutes=dump_min),
                         "weatherCondition": weather, "roadCondition": road})
    return pd.DataFrame(rows)


def test_no_dump_waits_mean_no_dump_queue():
    evidence, bays, share, note = dump_capacity(_cycles())
    assert (evidence, bays, share) == ("no_queue", None, 0.0)
    assert "no dump queue" in note


def test_dump_waits_give_the_most_trucks_seen_dumping_at_once():
    # Cycles 20 min apart per truck, trucks 1.5 min apart, 4-min dumps: at most 3 trucks overlap.
    c = _cycles(dump_wait_min=2.0, dump_min=4.0)
    evidence, bays, share, _ = dump_capacity(c)
    assert evidence == "queue" and share == 1.0 and bays == 3


def test_a_stray_wait_below_the_threshold_is_not_a_queue():
    c = _cycles(n_trucks=10, cycles_per_truck=20)
    c.loc[0, "dumpingStartTime"] += pd.Timedelta(minutes=5)
    assert 1 / len(c) <= MIN_DUMP_QUEUE_SHARE
    assert dump_capacity(c)[0] == "no_queue"


def test_without_dump_timestamps_there_is_no_evidence():
    assert dump_capacity(_cycles().drop(columns=["arrivalTime"]))[0] == "no_data"
    c = _cycles()
    c["dumpingStartTime"] = pd.NaT
    assert dump_capacity(c)[:2] == ("no_data", None)


@pytest.mark.parametrize("gap", [0.0, 1.5, 3.0])
def test_dispatch_interval_is_the_gap_between_first_arrivals(gap):
    c = pd.concat([_cycles(gap_min=gap), _cycles(gap_min=gap, excavator="E2"),
                   _cycles(gap_min=gap, start=T0 + pd.Timedelta(hours=8))], ignore_index=True)
    c["shift"] = np.where(c["loadingStartTime"] >= T0 + pd.Timedelta(hours=8), "SHIFT_2", "SHIFT_1")
    value, _ = dispatch_interval(c, shift_keys(c))
    assert value == pytest.approx(gap)


def test_night_cycles_after_midnight_belong_to_the_evening_shift():
    c = pd.DataFrame({"loadingStartTime": pd.to_datetime(["2025-11-03T16:30Z", "2025-11-03T18:10Z"]),
                      "shift": ["SHIFT_3", "SHIFT_3"]})  # 23:30 and 01:10 WIB
    keys = shift_keys(c)
    assert keys.iloc[0] == keys.iloc[1] == "2025-11-03T16:00/SHIFT_3"


def test_conditions_are_counted_in_shifts_and_unseen_ones_are_flagged():
    days = [T0 + pd.Timedelta(days=d) for d in range(4)]
    c = pd.concat([_cycles(start=d, weather="CERAH") for d in days]
                  + [_cycles(start=days[0] + pd.Timedelta(hours=8), weather="BADAI", road="LICIN")],
                  ignore_index=True)
    c["shift"] = np.where(c["loadingStartTime"].dt.hour >= 8, "SHIFT_2", "SHIFT_1")
    site = calibrate(c)
    assert site.weather_shifts == {"BADAI": 1, "CERAH": 4}
    assert site.road_condition_shifts == {"GOOD": 4, "LICIN": 1}
    assert site.unseen_conditions("CERAH", "GOOD") == []
    reasons = site.unseen_conditions("BADAI", "LICIN")
    assert len(reasons) == 2 and "BADAI was seen on 1 training shift" in reasons[0]
    assert f"fewer than {MIN_CONDITION_SHIFTS}" in reasons[1]
    assert "never" not in site.unseen_conditions("KABUT", "GOOD")[0] and "on 0 training" in \
        site.unseen_conditions("KABUT", "GOOD")[0]


def test_round_trip_and_old_bundles_without_a_site():
    site = calibrate(_cycles(dump_wait_min=2.0, dump_min=4.0))
    assert SiteCalibration.from_dict(site.to_dict()) == site
    old = SiteCalibration.from_dict(None)
    assert old.dump_evidence == "no_data" and math.isnan(old.dump_wait_share)
    assert old.unseen_conditions("BADAI", "LICIN") == []  # no record: nothing can be flagged

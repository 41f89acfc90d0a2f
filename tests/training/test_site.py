"""Site calibration from hauling records: dump capacity, dispatch interval, conditions seen."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from training.site import (LATE_JOIN_MIN_MIN, MIN_CONDITION_SHIFTS, MIN_DUMP_QUEUE_SHARE, SiteCalibration, calibrate,
                           between_group_sd, dump_capacity, incident_rates, late_joins, quantiles,
                           dispatch_interval, payload_haul_slope, shift_keys)

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


def test_a_truck_far_behind_its_line_up_place_joined_late():
    # Four trucks 1.5 min apart; truck 2 of the second group arrives 150 min after its place.
    a = _cycles()
    b = _cycles(excavator="E2")
    late_truck = b["truckId"] == "T3"
    for col in ("queueStartTime", "loadingStartTime"):
        b.loc[late_truck, col] += pd.Timedelta(minutes=150)
    c = pd.concat([a, b], ignore_index=True)
    share, minutes, note = late_joins(c, shift_keys(c), 1.5)
    assert share == pytest.approx(1 / 8)
    assert minutes == pytest.approx([150.0])
    assert "1 of 8 truck-shifts" in note
    # Within the tolerance (a truck a few minutes behind): not late.
    b.loc[late_truck, ["queueStartTime", "loadingStartTime"]] -= pd.Timedelta(minutes=150 - LATE_JOIN_MIN_MIN + 1)
    c = pd.concat([a, b], ignore_index=True)
    assert late_joins(c, shift_keys(c), 1.5)[:2] == (0.0, [])


def test_quantiles_keep_small_samples_whole_and_thin_large_ones():
    assert quantiles([3.0, 1.0, 2.0]) == [1.0, 2.0, 3.0]
    q = quantiles(np.arange(1001.0), n=11)
    assert q == pytest.approx([0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000])


def test_incident_rates_by_condition_are_shrunk_towards_the_pooled_rate():
    n = 10_000
    weather = np.where(np.arange(n) < n // 2, "CERAH", "HUJAN_LEBAT")
    status = np.full(n, "COMPLETED", dtype=object)
    status[np.arange(0, n // 2, 1000)] = "INCIDENT"           # 5 in 5,000 dry cycles (0.1 %)
    status[n // 2 + np.arange(0, n // 2, 125)] = "INCIDENT"  # 40 in 5,000 rainy cycles (0.8 %)
    c = pd.DataFrame({"status": status, "weatherCondition": weather, "roadCondition": "GOOD"})
    pooled, by_weather, by_road, note = incident_rates(c, prior_cycles=2000.0)
    assert pooled == pytest.approx(45 / n)
    # (5 + 2000 x 0.0045) / 7000 and (40 + 9) / 7000, as ratios to the pooled rate
    assert by_weather["CERAH"] * pooled == pytest.approx((5 + 9) / 7000)
    assert by_weather["HUJAN_LEBAT"] * pooled == pytest.approx((40 + 9) / 7000)
    assert by_road == {"GOOD": pytest.approx(1.0)}
    site = SiteCalibration(incident_rate=pooled, incident_ratio_by_weather=by_weather,
                           incident_ratio_by_road_condition=by_road)
    assert site.incident_probability("HUJAN_LEBAT", "GOOD") == pytest.approx(49 / 7000)
    assert site.incident_probability("KABUT", "LICIN") == pytest.approx(pooled)  # unseen: the pooled rate
    assert SiteCalibration().incident_probability("CERAH", "GOOD") is None     # no evidence
    assert "45 INCIDENT cycles" in note


def test_late_joins_and_incidents_round_trip_through_json():
    c = _cycles()
    c["status"] = "COMPLETED"
    site = calibrate(c)
    back = SiteCalibration.from_dict(site.to_dict())
    assert back == site and back.incident_rate == 0.0 and back.late_join_share == 0.0
    assert math.isnan(SiteCalibration.from_dict({}).incident_rate)


def test_between_group_sd_separates_a_shift_effect_from_cycle_noise():
    rng = np.random.default_rng(3)
    groups = np.repeat(np.arange(400), 50)
    within = rng.normal(0, 0.2, groups.size)
    sd, used = between_group_sd(within, groups)
    assert used == 400 and sd < 0.01  # pure cycle noise: no group effect (sampling sd of the estimate ~0.004)
    effect = rng.normal(0, 0.03, 400)[groups]
    sd, _ = between_group_sd(within + effect, groups)
    assert sd == pytest.approx(0.03, abs=0.005)  # the group effect's sd, net of the cycle noise
    # groups under the minimum size are left out
    assert between_group_sd(within[:5], groups[:5])[1] == 0


def test_calibrate_keeps_the_phase_shift_sd_when_given_residuals():
    c = pd.concat([_cycles(n_trucks=4, cycles_per_truck=5, start=T0 + pd.Timedelta(hours=8 * k)) for k in range(6)],
                  ignore_index=True)
    c["shift"] = [("SHIFT_1", "SHIFT_2", "SHIFT_3")[k % 3] for k in range(6) for _ in range(20)]
    effect = np.repeat(np.array([0.1, -0.1, 0.1, -0.1, 0.1, -0.1]), 20)
    site = calibrate(c, {"loading": effect, "hauling": np.zeros(len(c))})
    assert site.phase_shift_sd["loading"] == pytest.approx(np.std(effect[::20], ddof=1))
    assert site.phase_shift_sd["hauling"] == 0.0 and "phase_shift" in site.notes
    assert SiteCalibration.from_dict(site.to_dict()) == site


def test_the_payload_slope_of_loaded_travel_is_found_within_trucks_and_kept_only_when_clear():
    rng = np.random.default_rng(5)
    trucks = np.repeat([f"T{i}" for i in range(20)], 30)
    capacity = np.repeat(rng.uniform(25, 90, 20), 30)  # truck classes differ; the models see those
    load = capacity * rng.uniform(0.8, 1.1, trucks.size)
    noise = rng.normal(0, 0.08, trucks.size)
    class_effect = np.repeat(rng.normal(0, 0.2, 20), 30)  # a truck-level residual the slope must not take
    slope, t_stat, n = payload_haul_slope(0.004 * (load - capacity) + class_effect + noise, load, trucks)
    assert n == 600 and slope == pytest.approx(0.004, rel=0.15) and t_stat > 5
    slope, t_stat, _ = payload_haul_slope(class_effect + noise, load, trucks)
    assert abs(t_stat) < 3 and abs(slope) < 0.002
    assert payload_haul_slope(noise[:50], load[:50], trucks[:50]) == (0.0, 0.0, 50)  # too few cycles
    # calibrate keeps a clear slope and writes 0 (with the measured one in the notes) otherwise
    c = pd.concat([_cycles(n_trucks=4, cycles_per_truck=50, start=T0 + pd.Timedelta(hours=8 * k)) for k in range(3)],
                  ignore_index=True)
    c["loadWeight"] = rng.uniform(25, 35, len(c))
    planted = 0.01 * (c["loadWeight"] - 30).to_numpy() + rng.normal(0, 0.02, len(c))
    assert calibrate(c, {"hauling": planted}).haul_payload_slope_per_t == pytest.approx(0.01, rel=0.1)
    flat = calibrate(c, {"hauling": rng.normal(0, 0.02, len(c))})
    assert flat.haul_payload_slope_per_t == 0.0 and "not used" in flat.notes["payload_haul"]


def test_a_networks_trucks_leave_one_line_up_and_a_late_joiner_does_not_stretch_its_gap():
    # 12 trucks 1.5 min apart in one line-up, dealt alternately to two excavators at two pits; the last
    # one joins 150 min late (from the workshop).
    c = _cycles(n_trucks=12)
    c["excavatorId"] = np.where(c["truckId"].str[1:].astype(int) % 2 == 0, "E1", "E2")
    c["loadingPointId"] = np.where(c["excavatorId"] == "E1", "PIT-1", "PIT-2")
    late = c["truckId"] == "T11"
    for col in ("queueStartTime", "loadingStartTime"):
        c.loc[late, col] += pd.Timedelta(minutes=150)
    keys = shift_keys(c)
    assert dispatch_interval(c, keys)[0] == pytest.approx(1.5)  # not 3 (per excavator), nor stretched
    share, minutes, _ = late_joins(c, keys, 1.5)
    assert share == pytest.approx(1 / 12) and minutes == pytest.approx([150.0])
    # the same records without their loading points are two line-ups of one excavator each
    assert dispatch_interval(c.drop(columns=["loadingPointId"]), keys)[0] > 3.0

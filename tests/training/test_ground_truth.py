"""The synthetic mine's physics: directions of every effect, noise levels, distributions."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from training.ground_truth import (
    RAIN, CycleContext, GroundTruth, delay_probability, fuel_l, fuel_mean_l, incident_probability, lookup,
    mtbf_hours, mttr_hours, passes_per_load, pass_mass_t, payload_mean_t, payload_t, phase_means_min,
    road_condition_today, road_wetness, sample_delay_min, sample_hours_to_failure, sample_incident_stop_min,
    sample_phase_durations, sample_repair_hours, sample_weather, weather_transition_matrix,
)
from training.schema import ROAD_CONDITIONS, SHIFTS, WEATHER

GT = GroundTruth()
#: Weathers from dry to worst for travel (fog sits apart: visibility, not traction).
WET_ORDER = ("CERAH", "HUJAN_RINGAN", "HUJAN_SEDANG", "HUJAN_LEBAT", "BADAI")
BASE = dict(distance_km=2.7, max_speed_kmh=34.0, gradient_pct=2.3, road_condition="GOOD", weather="CERAH",
            shift="SHIFT_1", operator_years_experience=5, truck_capacity_t=30.0, bucket_capacity_m3=10.5)


def ctx(**changes) -> CycleContext:
    return CycleContext(**{**BASE, **changes})


def means(**changes) -> dict[str, float]:
    return {p: float(v) for p, v in phase_means_min(ctx(**changes)).items()}


def fuel(**changes) -> float:
    args = dict(payload_t=28.0, distance_km=2.7, gradient_pct=2.3, truck_age_days=1500.0, days_since_maintenance=10.0)
    return float(fuel_mean_l(**{**args, **changes}))


# --- phase times ----------------------------------------------------------------------------------

def test_longer_roads_take_longer_both_ways():
    short, long = means(distance_km=1.0), means(distance_km=4.0)
    assert long["hauling"] > short["hauling"] and long["returning"] > short["returning"]
    assert long["loading"] == short["loading"] and long["dumping"] == short["dumping"]


def test_loaded_climb_is_slower_than_level_and_the_empty_run_faster_than_loaded():
    assert means(gradient_pct=8.0)["hauling"] > means(gradient_pct=0.0)["hauling"]
    level = means(gradient_pct=0.0)
    assert level["returning"] < level["hauling"]  # empty trucks run faster


def test_night_shift_is_slower_than_day_in_every_phase():
    day, night = means(shift="SHIFT_1"), means(shift="SHIFT_3")
    assert all(night[p] > day[p] for p in day)


def test_rain_slows_travel_step_by_step():
    hauls = [means(weather=w)["hauling"] for w in WET_ORDER]
    assert hauls == sorted(hauls) and len(set(hauls)) == len(hauls)
    assert means(weather="KABUT")["hauling"] > means(weather="CERAH")["hauling"]


def test_worse_roads_slow_travel_step_by_step():
    hauls = [means(road_condition=r)["hauling"] for r in ROAD_CONDITIONS]
    assert hauls == sorted(hauls) and len(set(hauls)) == len(hauls)


def test_experienced_operators_drive_slightly_faster_but_do_not_load_faster():
    novice, veteran = means(operator_years_experience=0), means(operator_years_experience=10)
    assert veteran["hauling"] < novice["hauling"] and veteran["dumping"] < novice["dumping"]
    assert veteran["hauling"] > 0.85 * novice["hauling"]  # "slightly": at most 15 % faster
    assert veteran["loading"] == novice["loading"]
    assert means(operator_years_experience=np.nan)["hauling"] == novice["hauling"]  # unknown = novice


def test_loading_counts_whole_bucket_passes():
    assert passes_per_load(30.0, 10.0) == 4  # 30 t / (10 m3 x 0.95 t/m3 x 0.9) = 3.5 -> 4
    assert means(truck_capacity_t=39.0)["loading"] > means(truck_capacity_t=20.0)["loading"]
    passes = passes_per_load(30.0, np.linspace(8.0, 13.0, 11))
    assert np.all(np.diff(passes) <= 0)  # bigger bucket, never more passes


def test_dumping_takes_one_to_two_minutes_in_fair_conditions():
    assert 1.0 <= means()["dumping"] <= 2.0


def test_vectorised_phase_means_equal_the_scalar_ones():
    weathers, roads = np.array(["CERAH", "BADAI", "KABUT"]), np.array(["EXCELLENT", "LICIN", "POOR"])
    distances = np.array([0.6, 2.5, 4.9])
    vec = phase_means_min(ctx(weather=weathers, road_condition=roads, distance_km=distances))
    for i in range(3):
        one = means(weather=weathers[i], road_condition=roads[i], distance_km=distances[i])
        for p in one:
            assert vec[p][i] == pytest.approx(one[p])


@settings(max_examples=60, deadline=None)
@given(distance=st.floats(0.1, 20.0), speed=st.floats(5.0, 80.0), grade=st.floats(-15.0, 15.0),
       road=st.sampled_from(ROAD_CONDITIONS), weather=st.sampled_from(WEATHER), shift=st.sampled_from(SHIFTS),
       years=st.floats(0.0, 40.0), capacity=st.floats(5.0, 200.0), bucket=st.floats(1.0, 40.0))
def test_phase_means_are_positive_and_finite_everywhere(distance, speed, grade, road, weather, shift, years,
                                                        capacity, bucket):
    m = phase_means_min(CycleContext(distance, speed, grade, road, weather, shift, years, capacity, bucket))
    assert all(np.isfinite(v) and v > 0 for v in m.values())


def test_sampled_phase_durations_are_lognormal_around_the_means():
    # 200,000 draws: the standard error of a mean is sigma/sqrt(n) < 0.05 %, so 1 % is generous.
    rng = np.random.default_rng(1)
    draws = sample_phase_durations(ctx(), rng, size=(200_000,))
    m = means()
    for p, d in draws.items():
        assert d.mean() == pytest.approx(m[p], rel=0.01)
        assert np.log(d).std() == pytest.approx(GT.phase_sigma[p], rel=0.02)


def test_sample_phase_durations_broadcasts_contexts_against_size():
    rng = np.random.default_rng(2)
    column = np.array([1.0, 3.0])[:, None]
    draws = sample_phase_durations(ctx(distance_km=column), rng, size=(2, 500))
    assert draws["hauling"].shape == (2, 500)
    assert draws["hauling"][1].mean() > draws["hauling"][0].mean()


# --- payload -------------------------------------------------------------------------------------

def test_wet_weather_gives_lighter_loads():
    loads = [float(payload_mean_t(30.0, 10.5, w)) for w in ("CERAH", "HUJAN_RINGAN", "HUJAN_SEDANG", "HUJAN_LEBAT")]
    assert loads == sorted(loads, reverse=True) and len(set(loads)) == 4


def test_payload_is_whole_passes_near_rated_capacity():
    caps, buckets = np.meshgrid(np.arange(20.0, 40.0), np.linspace(8.0, 13.0, 11))
    mean = payload_mean_t(caps, buckets, "CERAH")
    assert np.allclose(mean, passes_per_load(caps, buckets) * pass_mass_t(buckets))
    assert np.all((mean > 0.75 * caps) & (mean < 1.25 * caps))


def test_payload_scatter_is_about_four_percent_and_overloads_are_capped():
    rng = np.random.default_rng(3)
    loads = payload_t(np.full(100_000, 26.0), 10.0, "CERAH", rng)  # 3 passes = 25.7 t, far below the cap
    mean = float(payload_mean_t(26.0, 10.0, "CERAH"))
    assert np.log(loads / mean).std() == pytest.approx(GT.payload_noise_sd, rel=0.05)
    # A 22 t truck under a 10 m3 bucket gets 3 passes = 25.7 t (117 %): a quarter of draws hit the cap.
    over = payload_t(np.full(10_000, 22.0), 10.0, "CERAH", rng)
    assert over.max() == pytest.approx(22.0 * GT.max_overload_ratio)
    assert 0.05 < np.mean(over == over.max()) < 0.5


# --- fuel ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, low, high", [
    ("payload_t", 20.0, 35.0), ("distance_km", 1.0, 4.0), ("gradient_pct", 0.0, 8.0),
    ("truck_age_days", 100.0, 3000.0), ("days_since_maintenance", 0.0, 45.0),
])
def test_fuel_rises_with_each_driver(name, low, high):
    assert fuel(**{name: high}) > fuel(**{name: low})


def test_fuel_wear_effect_stops_growing_at_the_cap():
    cap = GT.maintenance_effect_cap_days
    assert fuel(days_since_maintenance=365.0) == fuel(days_since_maintenance=cap)


def test_fuel_per_cycle_is_plausible_for_the_reference_fleet():
    # A 20-40 t truck on a 0.5-5 km haul burns a few litres per cycle (15-30 L/h at ~2-3 cycles/h).
    assert 1.0 < fuel(distance_km=0.5, gradient_pct=0.0) < fuel(distance_km=5.0, gradient_pct=10.0) < 30.0


def test_fuel_scatter_is_about_five_percent():
    rng = np.random.default_rng(4)
    draws = fuel_l(np.full(100_000, 28.0), 2.7, 2.3, 1500.0, 10.0, rng)
    assert np.log(draws / fuel()).std() == pytest.approx(GT.fuel_noise_sd, rel=0.05)


# --- delays and incidents -------------------------------------------------------------------------

def p_delay(weather="CERAH", road="EXCELLENT", days=0.0, shift="SHIFT_1") -> float:
    return float(delay_probability(weather, road, days, shift))


def test_delay_probability_spans_dry_roads_to_heavy_rain_on_slippery_ones():
    assert p_delay() < 0.03
    assert p_delay("HUJAN_LEBAT", "LICIN") > 0.5


def test_delay_probability_rises_with_rain_road_night_and_wear():
    rain = [p_delay(weather=w) for w in WET_ORDER]
    roads = [p_delay(road=r) for r in ROAD_CONDITIONS]
    assert rain == sorted(rain) and roads == sorted(roads)
    assert p_delay(shift="SHIFT_3") > p_delay(shift="SHIFT_2") > p_delay(shift="SHIFT_1")
    assert p_delay(days=30.0) > p_delay(days=0.0)
    assert p_delay(days=365.0) == p_delay(days=GT.maintenance_effect_cap_days)


def test_delays_last_longer_in_rain_and_are_whole_minutes():
    rng = np.random.default_rng(5)
    dry, wet = sample_delay_min("CERAH", rng, size=(20_000,)), sample_delay_min("HUJAN_LEBAT", rng, size=(20_000,))
    assert wet.mean() > 1.5 * dry.mean()
    assert dry.min() >= 1 and np.all(dry == np.round(dry))


def test_incidents_are_rare_and_rise_with_rain_and_slippery_roads():
    dry = float(incident_probability("CERAH", "EXCELLENT"))
    assert 0 < dry < float(incident_probability("HUJAN_LEBAT", "EXCELLENT")) < float(
        incident_probability("HUJAN_LEBAT", "LICIN")) < 0.05
    stops = sample_incident_stop_min((1000,), np.random.default_rng(6))
    assert stops.min() >= 1 and stops.mean() == pytest.approx(GT.incident_stop_mean_min, rel=0.1)


# --- breakdowns ----------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["truck", "excavator"])
def test_older_units_fail_more_often(kind):
    mtbf = mtbf_hours(np.array([0.0, 5.0, 10.0]), kind)
    assert np.all(np.diff(mtbf) < 0) and mtbf[-1] > 0
    assert mttr_hours(kind) > 0


def test_failure_and_repair_samples_follow_their_means():
    rng = np.random.default_rng(7)
    ttf = sample_hours_to_failure(np.full(50_000, 4.0), "truck", rng)
    assert ttf.mean() == pytest.approx(float(mtbf_hours(4.0, "truck")), rel=0.03)  # se ~0.5 %
    repairs = sample_repair_hours("excavator", rng, size=(50_000,))
    assert repairs.min() >= 1 and np.all(repairs == np.round(repairs))
    assert repairs.mean() == pytest.approx(mttr_hours("excavator"), rel=0.03)  # rounding shifts < 1 %


# --- weather and roads ---------------------------------------------------------------------------

def test_weather_chain_keeps_the_documented_shares():
    matrix = weather_transition_matrix()
    share = np.array([GT.weather_share[w] for w in WEATHER])
    assert np.allclose(matrix.sum(axis=1), 1.0)
    assert np.allclose(share @ matrix, share)
    chain = sample_weather(40_000, np.random.default_rng(8))
    observed = np.array([chain.count(w) for w in WEATHER]) / len(chain)
    assert np.allclose(observed, share, atol=0.015)  # persistence 0.5 -> effective n ~13k, se < 0.5 %
    assert sum(chain[i] == chain[i + 1] for i in range(len(chain) - 1)) / len(chain) > 0.5


def test_rain_soaks_roads_and_they_dry_one_step_per_shift():
    assert road_wetness(["HUJAN_LEBAT", "CERAH", "CERAH", "CERAH", "HUJAN_RINGAN"]) == [3, 2, 1, 0, 1]
    assert road_condition_today("EXCELLENT", 3) == "LICIN"
    assert road_condition_today("EXCELLENT", 2) == "FAIR"
    assert road_condition_today("FAIR", 2) == "POOR"  # never worse than POOR unless soaked
    assert road_condition_today("GOOD", 0) == "GOOD"
    assert set(RAIN) <= set(WEATHER)


def test_ground_truth_rejects_incomplete_tables_and_lookup_unknown_values():
    with pytest.raises(ValueError, match="weather_speed_factor"):
        dataclasses.replace(GT, weather_speed_factor={"CERAH": 1.0})
    with pytest.raises(KeyError, match="SNOW"):
        lookup(GT.weather_speed_factor, np.array(["CERAH", "SNOW"]))
    assert set(GT.constants()) >= {"loaded_speed_share", "weather_share", "fuel_noise_sd"}

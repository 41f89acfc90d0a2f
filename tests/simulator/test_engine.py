"""A whole request: unit selection, one batched prediction, replications, ranking, vessel, reproducibility."""
from __future__ import annotations

import copy
import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simulator.engine import run_request, simulation_defaults
from simulator.request import parse_request
from simulator.executor import InlineExecutor, LocalPoolExecutor
from simulator.fleet import roster_operators, select_trucks, shift_start, vessel_target
from simulator.results import ScheduleClosure
from simulator.scenario import SpecError
from simulator.settings import SimulatorSettings
from training.features import FEATURE_COLUMNS
from tests import paths

CONTRACTS = paths.CONTRACTS
NOW = datetime(2025, 11, 10, 1, 0, tzinfo=timezone.utc)  # 08:00 local (UTC+7)


def _contract(name: str) -> dict:
    return json.loads((CONTRACTS / name).read_text())


def _legacy(**simulation) -> dict:
    body = _contract("legacy-top3-request.json")
    if simulation:
        body["simulation"] = simulation
    return body


@pytest.fixture(scope="module")
def settings() -> SimulatorSettings:
    return SimulatorSettings(sim_replications=30, sim_seed=42, sim_duration_hours=8.0)


def _run(body, bundle, fleet, settings, executor=None, **kw):
    spec = parse_request(body, defaults=simulation_defaults(settings))
    return run_request(spec, bundle=bundle, fleet=fleet, executor=executor or InlineExecutor(), settings=settings,
                       now=NOW, **kw)


def test_legacy_request_end_to_end_with_one_batched_prediction(fake_bundle, reference_fleet, settings):
    run = _run(_legacy(), fake_bundle, reference_fleet, settings)
    assert fake_bundle.predict_calls == 1 and fake_bundle.predicted_rows == 10 * 2
    assert [s.rank for s in run.ranked] == [1, 2, 3, 4]
    assert {s.scenario_key for s in run.ranked} == {"T5-E1", "T5-E2", "T10-E1", "T10-E2"}
    assert [s.scenario_key for s in run.summaries] == ["T5-E1", "T5-E2", "T10-E1", "T10-E2"]
    assert (run.scenarios, run.replications, run.simulations) == (4, 30, 120)
    assert all(len(r) == 30 for r in run.results.values())
    profits = [s.metrics["profit_idr"].mean for s in run.ranked]
    assert profits[0] == max(profits)
    # The prediction log: one row per pair with the features and the predictions.
    table = run.context_table
    assert len(table) == 20 and set(FEATURE_COLUMNS) <= set(table.columns)
    assert {"payload_t", "fuel_l", "delay_probability", "loading_mean_min", "model_version"} <= set(table.columns)
    assert (table["weather"] == "HUJAN_RINGAN").all() and (table["model_version"] == "fake-1").all()
    assert run.model_version == "fake-1" and len(run.run_id) == 32
    assert run.timings.total_s >= run.timings.simulate_s > 0


def test_same_request_and_seed_same_numbers_whichever_executor(fake_bundle, reference_fleet, settings):
    inline = _run(_legacy(), fake_bundle, reference_fleet, settings)
    again = _run(_legacy(), fake_bundle, reference_fleet, settings)
    with LocalPoolExecutor(2) as pool:
        pooled = _run(_legacy(), fake_bundle, reference_fleet, settings, executor=pool)
    assert inline.results == again.results == pooled.results
    assert [s.metrics for s in inline.summaries] == [s.metrics for s in pooled.summaries]
    assert inline.run_id != again.run_id
    other = _run(_legacy(seed=43), fake_bundle, reference_fleet, settings)
    assert other.results["T5-E1"] != inline.results["T5-E1"]


def test_a_scenario_gives_the_same_numbers_whatever_else_the_grid_holds(fake_bundle, reference_fleet, settings):
    # Trucks and excavators are prefixes and replication r uses stream r: T5-E1 alone equals T5-E1 in a grid
    # (the draw block size comes from the shift and the shortest pair cycle, identical here).
    grid = _run(_legacy(), fake_bundle, reference_fleet, settings)
    alone_body = _legacy()
    alone_body["decision_variables"] = {"alokasi_truk": [5], "jumlah_excavator": [1]}
    alone = _run(alone_body, fake_bundle, reference_fleet, settings)
    assert alone.results["T5-E1"] == grid.results["T5-E1"]


def test_deterministic_mode_runs_one_identical_replication(fake_bundle, reference_fleet, settings):
    first = _run(_legacy(), fake_bundle, reference_fleet, settings, deterministic=True)
    second = _run(_legacy(seed=9), fake_bundle, reference_fleet, settings, deterministic=True)
    assert first.replications == 1 and all(len(r) == 1 for r in first.results.values())
    assert first.results == second.results
    assert all(r[0].breakdowns == 0 for r in first.results.values())


def test_units_follow_the_request_targets(fake_bundle, reference_fleet, settings):
    fleet = reference_fleet
    body = _legacy()
    excavator = fleet.excavators.sort_values("code").iloc[5]
    road = fleet.road_segments.sort_values("code").iloc[3]
    body["fixed_conditions"].update(target_excavator_id=excavator["id"], target_road_id=road["id"])
    run = _run(body, fake_bundle, fleet, settings)
    assert run.selection.excavators[0].id == excavator["id"]
    assert run.selection.road.id == road["id"]
    assert (run.context_table["roadSegmentId"] == road["id"]).all()
    assert run.context_table.loc[run.context_table["excavator_index"] == 0, "excavatorId"].eq(excavator["id"]).all()
    assert run.selection.start == datetime(2025, 11, 10, 0, 0, tzinfo=timezone.utc)  # SHIFT_1 07:00 local


@pytest.mark.parametrize("field, value, path", [
    ("target_road_id", "no-such-road", "fixed_conditions.target_road_id"),
    ("target_excavator_id", "no-such-excavator", "fixed_conditions.target_excavator_id"),
])
def test_unknown_ids_are_spec_errors(fake_bundle, reference_fleet, settings, field, value, path):
    body = _legacy()
    body["fixed_conditions"][field] = value
    with pytest.raises(SpecError) as info:
        _run(body, fake_bundle, reference_fleet, settings)
    assert info.value.field == path and value in str(info.value)


def test_asking_for_more_units_than_the_fleet_has_is_a_spec_error(fake_bundle, reference_fleet, settings):
    body = _legacy(replications=1)
    body["decision_variables"]["jumlah_excavator"] = [1, 2000]
    with pytest.raises(SpecError, match=r"^decision_variables.jumlah_excavator: 2000 excavators .* 577 active"):
        _run(body, fake_bundle, reference_fleet, settings)
    body = _legacy(replications=1)
    body["decision_variables"]["alokasi_truk"] = [5, 1000]
    with pytest.raises(SpecError, match=r"^decision_variables.alokasi_truk: 1000 trucks .* 568 active haul trucks"):
        _run(body, fake_bundle, reference_fleet, settings)


def test_trucks_are_active_haul_trucks_by_code_and_operators_rostered_by_shift(reference_fleet):
    trucks = select_trucks(reference_fleet, 568)  # every active haul truck: the Hilux (2 t) is left out
    assert all(t.size >= 10 for t in trucks)
    assert "HD-280" not in {t.code for t in trucks}
    assert [t.code for t in trucks[:3]] == ["HD-0001", "HD-0002", "HD-0003"]
    ops = reference_fleet.operators.set_index("id")
    roster = roster_operators(reference_fleet, "SHIFT_2", 200)
    assert set(ops.loc[list(roster), "shift"]) == {"SHIFT_2"} and set(ops.loc[list(roster), "status"]) == {"ACTIVE"}
    assert roster[0] == roster[146] and len(set(roster)) == 146  # 146 active SHIFT_2 operators, round-robin
    assert shift_start("SHIFT_3", NOW) == datetime(2025, 11, 10, 16, 0, tzinfo=timezone.utc)  # 23:00 local


def test_vessel_target_from_the_sailing_schedule():
    schedules = pd.DataFrame({"id": ["s1"], "vesselId": ["v1"],
                              "etsLoading": [pd.Timestamp("2025-11-12T00:00:00Z")], "plannedQuantity": [7500.0]})
    vessels = pd.DataFrame({"id": ["v1"], "name": ["BG Mitra Bara 301"]})
    target = vessel_target("s1", NOW, schedules, vessels)
    assert (target.planned_t, target.hours_available, target.name) == (7500.0, 47.0, "BG Mitra Bara 301")
    assert target.chargeable and target.schedule_id == "s1"
    assert vessel_target(None, NOW, schedules, vessels) is None
    with pytest.raises(SpecError, match="^fixed_conditions.target_schedule_id: unknown sailing schedule id 'x'"):
        vessel_target("x", NOW, schedules, vessels)
    for empty in (None, schedules.iloc[:0]):  # no schedules at all: the id is still unknown
        with pytest.raises(SpecError, match="^fixed_conditions.target_schedule_id: unknown sailing schedule id 's1'"):
            vessel_target("s1", NOW, empty, None)


def test_a_call_being_loaded_needs_only_the_rest_of_its_cargo():
    schedules = pd.DataFrame({"id": ["s1", "s2"], "vesselId": ["v1", "v1"], "status": ["LOADING", "SCHEDULED"],
                              "etsLoading": ["2025-11-12T00:00:00Z"] * 2, "plannedQuantity": [53_400.0, 7_500.0],
                              "actualQuantity": [43_788.0, None]})
    assert vessel_target("s1", NOW, schedules, None).planned_t == pytest.approx(9_612.0)
    assert vessel_target("s2", NOW, schedules, None).planned_t == 7_500.0  # nothing loaded yet


@pytest.mark.parametrize("status", ["COMPLETED", "Departed", "CANCELLED", "SAILED"])
def test_a_schedule_that_is_over_is_closed_and_says_so(status):
    schedules = pd.DataFrame({"id": ["s1"], "vesselId": ["v1"], "status": [status],
                              "etsLoading": [pd.Timestamp("2025-11-12T00:00:00Z")], "plannedQuantity": [7500.0]})
    vessels = pd.DataFrame({"id": ["v1"], "name": ["BG Mitra Bara 301"]})
    target = vessel_target("s1", NOW, schedules, vessels)
    assert not target.chargeable
    assert target.closed_reason.startswith(f"sailing schedule s1 (BG Mitra Bara 301) is {status.upper()}")
    assert "no demurrage" in target.closed_reason
    assert target.closure == ScheduleClosure("over", "s1", "BG Mitra Bara 301", status.upper(), "2025-11-12 07:00",
                                             "2025-11-10 08:00")


@pytest.mark.parametrize("status", ["SCHEDULED", "LOADING", "ANCHORAGE", ""])
def test_a_deadline_before_the_start_is_closed_and_one_after_it_is_not(status):
    schedules = pd.DataFrame({"id": ["past", "later"], "vesselId": ["v1", "v1"], "status": [status, status],
                              "etsLoading": ["2025-11-09T12:00:00.000Z", "2025-11-10T02:00:00.000Z"],
                              "plannedQuantity": [7500.0, 7500.0]})
    past = vessel_target("past", NOW, schedules, None)
    assert past.hours_available == -13.0 and not past.chargeable
    assert "2025-11-09 19:00 (UTC+7) before the shift starts (2025-11-10 08:00)" in past.closed_reason
    assert past.closure == ScheduleClosure("deadline_passed", "past", "v1", status, "2025-11-09 19:00",
                                           "2025-11-10 08:00")
    later = vessel_target("later", NOW, schedules, None)
    assert later.hours_available == 1.0 and later.chargeable and later.closed_reason == "" and later.closure is None


def test_trained_champion_on_the_synthetic_mine(trained_mine, settings):
    # The real pipeline: a champion trained by training.train on generated cycles, the synthetic fleet,
    # a vessel from its schedules. Sanity of the physics, not exact values.
    export = trained_mine.export
    schedule = export.sailing_schedules.iloc[-1]
    body = copy.deepcopy(_contract("ref-a.json"))
    body["decision_variables"] = {"alokasi_truk": [5, 10, 15], "jumlah_excavator": [1, 3]}
    body["fixed_conditions"]["target_schedule_id"] = schedule["id"]
    body["simulation"] = {"replications": 8, "seed": 1}
    run = run_request(parse_request(body, defaults=simulation_defaults(settings)), bundle=trained_mine.bundle, fleet=trained_mine.fleet, executor=InlineExecutor(),
                      settings=settings, sailing_schedules=export.sailing_schedules, vessels=export.vessels)
    assert run.model_version == trained_mine.version
    assert run.vessel is not None and run.vessel.planned_t == float(schedule["plannedQuantity"])
    by_key = {s.scenario_key: s for s in run.summaries}
    production = {k: s.metrics["production_t"].mean for k, s in by_key.items()}
    assert production["T5-E3"] < production["T10-E3"] < production["T15-E3"]
    assert production["T15-E1"] < production["T15-E3"]  # one excavator cannot feed 15 trucks
    assert by_key["T15-E1"].metrics["queue_hours"].mean > by_key["T5-E3"].metrics["queue_hours"].mean
    cycle = by_key["T5-E3"].metrics["cycle_time_min"].mean
    assert 5.0 < cycle < 120.0
    ratio = by_key["T10-E3"].metrics["fuel_ratio_l_per_t"].mean
    assert 0.05 < ratio < 3.0
    assert "vessel_hours_to_target" in by_key["T10-E3"].metrics
    assert np.isfinite(run.ranked[0].metrics["profit_idr"].mean)


def test_delay_lengths_follow_the_requests_weather(fake_bundle, reference_fleet, settings):
    # The bundle's per-weather delay minutes: a request in heavy rain resamples the heavy-rain array, one
    # in a weather without its own array the pooled one (NoiseTables.for_weather via pair_inputs).
    fake_bundle.delay_minutes = np.full(50, 10.0)
    fake_bundle.delay_minutes_by_weather = {"HUJAN_LEBAT": np.full(40, 30.0)}
    body = _legacy(replications=6, seed=3)
    body["decision_variables"] = {"alokasi_truk": [4], "jumlah_excavator": [1]}
    runs = {}
    for weather in ("HUJAN_LEBAT", "CERAH"):
        body["fixed_conditions"]["weatherCondition"] = weather
        runs[weather] = _run(body, fake_bundle, reference_fleet, settings)
    for weather, minutes in (("HUJAN_LEBAT", 30.0), ("CERAH", 10.0)):
        results = runs[weather].results["T4-E1"]
        delays = sum(r.delays for r in results)
        assert delays > 0 and sum(r.delay_hours for r in results) * 60 == pytest.approx(delays * minutes)

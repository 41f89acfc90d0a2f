"""The haul-network simulator against the sample network mine's known truth (``training.synthetic_network``):
three pits, two dumps with shares, a single-lane ramp; built from the mine's ``road_segments`` rows and
the documented physics, the simulator's cycle time and production per destination land within 3 % of
what the mine's own event simulation (no SimPy, written separately) measured."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from simulator.engine import run_request
from simulator.executor import InlineExecutor
from simulator.request import parse_request
from tests.paths import CONTRACTS

from simulator.model import ModelParams, NoiseTables, PhaseNoise
from simulator.network import Destination, LoadingPoint, build_network
from simulator.network_model import run_replications
from simulator.settings import SimulatorSettings
from simulator.travel import all_routes, assemble, truth_route_times
from training.ground_truth import GroundTruth
from training.synthetic_network import hauling_records, road_segments, run_shifts, sample_network_mine, truck_pits

SHIFTS = 60


@pytest.fixture(scope="module")
def mine_and_truth():
    mine = sample_network_mine(trucks=30)
    records, truth = run_shifts(mine, SHIFTS, seed=11)
    return mine, records, truth


def simulator_inputs(mine, truth, dispatch: str = "fixed"):
    g = GroundTruth()
    net, rejected = build_network(
        road_segments(mine), [LoadingPoint(p.id, p.node, p.excavators) for p in mine.pits],
        [Destination(d.id, d.node, d.bays, share=d.share) for d in mine.dumps],
        single_lane=[r.id for r in mine.roads if r.single_lane])
    assert not rejected
    t, e = mine.trucks, net.total_excavators
    layout = net.excavator_layout(e)
    haul_r, back_r = all_routes(net)
    common = dict(weather=mine.weather, road_condition=None, shift=mine.shift,
                  operator_years=np.full(t, mine.operator_years))
    haul = {k: truth_route_times(v, loaded=True, **common) for k, v in haul_r.items()}
    back = {k: truth_route_times(v, loaded=False, **common) for k, v in back_r.items()}
    load = np.array([[truth.loading_min[mine.pits[p].id] for p in layout]] * t)
    d = len(mine.dumps)
    tables = NoiseTables.build(truth.payload_residuals_t, np.zeros(10), np.ones(10), label="network-truth")
    phase = tuple(PhaseNoise("lognormal", g.phase_sigma[k]) for k in ("loading", "hauling", "dumping", "returning"))
    inputs = assemble(net, scenario_key=f"truth/{dispatch}", excavator_point=layout,
                      payload_t=np.full((t, e), truth.payload_mean_t), load_min=load,
                      dump_min=np.full((t, e, d), truth.dumping_min), fuel_l=np.full((t, e, d), 40.0),
                      delay_probability=np.zeros((t, e, d)), haul=haul, back=back, dispatch=dispatch,
                      headway_min=mine.headway_min, phase_noise=phase, noise=tables)
    params = ModelParams(shift_hours=mine.shift_hours, dump_bays=None, dispatch_interval_min=mine.lineup_min)
    return inputs, params


def test_the_sample_network_mine_has_pits_dumps_a_ramp_and_point_ids_on_its_records(mine_and_truth):
    mine, records, truth = mine_and_truth
    rows = hauling_records(mine, records)
    assert set(rows["loadingPointId"]) == {p.id for p in mine.pits}
    assert set(rows["dumpingPointId"]) == {d.id for d in mine.dumps}
    assert sum(r.single_lane for r in mine.roads) == 1
    assert truth.bunching_min_per_shift > 0  # the ramp makes trucks follow each other
    rom, waste = (truth.production_t_per_shift[k] for k in ("ROM", "WASTE"))
    assert rom / (rom + waste) == pytest.approx(0.6, abs=0.02)
    # trucks are dealt 2:2:1 to the pits, as the simulator's fixed assignment deals them
    assert np.bincount(truck_pits(mine)).tolist() == [12, 12, 6]


def test_simulator_cycle_time_and_production_per_destination_within_3_percent_of_truth(mine_and_truth):
    mine, _, truth = mine_and_truth
    inputs, params = simulator_inputs(mine, truth)
    runs = run_replications(inputs, params, seed=5, replications=range(SHIFTS))
    cycle = np.mean([r.cycle_time_min for r in runs])
    assert cycle == pytest.approx(truth.cycle_time_min, rel=0.03)
    for k, dest in enumerate(inputs.destination_ids):
        produced = np.mean([r.destination_production_t[k] for r in runs])
        assert produced == pytest.approx(truth.production_t_per_shift[dest], rel=0.03), dest
    loads = np.mean([r.loads for r in runs])
    assert loads == pytest.approx(truth.loads_per_shift, rel=0.03)
    assert np.mean([r.bunching_hours for r in runs]) * 60 == pytest.approx(truth.bunching_min_per_shift, rel=0.25)


def test_a_strategies_request_on_the_sample_network_mine_ranks_fixed_and_dynamic_dispatch(reference_fleet,
                                                                                           fake_bundle):
    # The reference fleet's trucks and excavators on the sample network mine's roads.
    mine = sample_network_mine()
    template = reference_fleet.road_segments.iloc[[0] * len(mine.roads)].reset_index(drop=True)
    roads = road_segments(mine)
    for column in roads.columns:
        template[column] = roads[column].to_numpy()
    template["code"] = roads["id"].to_numpy()
    fleet = dataclasses.replace(reference_fleet, road_segments=template)
    body = json.loads((CONTRACTS / "ref-a.json").read_text())
    body["decision_variables"] = {"alokasi_truk": [10, 16], "jumlah_excavator": [5],
                                  "dispatch": ["fixed", "shortest_queue", "shortest_travel_wait"]}
    body["network"] = {
        "loading_points": [{"id": p.id, "node": p.node, "excavators": p.excavators} for p in mine.pits],
        "destinations": [{"id": d.id, "node": d.node, "bays": d.bays, "share": d.share} for d in mine.dumps],
        "single_lane": [r.id for r in mine.roads if r.single_lane], "headway_min": mine.headway_min}
    body["simulation"] = {"duration_hours": 8, "replications": 8, "seed": 4}
    result = run_request(parse_request(body), bundle=fake_bundle, fleet=fleet, executor=InlineExecutor(), settings=SimulatorSettings())
    assert {s.scenario_key for s in result.summaries} == {
        f"T{t}-E5{rule}" for t in (10, 16) for rule in ("", "/shortest_queue", "/shortest_travel_wait")}
    assert [s.rank for s in result.ranked] == list(range(1, 7))
    for s in result.ranked:
        for metric in ("profit_idr", "match_factor", "cost_per_t_idr", "t_per_truck_operating_hour",
                       "t_per_loader_operating_hour", "loader_queue_hours", "dump_queue_hours", "bunching_hours",
                       "production_t@ROM", "production_t@WASTE"):
            est = s.metrics[metric]
            assert est.n == 8 and est.ci_low <= est.mean <= est.ci_high, (s.scenario_key, metric)
    by_key = {s.scenario_key: s for s in result.summaries}
    assert by_key["T16-E5/shortest_queue"].dispatch == "shortest_queue"
    assert by_key["T16-E5"].metrics["bunching_hours"].mean > 0  # the ramp is single-lane

"""Known-answer tests of the haul-network model: today's model on one road, finite-source queueing
theory, bunching on a single-lane road, dispatch on a symmetric two-pit mine, seeds and workers."""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from simulator import network_model as nm
from simulator.executor import InlineExecutor, LocalPoolExecutor, ScenarioTask
from simulator.model import Breakdowns, ModelParams, NoiseTables, PhaseNoise, run_replications
from simulator.network import Closure, Destination, Edge, HaulNetwork, LoadingPoint
from simulator.replications import estimate
from tests.simulator.conftest import make_inputs
from tests.simulator.network_factories import CONSTANT, LOGNORMAL, network_inputs, symmetric_two_pits


def _tables(seed: int = 1) -> NoiseTables:
    rng = np.random.default_rng(seed)
    return NoiseTables.build(rng.normal(0, 1, 300), rng.normal(0, 3, 300), rng.lognormal(2.4, 0.6, 200))


@pytest.mark.parametrize("bays", [None, 2])
def test_a_network_of_one_road_replays_todays_model_exactly(bays):
    # Same draws (model.draw), same loader pool, dump recursion, breakdowns and end-of-shift rule:
    # every replication's numbers agree to float rounding, queue split included.
    pair = make_inputs(12, 3, (5.0, 12.0, 2.0, 9.0), noise=LOGNORMAL, tables=_tables(), delay_probability=0.1,
                       breakdowns=Breakdowns(40.0, 5.0, 300.0, 8.0, truck_repair_min=(60.0, 180.0, 400.0),
                                             truck_late_share=0.2, truck_late_min=(20.0, 240.0)))
    params = ModelParams(dump_bays=bays, dispatch_interval_min=1.5)
    today = run_replications(pair, params, 7, range(15))
    network = nm.run_replications(nm.from_pair_inputs(pair, dump_bays=bays), params, 7, range(15))
    assert sum(r.breakdowns for r in today) > 5  # breakdowns (cancelled cycles) and late joins are exercised
    for a, b in zip(today, network):
        assert (a.loads, a.delays, a.breakdowns) == (b.loads, b.delays, b.breakdowns)
        for field in ("production_t", "fuel_l", "queue_hours", "cycle_time_min", "excavator_utilisation",
                      "truck_utilisation", "downtime_hours"):
            assert getattr(b, field) == pytest.approx(getattr(a, field), rel=1e-12, abs=1e-12), field
        assert b.loader_queue_hours + b.dump_queue_hours == pytest.approx(a.queue_hours, abs=1e-12)
        assert b.destination_production_t == pytest.approx((a.production_t,))
    if bays is None:
        assert all(r.dump_queue_hours == 0 for r in network)


def _finite_source_wait(trucks: int, loaders: int, load_min: float, think_min: float) -> float:
    """Mean wait for a loader in M/M/c//N (machine-repair model), minutes: Lq / throughput."""
    r = load_min / think_min
    weights = []
    for n in range(trucks + 1):
        w = math.comb(trucks, n) * r ** n
        if n > loaders:
            w *= math.factorial(n) / (math.factorial(loaders) * loaders ** (n - loaders))
        weights.append(w)
    p = np.asarray(weights) / sum(weights)
    in_system = sum(n * p[n] for n in range(trucks + 1))
    lq = sum((n - loaders) * p[n] for n in range(loaders + 1, trucks + 1))
    throughput = (trucks - in_system) / think_min
    return lq / throughput


@pytest.mark.parametrize("trucks, loaders", [(6, 2), (5, 1)])
def test_loader_queue_matches_the_finite_source_queue(trucks, loaders):
    # Exponential loads (mean 4 min) and an exponential haul of 12 min with nothing else in the cycle:
    # the closed network of an infinite-server "think" stage and a c-server FIFO exponential stage,
    # M/M/c//N. A 1000-hour shift gives ~60k cycles; the 4 % tolerance is about 4 standard errors of
    # the mean wait over 4 replications (start-up and end-of-shift effects are below 0.1 %).
    pair = make_inputs(trucks, loaders, (4.0, 12.0, 0.0, 0.0),
                       noise=(PhaseNoise("exponential"), PhaseNoise("exponential"), CONSTANT, CONSTANT))
    inputs = nm.from_pair_inputs(pair, dump_bays=None)
    results = nm.run_replications(inputs, ModelParams(shift_hours=1000.0, dump_bays=None), 11, range(4))
    waits = [r.loader_queue_hours * 60 / r.loads for r in results]
    assert np.mean(waits) == pytest.approx(_finite_source_wait(trucks, loaders, 4.0, 12.0), rel=0.04)


def test_identical_trucks_on_a_single_lane_road_change_nothing():
    # Constant times, one loader: trucks leave it 5 min apart (> the 0.5 min headway) at equal speeds,
    # so nobody ever catches up: a single-lane road gives exactly the same shift.
    pair = make_inputs(6, 1, (5.0, 14.0, 1.0, 10.0))
    params = ModelParams(dump_bays=None, deterministic=True)
    free = nm.run_replication(nm.from_pair_inputs(pair, dump_bays=None), params, 0, 0)
    lane = nm.run_replication(nm.from_pair_inputs(pair, dump_bays=None, single_lane=True), params, 0, 0)
    assert lane.bunching_hours == 0.0
    assert (lane.loads, lane.production_t, lane.cycle_time_min) == (free.loads, free.production_t, free.cycle_time_min)


def test_a_fast_truck_follows_a_slow_one_at_the_headway():
    # Truck 0 (slow: 16 min each way) loads 0-5, truck 1 (fast: 8 min each way) loads 5-10. One-hour
    # shift, no dump queue, 1-min dumps. Loaded lane: truck 0 leaves it at 21, truck 1 would at 18 and
    # leaves at 21.5 (3.5 min lost). Empty lane: truck 0 enters at 22 and leaves at 38, truck 1 enters at
    # 22.5, would leave at 30.5 and leaves at 38.5 (8 min lost). Neither can start another cycle (truck 1
    # at 38.5 + 22 > 60). With passing allowed nothing is lost and truck 1, back at 27, hauls a second load
    # (27 + 22 = 49 <= 60): the platoon cost a load.
    pair = make_inputs(2, 1, (5.0, 16.0, 1.0, 16.0))
    means = pair.phase_mean_min.copy()
    means[1, 0, 1] = means[1, 0, 3] = 8.0
    pair = replace(pair, phase_mean_min=means)
    params = ModelParams(shift_hours=1.0, dump_bays=None, deterministic=True)
    lane = nm.run_replication(nm.from_pair_inputs(pair, dump_bays=None, single_lane=True), params, 0, 0)
    free = nm.run_replication(nm.from_pair_inputs(pair, dump_bays=None), params, 0, 0)
    assert lane.bunching_hours * 60 == pytest.approx(11.5)
    assert (lane.loads, free.loads) == (2, 3)
    assert lane.cycle_time_min * 2 == pytest.approx(38 + 38.5)  # truck 1 queued from 0 to 5
    assert free.bunching_hours == 0.0
    assert free.cycle_time_min * 3 == pytest.approx(38 + 27 + 22)


def _mixed_speeds(trucks: int):
    """One road, 2 excavators, random phase times; every other truck 40 % slower on the road."""
    pair = make_inputs(trucks, 2, (5.0, 14.0, 1.0, 10.0), noise=LOGNORMAL)
    means = pair.phase_mean_min.copy()
    means[1::2, :, 1] *= 1.4
    means[1::2, :, 3] *= 1.4
    return replace(pair, phase_mean_min=means)


def test_mixed_speeds_on_a_single_lane_road_form_platoons_and_cost_production():
    # Half the fleet 40 % slower; random phase times. On one lane the fast trucks queue behind slow
    # ones: time is lost, cycles lengthen and production falls, measurably (paired by replication).
    pair = _mixed_speeds(10)
    params = ModelParams(dump_bays=None)
    free = nm.run_replications(nm.from_pair_inputs(pair, dump_bays=None), params, 5, range(20))
    lane = nm.run_replications(nm.from_pair_inputs(pair, dump_bays=None, single_lane=True), params, 5, range(20))
    lost = estimate([r.bunching_hours for r in lane])
    assert lost.ci_low > 0.5  # truck-hours per shift
    cycle = estimate([b.cycle_time_min - a.cycle_time_min for a, b in zip(free, lane)])
    production = estimate([b.production_t - a.production_t for a, b in zip(free, lane)])
    assert cycle.ci_low > 0 and production.ci_high < 0


@pytest.mark.parametrize("trucks", [3, 4, 6, 8, 10])
@pytest.mark.parametrize("noise", [LOGNORMAL, (PhaseNoise("exponential"),) + LOGNORMAL[1:]], ids=["lognormal", "exp-load"])
def test_dynamic_dispatch_is_never_worse_than_fixed_on_a_symmetric_two_pit_mine(trucks, noise):
    # Same replications (common random numbers) for every rule. The wait-based rules never queue more
    # on average; shortest-queue (which ignores how far a load has gone) is not significantly worse.
    net = symmetric_two_pits()
    params = ModelParams(dump_bays=None)

    def run(rule):
        return nm.run_replications(network_inputs(net, trucks, dispatch=rule, noise=noise), params, 3, range(30))

    fixed = run("fixed")
    fixed_queue = np.mean([r.loader_queue_hours for r in fixed])
    for rule in ("shortest_wait", "shortest_travel_wait"):
        assert np.mean([r.loader_queue_hours for r in run(rule)]) <= fixed_queue + 1e-9, rule
    diff = estimate([a.loader_queue_hours - b.loader_queue_hours for a, b in zip(run("shortest_queue"), fixed)])
    assert diff.ci_low <= 0


def test_destinations_get_their_shares_and_a_closed_crusher_sends_trucks_elsewhere():
    edges = (Edge("A", "P", "J", 1.0, 0.0, 30.0, "GOOD"), Edge("B", "J", "ROM", 2.0, 3.0, 30.0, "GOOD"),
             Edge("C", "J", "CRUSHER", 2.5, 1.0, 30.0, "GOOD"))
    def mine(closures=()):
        return HaulNetwork(edges, (LoadingPoint("P", "P", 2),),
                           (Destination("ROM", "ROM", 2, target_t=3000.0),
                            Destination("CRUSHER", "CRUSHER", 1, target_t=1000.0, closures=closures)))
    params = ModelParams(dump_bays=None)
    open_ = nm.run_replications(network_inputs(mine(), 8, noise=LOGNORMAL), params, 1, range(10))
    shares = np.mean([np.asarray(r.destination_production_t) / r.production_t for r in open_], axis=0)
    assert shares == pytest.approx([0.75, 0.25], abs=0.02)
    shut = nm.run_replications(network_inputs(mine((Closure(0.0, 4.0),)), 8, noise=LOGNORMAL), params, 1, range(10))
    # While the crusher is down (first 4 h) the ROM takes every load, and nobody waits for the crusher
    # to reopen; afterwards the crusher is fed first until it has caught up with its share.
    first_half = nm.run_replications(network_inputs(mine((Closure(0.0, 4.0),)), 8, noise=LOGNORMAL),
                                     ModelParams(shift_hours=4.0, dump_bays=None), 1, range(10))
    assert all(r.destination_production_t[1] == 0 for r in first_half)
    assert all(r.dump_queue_hours < 0.01 for r in first_half)
    assert np.mean([r.production_t for r in shut]) == pytest.approx(np.mean([r.production_t for r in open_]), rel=0.03)
    shut_shares = np.mean([np.asarray(r.destination_production_t) / r.production_t for r in shut], axis=0)
    assert shut_shares == pytest.approx([0.75, 0.25], abs=0.05)


def test_a_dump_closed_for_the_only_destination_makes_trucks_wait_there():
    net = HaulNetwork((Edge("A", "P", "D", 2.0, 0.0, 30.0, "GOOD"),), (LoadingPoint("P", "P", 1),),
                      (Destination("D", "D", 1, closures=(Closure(1.0, 2.0),)),))
    r = nm.run_replication(network_inputs(net, 4), ModelParams(dump_bays=1, deterministic=True), 0, 0)
    assert r.dump_queue_hours > 0.9 * 1.0  # at least the trucks that arrive during the hour wait it out


def test_same_seed_same_answer_inline_and_on_one_or_two_workers():
    net = symmetric_two_pits(bays=1)
    tasks = [ScenarioTask(network_inputs(net, t, dispatch=rule, noise=LOGNORMAL, tables=_tables(), key=f"{t}-{rule}"),
                          ModelParams(dump_bays=1), 42, 6)
             for t in (4, 7) for rule in ("fixed", "shortest_travel_wait")]
    inline = InlineExecutor().map_scenarios(tasks)
    with LocalPoolExecutor(workers=1) as one, LocalPoolExecutor(workers=2) as two:
        assert one.map_scenarios(tasks) == inline
        assert two.map_scenarios(tasks) == inline
    assert inline == InlineExecutor().map_scenarios(tasks)


def test_a_heavier_load_hauls_slower_by_the_calibrated_payload_slope():
    # One truck (no queue), constant phases, every payload 5 t above the model's: with a slope of
    # 0.02/t each loaded trip takes exp(0.1) times its mean, the rest of the cycle as before.
    tables = NoiseTables.build(np.full(10, 5.0), np.zeros(10), np.ones(10), label="payload+5")
    base = network_inputs(symmetric_two_pits(), trucks=1, tables=tables)
    params = ModelParams(shift_hours=8.0, dump_bays=None)
    flat = nm.run_replication(base, params, 0, seed=3)
    slow = nm.run_replication(replace(base, haul_payload_slope_per_t=0.02), params, 0, seed=3)
    haul = float(base.haul_min[0, 0, 0])
    assert slow.cycle_time_min - flat.cycle_time_min == pytest.approx(haul * (math.exp(0.1) - 1), rel=1e-9)
    assert slow.loads <= flat.loads
    with pytest.raises(ValueError, match="haul_payload_slope_per_t"):
        replace(base, haul_payload_slope_per_t=math.nan)


def test_the_following_allowance_takes_the_records_following_out_once():
    # The champion's single-lane minutes contain the following the records' traffic made (the site's
    # network_trucks_per_shift: 10 of these 20 mixed-speed trucks). The allowance is the following the
    # model itself makes at that traffic, taken out of each pass: at 10 trucks the simulated following
    # then equals what was taken out (a pass averages the champion's minutes again: a fixed point),
    # while the whole fleet follows more than the records did.
    from simulator.network_engine import FOLLOWING_PILOT_REPLICATIONS, following_allowance
    from training.site import SiteCalibration

    pair = _mixed_speeds(20)
    full = nm.from_pair_inputs(pair, dump_bays=None, single_lane=True)
    params = ModelParams(dump_bays=None)
    site = SiteCalibration(network_trucks_per_shift=10.0)
    allowance = following_allowance(full, params, site, seed=5)
    assert len(allowance) == full.lanes == 2 and all(a > 0.1 for a in allowance)
    records_traffic = replace(full.subset(10, 2, "records"), lane_allowance_min=allowance)
    again = nm.lane_following(records_traffic, params, 5, FOLLOWING_PILOT_REPLICATIONS)
    assert again == pytest.approx(allowance, rel=0.05)
    busier = nm.lane_following(replace(full, lane_allowance_min=allowance), params, 5, FOLLOWING_PILOT_REPLICATIONS)
    assert all(b > a for a, b in zip(allowance, busier))
    # Nothing to take out without network records, nor without a single-lane road.
    assert following_allowance(full, params, SiteCalibration(), 5) == ()
    assert following_allowance(nm.from_pair_inputs(pair, dump_bays=None), params, site, 5) == ()
    with pytest.raises(ValueError, match="lane_allowance_min"):
        replace(full, lane_allowance_min=(1.0,))

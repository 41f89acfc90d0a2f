"""The SimPy model against exact logs, queueing theory, properties and the synthetic mine's ground truth."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings as hsettings, strategies as st

from simulator.model import (Breakdowns, Draws, ModelParams, NoiseTables, PhaseNoise, block_cycles, late_minutes,
                             draw, prepare, replication_seed, run_replication, run_replications, simulate,
                             trace_replication)
from simulator.replications import estimate
from tests.simulator.conftest import CONSTANT, make_inputs

LOGNORMAL = tuple(PhaseNoise("lognormal", s) for s in (0.15, 0.10, 0.18, 0.10))


def test_constant_sampler_gives_the_exact_load_start_log():
    # STYLE.md section 1: 9 trucks, 3 excavators, 1-minute loads -> load starts 0,0,0,1,1,1,2,2,2.
    inputs = make_inputs(9, 3, (1.0, 20.0, 1.0, 20.0))
    _, log = trace_replication(inputs, ModelParams(shift_hours=1.0, dump_bays=9))
    assert [t for _, _, t in log[:9]] == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert [truck for truck, _, _ in log[:9]] == list(range(9))  # FIFO
    assert sorted(e for _, e, t in log[:9] if t == 1) == [0, 1, 2]  # each excavator serves one per minute


@pytest.mark.parametrize("trucks, excavators, bound", [
    # 24 h shift of 24-min cycles: trucks-bound = 1440 / 24 per truck; excavator-bound = 1440 / 5 loads.
    (4, 2, 4 * 1440 / 24),   # trucks/cycle = 0.167/min < excavators/load = 0.4/min: truck-bound
    (10, 1, 1440 / 5),       # 10/24 = 0.417/min > 1/5 = 0.2/min: excavator-bound
    (12, 2, 2 * 1440 / 5),   # 0.5/min > 0.4/min: excavator-bound
])
def test_deterministic_production_equals_the_match_factor_bound(trucks, excavators, bound):
    # Constant durations; the shift is 60 cycles long so that the end effect (at most one cycle per
    # truck, STYLE.md section 2) stays under the 2 %.
    inputs = make_inputs(trucks, excavators, (5.0, 9.0, 2.0, 8.0), payload_t=30.0)
    result = run_replication(inputs, ModelParams(shift_hours=24.0, dump_bays=trucks, deterministic=True), 0, 0)
    assert result.production_t == pytest.approx(bound * 30.0, rel=0.02)
    assert result.loads <= bound + trucks  # started cycles finish; never more than one extra per truck


def test_end_of_shift_rule_starts_only_cycles_that_fit():
    # One truck, 25-min cycles, 8 h: 19 x 25 = 475 <= 480, a 20th cycle would end at 500.
    result = run_replication(make_inputs(1, 1, (5.0, 10.0, 2.0, 8.0)), ModelParams(deterministic=True), 0, 0)
    assert result.loads == 19
    assert result.truck_utilisation == pytest.approx(475 / 480)
    assert result.excavator_utilisation == pytest.approx(19 * 5 / 480)
    assert result.cycle_time_min == pytest.approx(25.0)
    # 24-min cycles fit exactly 20 times.
    assert run_replication(make_inputs(1, 1), ModelParams(deterministic=True), 0, 0).loads == 20


def test_a_cycle_starts_only_if_it_ends_in_the_shift_counting_the_queue_it_waited():
    # The synthetic mine's rule (training.synthetic.events.Mine._pit), checked at the loading start so the queue
    # counts. Two trucks, one excavator, 20-min loads, 24-min cycles, 480-min shift: the loader is the
    # bottleneck, loads start every 20 min alternating trucks (0, 20, 40, ...). The load from 440 ends its
    # cycle at 464 <= 480; truck 1 (back at 444) gets the loader at 460, 460 + 24 > 480: it stops; truck 0
    # (back at 464) gets it at once, 464 + 24 > 480: stops too. 23 loads. The old rule ("the expected
    # cycle fits from the time the truck is ready": 444 + 24 <= 480) started a 24th that ended at 484.
    inputs = make_inputs(2, 1, (20.0, 1.0, 1.0, 2.0))
    result, log = trace_replication(inputs, ModelParams(shift_hours=8.0, dump_bays=2, deterministic=True))
    assert [(i, t) for i, _, t in log] == [(k % 2, 20.0 * k) for k in range(23)]
    assert result.loads == 23 and max(t + 24.0 for _, _, t in log) <= 480.0  # no cycle overruns
    assert result.truck_utilisation <= 1.0


def test_the_fit_check_uses_the_cycles_drawn_delay_not_its_mean():
    # One truck, 24-min cycles, every cycle delayed (p = 1) by exactly 30 min (a one-value table): a
    # cycle lasts 54 min, 8 full cycles end at 432 and a 9th (from 432) would end at 486 > 480.
    tables = NoiseTables.build([0.0], [0.0], [30.0])
    inputs = make_inputs(1, 1, (5.0, 9.0, 2.0, 8.0), delay_probability=1.0, tables=tables)
    result = run_replication(inputs, ModelParams(shift_hours=8.0, dump_bays=1), 0, 0)
    assert result.loads == 8 and result.delays == 8 and result.delay_hours == pytest.approx(4.0)
    assert result.cycle_time_min == pytest.approx(54.0)


def test_a_truck_that_stops_hands_the_excavator_to_the_next_in_queue():
    # One excavator (10-min loads), a 75-min shift. Truck 0 has 50-min cycles, trucks 1 and 2 12-min ones.
    # Loads alternate 1, 2 after truck 0's first; truck 0 is back at 50 and queues behind truck 1 (waiting
    # since 42) and ahead of truck 2 (back at 52). At 60 truck 0 gets the loader, cannot fit 50 minutes,
    # and passes it on at once: truck 2 loads at 60 (60 + 12 <= 75); truck 1 gets it at 70 and stops.
    inputs = make_inputs(3, 1, (10.0, 1.0, 0.5, 0.5))
    inputs.phase_mean_min[0, 0] = (10.0, 20.0, 5.0, 15.0)
    result, log = trace_replication(inputs, ModelParams(shift_hours=75 / 60, dump_bays=3, deterministic=True))
    assert [(i, t) for i, _, t in log] == [(0, 0.0), (1, 10.0), (2, 20.0), (1, 30.0), (2, 40.0), (1, 50.0),
                                           (2, 60.0)]
    assert result.loads == 7 and result.excavator_utilisation == pytest.approx(70 / 75)


def _finite_source_wait(n: int, c: int, arrival_rate: float, service_rate: float) -> float:
    """Exact mean queue wait of the closed M/M/c//N (machine-repair) model, in the rates' time unit.

    p_n ∝ C(N,n) r^n (n <= c), ∝ C(N,n) n!/(c! c^(n-c)) r^n (n > c), r = lambda/mu; Wq = Lq / (lambda (N - L)).
    It is the closed-loop counterpart of Erlang C (which it approaches as N grows at a fixed total rate).
    """
    r = arrival_rate / service_rate
    weights = []
    for k in range(n + 1):
        w = math.comb(n, k) * r ** k
        if k > c:
            w *= math.factorial(k) / (math.factorial(c) * c ** (k - c))
        weights.append(w)
    p = np.array(weights) / sum(weights)
    ks = np.arange(n + 1)
    lq = float(np.sum(np.clip(ks - c, 0, None) * p))
    busy_or_waiting = float(np.sum(ks * p))
    return lq / (arrival_rate * (n - busy_or_waiting))


@pytest.mark.parametrize("trucks, excavators", [(6, 1), (10, 2)])
def test_markovian_loading_matches_the_finite_source_queue_formula(trucks, excavators):
    # One stage: exponential loading (mean 5 min) and exponential travel (mean 20 min: the "haul";
    # dump and return take 0), dump bays ample. The closed loop is exactly the M/M/c//N machine-repair
    # queue, so the mean wait per load must fall in the 95% CI over 20 independent long replications
    # (200 h each, ~5,000 loads, so the start-up transient weighs < 1 %).
    inputs = make_inputs(trucks, excavators, (5.0, 20.0, 0.0, 0.0),
                         noise=(PhaseNoise("exponential"), PhaseNoise("exponential"), CONSTANT, CONSTANT))
    params = ModelParams(shift_hours=200.0, dump_bays=trucks)
    results = run_replications(inputs, params, seed=2024, replications=range(20))
    waits = [r.queue_hours * 60.0 / r.loads for r in results]
    ci = estimate(waits)
    theory = _finite_source_wait(trucks, excavators, arrival_rate=1 / 20.0, service_rate=1 / 5.0)
    assert ci.ci_low <= theory <= ci.ci_high, (theory, ci)
    assert theory > 1.0  # a real queue, not a trivially empty one


@hsettings(max_examples=15, deadline=None)
@given(trucks=st.integers(1, 10), load=st.floats(1.0, 10.0), travel=st.floats(5.0, 40.0), seed=st.integers(0, 2**32 - 1))
def test_throughput_never_falls_as_trucks_are_added_while_excavators_are_ample(trucks, load, travel, seed):
    # Excavators and dump bays >= trucks: trucks never interact, and with common random numbers
    # truck i draws the same numbers in both scenarios, so the added truck only adds loads.
    phases = (load, travel, 2.0, travel * 0.8)
    params = ModelParams(shift_hours=8.0, dump_bays=20, cycles_per_block=block_cycles(8.0, load + 1.8 * travel + 2))
    small = run_replication(make_inputs(trucks, 11, phases, noise=LOGNORMAL), params, 0, seed)
    big = run_replication(make_inputs(trucks + 1, 11, phases, noise=LOGNORMAL), params, 0, seed)
    assert big.loads >= small.loads and big.production_t >= small.production_t


@hsettings(max_examples=15, deadline=None)
@given(trucks=st.integers(1, 8), extra=st.integers(0, 3), seed=st.integers(0, 2**32 - 1),
       sigma=st.floats(0.0, 0.8))
def test_no_queue_when_excavators_and_dump_bays_cover_the_trucks(trucks, extra, seed, sigma):
    inputs = make_inputs(trucks, trucks + extra, noise=tuple(PhaseNoise("lognormal", sigma) for _ in range(4)))
    result = run_replication(inputs, ModelParams(dump_bays=trucks), 0, seed)
    assert result.queue_hours == 0.0
    assert result.loads > 0


def _profit_proxy(results):
    return np.array([r.production_t for r in results])


def test_common_random_numbers_shrink_the_variance_of_a_difference():
    # T6-E2 vs T7-E2, 30 replications: paired on the same replication streams vs independent seeds.
    noise = NoiseTables.build(np.random.default_rng(1).normal(0, 2, 500), np.zeros(500), [10.0, 20.0, 30.0])
    a = make_inputs(6, 2, noise=LOGNORMAL, delay_probability=0.1, tables=noise)
    b = make_inputs(7, 2, noise=LOGNORMAL, delay_probability=0.1, tables=noise)
    params = ModelParams(cycles_per_block=block_cycles(8.0, 24.0))
    reps = range(30)
    crn = _profit_proxy(run_replications(b, params, 7, reps)) - _profit_proxy(run_replications(a, params, 7, reps))
    indep = _profit_proxy(run_replications(b, params, 8, reps)) - _profit_proxy(run_replications(a, params, 7, reps))
    assert np.var(crn, ddof=1) < 0.5 * np.var(indep, ddof=1)


def test_adding_a_truck_does_not_shift_other_trucks_draws():
    inputs = make_inputs(8, 2, noise=LOGNORMAL)
    params = ModelParams(cycles_per_block=40)
    from simulator.model import draw

    small = draw(inputs.subset(3, 2, "a"), params, prepare(inputs.subset(3, 2, "a"), params), 5, 99)
    big = draw(inputs, params, prepare(inputs, params), 5, 99)
    assert big.trucks[:3] == small.trucks
    assert big.truck_ttf[:3] == small.truck_ttf


def test_same_seed_same_numbers_other_seed_other_numbers():
    inputs = make_inputs(8, 2, noise=LOGNORMAL, breakdowns=Breakdowns(20.0, 1.0, 30.0, 1.0), delay_probability=0.1,
                         tables=NoiseTables.build([0.5, -0.5], [1.0, -1.0], [5.0, 15.0]))
    params = ModelParams()
    one = run_replications(inputs, params, 42, range(5))
    two = run_replications(inputs, params, 42, range(5))
    other = run_replications(inputs, params, 43, range(5))
    assert one == two
    assert [r.production_t for r in one] != [r.production_t for r in other]
    # Replication 3 alone equals replication 3 of the batch: a replication depends only on its index.
    assert run_replication(inputs, params, 3, 42) == one[3]
    assert replication_seed(42, 3).generate_state(4).tolist() == \
        np.random.SeedSequence(42).spawn(5)[3].generate_state(4).tolist()


def test_deterministic_mode_is_identical_across_runs_and_seeds_and_uses_the_means():
    tables = NoiseTables.build([1.0, 3.0], [2.0, 4.0], [10.0, 30.0])
    inputs = make_inputs(1, 1, (5.0, 9.0, 2.0, 8.0), payload_t=30.0, fuel_l=40.0, delay_probability=0.25,
                         noise=LOGNORMAL, tables=tables, breakdowns=Breakdowns(1.0, 1.0, 1.0, 1.0))
    params = ModelParams(deterministic=True)
    first = run_replication(inputs, params, 0, 1)
    assert first == run_replication(inputs, params, 0, 2) == run_replication(inputs, params, 0, 1)
    # Haul 9 + 0.25 x 20 mean delay = 14 -> cycle 29 min -> 16 cycles (16 x 29 = 464 <= 480).
    assert first.loads == 16
    assert first.cycle_time_min == pytest.approx(29.0)
    assert first.production_t == pytest.approx(16 * (30.0 + 2.0))  # mean + mean residual
    assert first.fuel_l == pytest.approx(16 * (40.0 + 3.0))
    assert first.delay_hours == pytest.approx(16 * 0.25 * 20.0 / 60.0)
    assert first.delays == 4
    assert first.breakdowns == 0


def test_payload_and_fuel_resample_the_residuals_and_clip_at_zero():
    tables = NoiseTables.build([-100.0], [-100.0], [])
    result = run_replication(make_inputs(2, 2, noise=LOGNORMAL, tables=tables), ModelParams(), 0, 3)
    assert result.loads > 0 and result.production_t == 0.0 and result.fuel_l == 0.0
    tables = NoiseTables.build([2.0], [-5.0], [])
    result = run_replication(make_inputs(2, 2, noise=LOGNORMAL, tables=tables), ModelParams(), 0, 3)
    assert result.production_t == pytest.approx(result.loads * 32.0)
    assert result.fuel_l == pytest.approx(result.loads * 35.0)


def _hand_draws(inputs, params, truck_failures=None, excavator_failures=None):
    """Constant factors, no delay, given failure times (min)."""
    prep = prepare(inputs, params)
    flat = [1.0, 1.0, 1.0, 1.0, 2.0, 0.0, 0.0, 0.0] * prep.cycles_per_block
    t, e = inputs.trucks, inputs.excavators
    ttf = truck_failures or [[math.inf]] * t
    return Draws(trucks=[flat] * t, truck_ttf=ttf, truck_ttr=[[30.0, 30.0]] * t,
                 excavator_failures=excavator_failures or [[] for _ in range(e)], extra=lambda i, b: flat), prep


def test_excavator_breakdown_takes_its_token_out_until_repaired():
    # One truck, one excavator, 24-min cycles. The excavator fails at minute 30 (truck hauling, the
    # excavator idle) for 60 min: the truck's second load at 24 is done, the third (at 48) waits until 90.
    inputs = make_inputs(1, 1)
    params = ModelParams(shift_hours=8.0)
    draws, prep = _hand_draws(inputs, params, excavator_failures=[[(30.0, 60.0)]])
    log: list = []
    result = simulate(inputs, params, draws, prepared=prep, trace=log)
    starts = [t for _, _, t in log]
    assert starts[:4] == [0.0, 24.0, 90.0, 114.0]
    assert result.breakdowns == 1
    assert result.downtime_hours == pytest.approx(1.0)
    assert result.queue_hours == pytest.approx((90.0 - 48.0) / 60.0)


def test_excavator_failing_mid_load_finishes_that_load_then_leaves():
    # Fails at minute 2 of the first 5-min load, for 10 min: the load finishes at 5, the next truck
    # (waiting) gets the loader only at 12 when the repair ends.
    inputs = make_inputs(2, 1)
    params = ModelParams(shift_hours=1.0)
    draws, prep = _hand_draws(inputs, params, excavator_failures=[[(2.0, 10.0)]])
    log: list = []
    simulate(inputs, params, draws, prepared=prep, trace=log)
    assert [t for _, _, t in log[:2]] == [0.0, 12.0]


def test_truck_breakdown_cancels_its_cycle_and_stops_it_at_its_next_cycle_start():
    # The truck fails at minute 10 (mid-cycle): it drives the cycle to its end (24), which the fleet
    # system records as cancelled (no load, no cycle time, its fuel spent), and is repaired for 30 min.
    inputs = make_inputs(1, 1)
    params = ModelParams(shift_hours=8.0)
    draws, prep = _hand_draws(inputs, params, truck_failures=[[10.0, math.inf]])
    log: list = []
    result = simulate(inputs, params, draws, prepared=prep, trace=log)
    assert [t for _, _, t in log[:3]] == [0.0, 54.0, 78.0]
    assert result.breakdowns == 1 and result.downtime_hours == pytest.approx(0.5)
    assert result.loads == 17  # 18 cycles ran (54 + 17 x 24 = 462 <= 480), the first was cancelled
    assert result.production_t == pytest.approx(17 * 30.0) and result.fuel_l == pytest.approx(18 * 40.0)
    assert result.cycle_time_min == pytest.approx(24.0)


def test_late_join_starts_the_truck_after_its_line_up_place():
    # Truck 1 joins 100 min late (a repair carried over from the shift before): its first load is then.
    inputs = make_inputs(2, 2)
    params = ModelParams(shift_hours=8.0, dispatch_interval_min=1.5)
    draws, prep = _hand_draws(inputs, params)
    draws.truck_late = [0.0, 100.0]
    log: list = []
    simulate(inputs, params, draws, prepared=prep, trace=log)
    assert min(t for i, _, t in log if i == 1) == pytest.approx(101.5)
    assert min(t for i, _, t in log if i == 0) == 0.0


def test_late_minutes_follow_the_measured_share_and_quantiles():
    u = np.array([0.0, 0.01, 0.02, 0.0399, 0.04, 0.5, 0.99])
    late = late_minutes(u, 0.04, (60.0, 120.0, 300.0))
    assert late[:4].tolist() == pytest.approx([60.0, 90.0, 120.0, 299.1])
    assert late[4:].tolist() == [0.0, 0.0, 0.0]
    assert late_minutes(u, 0.0, (60.0,)).tolist() == [0.0] * len(u)
    # Over many trucks: the share joins late, by the table's range.
    many = late_minutes(np.random.default_rng(1).random(200_000), 0.04, (60.0, 120.0, 300.0))
    assert (many > 0).mean() == pytest.approx(0.04, abs=0.002)  # binomial sd 0.0004
    assert many[many > 0].min() >= 60.0 and many.max() <= 300.0


def test_repairs_are_resampled_from_measured_quantiles():
    inputs = make_inputs(4, 1, breakdowns=Breakdowns(2.0, 99.0, truck_repair_min=(30.0, 30.0, 30.0)))
    params = ModelParams(cycles_per_block=40)
    results = run_replications(inputs, params, 3, range(20))
    # Every repair lasts 30 min (the table), not the MTTR of 99 h: downtime = 0.5 h per breakdown
    # unless cut by the shift's end.
    assert sum(r.breakdowns for r in results) > 10
    assert all(r.downtime_hours <= 0.5 * r.breakdowns + 1e-9 for r in results)
    assert sum(r.downtime_hours for r in results) > 0.4 * sum(r.breakdowns for r in results)


def test_breakdowns_cost_production():
    inputs_ok = make_inputs(6, 2, noise=LOGNORMAL)
    inputs_bad = make_inputs(6, 2, noise=LOGNORMAL, breakdowns=Breakdowns(4.0, 2.0, 4.0, 2.0))
    params = ModelParams(cycles_per_block=40)
    ok = run_replications(inputs_ok, params, 5, range(10))
    bad = run_replications(inputs_bad, params, 5, range(10))
    assert sum(r.breakdowns for r in bad) > 10
    assert sum(r.downtime_hours for r in bad) > 0
    assert sum(r.production_t for r in bad) < 0.9 * sum(r.production_t for r in ok)


def test_fed_the_synthetic_mines_true_distributions_the_mean_cycle_matches_the_generator():
    # The generator's cycle (training.synthetic) = lognormal phases around ground_truth.phase_means_min
    # with ground_truth.phase_sigma, plus a delay of sample_delay_min with probability delay_probability
    # (and a rare incident stop the simulator does not model: ~0.1 % x 45 min = 0.05 min). Without
    # queues (excavators and dump bays >= trucks) the simulated mean cycle must match within 2 %.
    from training import ground_truth as gt
    from training.bundle import PHASES

    truth = gt.GroundTruth()
    ctx = gt.CycleContext(distance_km=3.2, max_speed_kmh=40, gradient_pct=4.0, road_condition="FAIR",
                          weather="HUJAN_RINGAN", shift="SHIFT_2", operator_years_experience=5.0,
                          truck_capacity_t=30.0, bucket_capacity_m3=9.0)
    means = gt.phase_means_min(ctx, truth)
    p_delay = float(gt.delay_probability("HUJAN_RINGAN", "FAIR", 20.0, "SHIFT_2", truth))
    rng = np.random.default_rng(123)
    delay_lengths = gt.sample_delay_min("HUJAN_RINGAN", rng, truth, size=(20_000,))
    p_incident = float(gt.incident_probability("HUJAN_RINGAN", "FAIR", truth))
    generator_mean = (sum(float(means[p]) for p in PHASES) + p_delay * float(gt.delay_mean_min("HUJAN_RINGAN", truth))
                      + p_incident * truth.incident_stop_mean_min)
    inputs = make_inputs(4, 4, tuple(float(means[p]) for p in PHASES), delay_probability=p_delay,
                         noise=tuple(PhaseNoise("lognormal", truth.phase_sigma[p]) for p in PHASES),
                         tables=NoiseTables.build([0.0], [0.0], delay_lengths))
    results = run_replications(inputs, ModelParams(shift_hours=24.0, dump_bays=4), 77, range(10))
    simulated = sum(r.cycle_time_min * r.loads for r in results) / sum(r.loads for r in results)
    assert simulated == pytest.approx(generator_mean, rel=0.02)
    assert sum(r.delays for r in results) > 0


def test_phase_noise_factors_have_mean_one():
    u = (np.arange(200_000) + 0.5) / 200_000  # a fine quadrature of the uniform
    for noise in (PhaseNoise("lognormal", 0.3), PhaseNoise("exponential"), PhaseNoise("gamma", 2.0), CONSTANT):
        assert noise.factors(u).mean() == pytest.approx(1.0, rel=2e-3)
    with pytest.raises(ValueError):
        PhaseNoise("weibull", 1.0)


def test_dump_queue_is_fifo_over_the_bays():
    # Four trucks load at once (4 excavators), haul 10 min and reach a one-bay dump together at 11:
    # dumps start at 11, 16, 21, 26 (5 min each), so the first cycle queues 0 + 5 + 10 + 15 minutes.
    inputs = make_inputs(4, 4, (1.0, 10.0, 5.0, 2.0))
    result = run_replication(inputs, ModelParams(shift_hours=0.5, dump_bays=1, deterministic=True), 0, 0)
    assert result.loads == 4
    assert result.queue_hours == pytest.approx(30 / 60)
    assert result.cycle_time_min == pytest.approx((18 + 23 + 28 + 33) / 4)
    two_bays = run_replication(inputs, ModelParams(shift_hours=0.5, dump_bays=2, deterministic=True), 0, 0)
    assert two_bays.queue_hours == pytest.approx((0 + 0 + 5 + 5) / 60)


def test_noise_tables_pick_the_weathers_delay_lengths_else_the_pooled_ones():
    tables = NoiseTables.build([1.0], [2.0], [10.0, 20.0], label="v7",
                               delay_minutes_by_weather={"HUJAN_LEBAT": [40.0, 50.0]})
    heavy, dry = tables.for_weather("HUJAN_LEBAT"), tables.for_weather("CERAH")
    assert heavy.mean_delay_min == 45.0 and dry.mean_delay_min == 15.0
    assert not heavy.delay_minutes_by_weather and not dry.delay_minutes_by_weather  # light to ship
    assert len({tables.key, heavy.key, dry.key}) == 3 and heavy.key.startswith("v7-")  # workers cache by key
    assert NoiseTables.none().for_weather("CERAH") is not None
    other = NoiseTables.build([1.0], [2.0], [10.0, 20.0], label="v7", delay_minutes_by_weather={"HUJAN_LEBAT": [41.0]})
    assert other.key != tables.key  # the per-weather arrays are part of the content hash


def test_shift_level_factor_is_common_to_a_replications_cycles_and_mean_one():
    # Constant cycle noise, a shift-level factor on the haul only: every haul of a replication is the same
    # multiple of its mean, the multiple differs between replications and averages 1.
    noise = (CONSTANT, PhaseNoise("constant", 0.0, shift_sigma=0.2), CONSTANT, CONSTANT)
    inputs = make_inputs(3, 1, noise=noise)
    params = ModelParams(cycles_per_block=30)
    prep = prepare(inputs, params)
    factors = []
    for r in range(400):
        values = np.asarray(draw(inputs, params, prep, r, 5).trucks).reshape(3, -1, 8)
        assert np.all(values[:, :, 1] == values[0, 0, 1]) and np.all(values[:, :, [0, 2, 3]] == 1.0)
        factors.append(values[0, 0, 1])
    assert np.std(np.log(factors)) == pytest.approx(0.2, rel=0.1)   # sd of 400 draws: ~3.5 % off at most
    assert np.mean(factors) == pytest.approx(1.0, abs=0.03)        # mean one (sd of the mean ~0.01)
    # without a shift-level sigma the draws are exactly those of before (its stream is not touched)
    plain = make_inputs(3, 1, noise=(CONSTANT,) * 4)
    assert np.all(np.asarray(draw(plain, params, prepare(plain, params), 0, 5).trucks).reshape(3, -1, 8)[:, :, :4] == 1.0)

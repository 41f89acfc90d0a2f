"""The analytic loader queue against the SimPy model it replaced (``reference_model``): same draws, same
numbers, bit for bit, on randomized scenarios with and without breakdowns and a dump queue.

Both run on the very same ``Draws`` (one ``draw`` call), so any difference is in how the shift runs.
Random scenarios have no two events at the same minute except the shift start (continuous draws); the
hand-made cases with ties (constant samplers, deterministic mode) are checked too, since the FIFO order
of equal release minutes is the old pool's order.
"""
from __future__ import annotations

import dataclasses
import math
import sys

import numpy as np
import pytest

from simulator import model
from simulator.model import (Breakdowns, ModelParams, NoiseTables, PhaseNoise, ScenarioInputs, draw, exact_delay,
                             prepare, simulate)
from tests.simulator.conftest import make_inputs
from tests.simulator.reference_model import simulate_reference

#: Randomized scenarios per test run (the branch's one-off check ran 3,000; this keeps the suite quick).
SCENARIOS = 400
#: Replications per scenario.
REPLICATIONS = 2


def random_scenario(rng: np.random.Generator, index: int) -> tuple[ScenarioInputs, ModelParams]:
    """A scenario drawn at random: fleet, pair tables, noise, breakdowns (half of them, frequent enough
    to happen inside the shift), dump bays (None, fewer or more than the trucks), line-up, shift."""
    trucks, excavators = int(rng.integers(1, 21)), int(rng.integers(1, 5))
    shape = (trucks, excavators)
    means = np.stack([rng.uniform(1.5, 6.0, shape), rng.uniform(4.0, 25.0, shape),
                      rng.uniform(0.5, 3.0, shape), rng.uniform(3.0, 20.0, shape)], axis=2)
    kind = rng.choice(["lognormal", "lognormal", "exponential", "gamma", "constant"])
    noise = tuple(PhaseNoise(str(kind), float(rng.uniform(0.05, 0.5)) if kind in ("lognormal", "gamma") else 0.0)
                  for _ in range(4))
    tables = NoiseTables.build(rng.normal(0, 2, 50), rng.normal(0, 5, 50), rng.lognormal(2.0, 0.7, 30),
                               label=f"eq{index}")
    breakdowns = (Breakdowns(float(rng.uniform(2, 30)), float(rng.uniform(0.2, 3)),
                             float(rng.uniform(2, 30)), float(rng.uniform(0.2, 3)))
                  if rng.random() < 0.5 else Breakdowns())
    if rng.random() < 0.25:  # measured repairs and late joins (own streams: the other draws are unchanged)
        breakdowns = dataclasses.replace(breakdowns, truck_repair_min=tuple(np.sort(rng.uniform(5, 200, 7))),
                                         truck_late_share=float(rng.uniform(0.05, 0.5)),
                                         truck_late_min=tuple(np.sort(rng.uniform(1, 300, 5))))
    inputs = ScenarioInputs(scenario_key=f"eq{index}", payload_t=rng.uniform(20, 40, shape),
                            fuel_l=rng.uniform(20, 60, shape), delay_probability=rng.uniform(0, 0.4, shape),
                            phase_mean_min=means, phase_noise=noise, noise=tables, breakdowns=breakdowns)
    bays = [None, 1, 2, 3, trucks + 1][int(rng.integers(0, 5))]
    params = ModelParams(shift_hours=float(rng.uniform(0.5, 12.0)), dump_bays=bays,
                         deterministic=bool(rng.random() < 0.1),
                         dispatch_interval_min=float(rng.choice([0.0, rng.uniform(0.1, 3.0)])),
                         cycles_per_block=int(rng.integers(3, 30)))  # small blocks: extra blocks get used
    return inputs, params


def run_both(inputs: ScenarioInputs, params: ModelParams, replication: int, seed: int):
    prep = prepare(inputs, params)
    draws = draw(inputs, params, prep, replication, seed)
    old_log: list = []
    new_log: list = []
    old = simulate_reference(inputs, params, draws, replication=replication, prepared=prep, trace=old_log)
    new = simulate(inputs, params, draws, replication=replication, prepared=prep, trace=new_log)
    return old, new, old_log, new_log


def assert_identical(old, new, old_log, new_log, where: str) -> None:
    for f in dataclasses.fields(old):
        a, b = getattr(old, f.name), getattr(new, f.name)
        same = (a == b) or (isinstance(a, float) and math.isnan(a) and math.isnan(b))
        assert same, f"{where}: {f.name} old {a!r} new {b!r}"
    assert new_log == old_log, f"{where}: load-start traces differ"


def test_randomized_scenarios_give_bit_identical_results_and_traces():
    rng = np.random.default_rng(20261202)
    with_breakdowns = with_dump_queue = events_checked = 0
    for s in range(SCENARIOS):
        inputs, params = random_scenario(rng, s)
        for r in range(REPLICATIONS):
            old, new, old_log, new_log = run_both(inputs, params, r, seed=s)
            assert_identical(old, new, old_log, new_log, f"scenario {s} replication {r} ({params})")
            events_checked += len(old_log)
            with_breakdowns += old.breakdowns > 0
            with_dump_queue += params.dump_bays is not None and params.dump_bays < inputs.trucks
    # The sample really exercises the branches it claims to (else the test would prove little).
    assert with_breakdowns > SCENARIOS // 4 and with_dump_queue > SCENARIOS // 4 and events_checked > 50_000


@pytest.mark.parametrize("trucks, excavators, phases, bays", [
    (9, 3, (1.0, 20.0, 1.0, 20.0), 9),   # STYLE.md's constant log: many equal release minutes
    (12, 2, (5.0, 9.0, 2.0, 8.0), 12),
    (4, 4, (1.0, 10.0, 5.0, 2.0), 1),    # all four reach a one-bay dump together
    (7, 3, (3.0, 6.0, 1.0, 5.0), 2),
])
def test_ties_in_deterministic_mode_are_broken_as_before(trucks, excavators, phases, bays):
    inputs = make_inputs(trucks, excavators, phases)
    params = ModelParams(shift_hours=6.0, dump_bays=bays, deterministic=True)
    assert_identical(*run_both(inputs, params, 0, 0), f"{trucks}x{excavators} {phases}")


def test_exact_delay_lands_on_the_requested_minute_whenever_a_float_delay_can():
    rng = np.random.default_rng(1)
    exact = 0
    for now, when in zip(rng.uniform(0, 1000, 20_000), rng.uniform(0, 1000, 20_000)):
        now, when = float(min(now, when)), float(max(now, when))
        d = exact_delay(now, when)
        exact += now + d == when
        assert now + d == when or (now + d < when < now + math.nextafter(d, math.inf))  # else the nearest below
    assert exact > 19_000  # most pairs have an exact delay, and it is found
    assert 0.1 + exact_delay(0.1, 0.30000000000000004) == 0.30000000000000004  # 0.30000000000000004 - 0.1 is not it
    # No float delay sums 13.475604032189162 to 31.836441618963025 (the sums step over it, ties to even).
    assert 13.475604032189162 + exact_delay(13.475604032189162, 31.836441618963025) == 31.836441618963022


def test_draws_shared_across_a_requests_scenarios_change_no_number():
    # A request's scenarios (prefix subsets of one table) run in a worker's order (largest first, then
    # a shuffled order) through the shared draws give what each gives with its own fresh draws, with
    # breakdowns, extra blocks and a dump queue; a scenario with other samplers draws its own numbers.
    rng = np.random.default_rng(7)
    for s in range(6):
        full, params = random_scenario(rng, 100 + s)
        full = dataclasses.replace(full, breakdowns=Breakdowns(5.0, 1.0, 5.0, 1.0)) if s % 2 else full
        grid = [(t, e) for t in range(full.trucks, 0, -1) for e in range(full.excavators, 0, -1)]
        order = grid if s < 3 else [grid[i] for i in rng.permutation(len(grid))]
        model._DRAW_CACHE.clear()
        for t, e in order:
            scenario = full.subset(t, e, f"s{s}-{t}x{e}")
            shared = model.run_replications(scenario, params, s, range(3))
            fresh = [model.run_replication(scenario, params, r, s) for r in range(3)]
            assert shared == fresh, (s, t, e)
        assert model._DRAW_CACHE  # the cache was used
    other = dataclasses.replace(full, phase_noise=(PhaseNoise("exponential"),) * 4)
    assert model.run_replications(other, params, 5, range(2)) == [model.run_replication(other, params, r, 5)
                                                                  for r in range(2)]


def test_shared_draws_are_safe_from_several_threads(monkeypatch):
    # A Dask worker runs scenarios on several threads of one process: with a tiny cache every insert
    # evicts, so unguarded threads scanning and popping the cache at once raised "OrderedDict mutated
    # during iteration". Each thread must still get exactly its own draws.
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(11)
    full, params = random_scenario(rng, 200)
    full = full.subset(20, 4, "th") if full.trucks >= 20 else full
    values = full.trucks * model.prepare(full, params).cycles_per_block * model._PER_CYCLE
    monkeypatch.setattr(model, "DRAW_CACHE_VALUES", 40 * values)  # a long cache that keeps evicting
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter allows
    model._DRAW_CACHE.clear()
    jobs = [(t, e, r) for t in range(full.trucks, 0, -1) for e in range(full.excavators, 0, -1) for r in range(60)]

    def one(job):
        t, e, r = job
        scenario = full.subset(t, e, f"th-{t}x{e}")
        prep = model.prepare(scenario, params)
        shared = model.shared_draws(scenario, params, prep, r, 3)
        fresh = model.draw(scenario, params, prep, r, 3)
        return shared.trucks[:t] == fresh.trucks and shared.excavator_failures[:e] == fresh.excavator_failures

    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            assert all(pool.map(one, jobs))
    finally:
        sys.setswitchinterval(interval)

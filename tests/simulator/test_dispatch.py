"""Dispatch rules behind one interface; the projected wait; the fixed assignment."""
from __future__ import annotations

import math

import numpy as np
import pytest

from simulator.dispatch import (RULES, LoaderOption, home_points, projected_wait, rule)


def _options():
    return [LoaderOption(0, travel_min=10.0, trucks_ahead=3, loaders=1, expected_wait_min=6.0),
            LoaderOption(1, travel_min=14.0, trucks_ahead=2, loaders=2, expected_wait_min=0.0),
            LoaderOption(2, travel_min=4.0, trucks_ahead=1, loaders=1, expected_wait_min=5.0)]


def test_each_rule_picks_what_its_name_says():
    options = _options()
    assert rule("fixed").choose(7, 0, options) == 0
    assert rule("shortest_queue").choose(7, 0, options) == 1        # 1 truck per loader, wait 0
    assert rule("shortest_wait").choose(7, 0, options) == 1         # 0 min
    assert rule("shortest_travel_wait").choose(7, 0, options) == 2  # 9 min against 14 and 16
    assert list(RULES) == ["fixed", "shortest_queue", "shortest_wait", "shortest_travel_wait"]
    assert not RULES["fixed"].dynamic and all(RULES[n].dynamic for n in list(RULES)[1:])
    with pytest.raises(ValueError, match="known: fixed"):
        rule("nearest")


def test_ties_keep_the_truck_at_home_and_points_without_loaders_are_avoided():
    same = [LoaderOption(0, 5.0, 0, 1, 0.0), LoaderOption(1, 5.0, 0, 1, 0.0)]
    for name in RULES:
        assert rule(name).choose(0, 1, same) == 1
    down = [LoaderOption(0, 1.0, 0, 0, float("inf")), LoaderOption(1, 9.0, 4, 1, 20.0)]
    assert rule("shortest_travel_wait").choose(0, 0, down) == 1
    # Every point down: every wait is infinite, so the tie-breaks decide: the nearer point for the rules
    # that break ties by travel, home for travel + wait (infinite everywhere).
    all_down = [LoaderOption(0, 1.0, 0, 0, float("inf")), LoaderOption(1, 9.0, 0, 0, float("inf"))]
    assert {name: rule(name).choose(0, 1, all_down) for name in RULES} == {
        "fixed": 1, "shortest_queue": 0, "shortest_wait": 0, "shortest_travel_wait": 1}


def test_projected_wait_serves_loads_in_progress_queue_and_earlier_arrivals_fifo():
    # Two loaders, one busy until minute 3, one idle; 2 trucks queued; 4-min loads. Queued trucks start
    # at 0 and 3 (loaders then free at 4 and 7); a truck already sent arrives at 5 and starts at 5 (free at
    # 7 and 9): ours, arriving at 6, starts at 7 and waits 1 min.
    assert projected_wait(0.0, 6.0, [3.0, 0.0], 2, [5.0], 4.0) == pytest.approx(1.0)
    assert projected_wait(0.0, 20.0, [3.0, 0.0], 2, [5.0], 4.0) == 0.0
    assert projected_wait(0.0, 1.0, [], 0, [], 4.0) == float("inf")


def test_fixed_assignment_follows_the_loader_counts_and_is_prefix_stable():
    assert home_points(6, [2, 1]) == (0, 1, 0, 0, 1, 0)
    assert home_points(4, [1, 1]) == (0, 1, 0, 1)
    assert home_points(9, [1, 1, 1])[:3] == (0, 1, 2)
    assert home_points(5, [1, 1]) == home_points(7, [1, 1])[:5]


def test_the_expected_wait_counts_the_remaining_load_of_the_truck_in_service():
    # Two pits at the same distance from the dump, one loader each, 3-min mean loads. At minute 10,
    # pit 1's loader has a truck in service whose load ends 3 min after our truck would arrive; pit 2's
    # truck in service finishes at 10.5 and one more truck is queued there (loaded by 13.5, before we
    # arrive). Counted in trucks pit 1 is shorter (1 against 2); counted in minutes pit 2 is free on
    # arrival while pit 1 still has 3 min of its truck's loading to go.
    from simulator.model import ModelParams
    from simulator.network_model import _Mine, prepare
    from tests.simulator.network_factories import network_inputs, symmetric_two_pits

    params = ModelParams(shift_hours=8.0, dump_bays=None)
    inputs = network_inputs(symmetric_two_pits(), trucks=4, load_min=3.0, dispatch="shortest_wait")
    prep = prepare(inputs, params)
    travel = prep.point_back[0][0]
    assert travel[0] == travel[1] > 3.5  # the symmetric mine: same return to both pits
    now, arrive = 10.0, 10.0 + travel[0]
    mine = _Mine(inputs, params, prep, {})
    assert inputs.excavator_point == (0, 1)
    mine.record_load(0, 0, 9.0, arrive + 3.0)   # pit 1: in service, 3 min left after our arrival
    mine.record_load(1, 1, 7.5, 10.5)           # pit 2: in service, nearly loaded
    mine.record_load(1, 1, 10.5, 13.5)          # pit 2: one queued
    pit1, pit2 = mine.loader_options(0, 0, now)
    assert (pit1.trucks_ahead, pit2.trucks_ahead) == (1, 2)
    assert pit1.expected_wait_min == pytest.approx(3.0) and pit2.expected_wait_min == 0.0
    assert rule("shortest_queue").choose(0, 0, [pit1, pit2]) == 0
    assert rule("shortest_wait").choose(0, 0, [pit1, pit2]) == 1
    assert rule("shortest_travel_wait").choose(0, 0, [pit1, pit2]) == 1
    # Mid-load the answer moves with the loading progress, not with the count: with pit 1's truck
    # finishing on our arrival its wait drops to 0 and the tie goes home (pit 1).
    mine = _Mine(inputs, params, prep, {})
    mine.record_load(0, 0, 9.0, arrive)
    mine.record_load(1, 1, 7.5, 10.5)
    mine.record_load(1, 1, 10.5, 13.5)
    pit1, pit2 = mine.loader_options(0, 0, now)
    assert pit1.expected_wait_min == 0.0 and rule("shortest_wait").choose(0, 0, [pit1, pit2]) == 0


def _reference_wait(now, arrival, free_at, queued, arrivals_before, mean_load_min):
    """The projection written plainly: each truck in turn takes the loader that frees first."""
    free = [max(f, now) for f in free_at]
    if not free:
        return float("inf")
    for a in [now] * queued + list(arrivals_before):
        k = free.index(min(free))
        free[k] = max(free[k], a) + mean_load_min
    return max(min(free) - arrival, 0.0)


def test_projected_wait_equals_the_plain_projection_for_any_number_of_loaders():
    rng = np.random.default_rng(7)
    for _ in range(3000):
        now = float(rng.uniform(0, 100))
        free = [float(x) for x in now + rng.uniform(-10, 15, int(rng.integers(1, 5)))]
        if rng.random() < 0.2:
            free[0] = -math.inf  # a loader that never loaded
        before = sorted(float(x) for x in now + rng.uniform(0, 30, int(rng.integers(0, 8))))
        arrival = now + float(rng.uniform(0, 30))
        args = (now, arrival, free, int(rng.integers(0, 4)), [a for a in before if a <= arrival],
                float(rng.uniform(1, 6)))
        assert projected_wait(*args) == _reference_wait(*args), args


def test_a_loader_that_goes_down_mid_load_still_holds_its_truck_in_the_count():
    # Pit 1 has two loaders, pit 2 one. At minute 9.5 pit 1's second loader and pit 2's only one go
    # down, each with a truck in service until minute 12. At minute 10 the dispatcher counts those
    # trucks ahead (they still occupy the face), but not their loaders: pit 1 works with one, pit 2
    # with none (its wait is infinite).
    from simulator.model import ModelParams
    from simulator.network import Destination, Edge, HaulNetwork, LoadingPoint
    from simulator.network_model import _Mine, prepare
    from tests.simulator.network_factories import network_inputs

    edges = (Edge("A", "P1", "J", 1.0, 0.0, 30.0, "GOOD"), Edge("B", "P2", "J", 1.0, 0.0, 30.0, "GOOD"),
             Edge("C", "J", "D", 3.0, 5.0, 30.0, "GOOD"))
    net = HaulNetwork(edges, (LoadingPoint("P1", "P1", 2), LoadingPoint("P2", "P2", 1)), (Destination("D", "D", None),))
    params = ModelParams(shift_hours=8.0, dump_bays=None)
    inputs = network_inputs(net, trucks=4, load_min=3.0, dispatch="shortest_queue")
    pit1 = [j for j, p in enumerate(inputs.excavator_point) if p == 0]
    pit2 = [j for j, p in enumerate(inputs.excavator_point) if p == 1]
    assert len(pit1) == 2 and len(pit2) == 1
    mine = _Mine(inputs, params, prepare(inputs, params), {pit1[1]: [(9.5, 30.0)], pit2[0]: [(9.5, 30.0)]})
    mine.record_load(0, pit1[1], 9.0, 12.0)
    mine.record_load(1, pit2[0], 9.0, 12.0)
    one, two = mine.loader_options(0, 0, 10.0)
    assert (one.loaders, one.trucks_ahead, one.expected_wait_min) == (1, 1, 0.0)
    assert (two.loaders, two.trucks_ahead, two.expected_wait_min) == (0, 1, math.inf)

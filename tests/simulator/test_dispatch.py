"""Dispatch rules behind one interface; the projected wait; the fixed assignment."""
from __future__ import annotations

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

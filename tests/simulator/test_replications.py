"""Replication statistics: Student-t intervals, scenario summaries, paired differences under CRN."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from simulator.economics import FinancialParams, VesselTarget, economics
from simulator.replications import (
    METRICS,
    VESSEL_METRICS,
    estimate,
    paired_difference,
    replication_metrics,
    summarise,
)
from simulator.results import ReplicationResult

P = FinancialParams()
REQUIRED_KEYS = {
    "profit_idr", "revenue_idr", "cost_idr", "production_t", "fuel_l", "fuel_ratio_l_per_t",
    "queue_hours", "cycle_time_min", "excavator_utilisation", "truck_utilisation", "delays",
    "delay_hours", "incident_expected", "loads", "breakdowns", "vessel_late_probability",
}


def result(replication: int = 0, **overrides) -> ReplicationResult:
    base = dict(
        scenario_key="T10-E2", replication=replication, trucks=10, excavators=2, shift_hours=8.0,
        loads=60, production_t=1800.0, fuel_l=720.0, queue_hours=2.5, cycle_time_min=80.0,
        excavator_utilisation=0.6, truck_utilisation=0.9, delays=3, delay_hours=0.5,
        incident_expected=0.3, breakdowns=0, downtime_hours=0.0,
    )
    base.update(overrides)
    return ReplicationResult(**base)


def test_estimate_matches_scipy_student_t_interval():
    values = np.array([3.1, 2.4, 5.0, 4.2, 3.3, 2.9, 4.8])
    est = estimate(values)
    low, high = stats.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=stats.sem(values))
    assert est.mean == pytest.approx(values.mean())
    assert (est.ci_low, est.ci_high) == (pytest.approx(low), pytest.approx(high))
    assert est.std == pytest.approx(values.std(ddof=1)) and est.n == 7


def test_estimate_of_one_value_collapses_to_the_mean():
    assert estimate([42.0]) == estimate(np.array([42.0]))
    est = estimate([42.0])
    assert (est.mean, est.ci_low, est.ci_high, est.n, est.std) == (42.0, 42.0, 42.0, 1, 0.0)


def test_estimate_leaves_out_nan_and_handles_empty_and_infinite():
    est = estimate([1.0, math.nan, 3.0])
    assert est.n == 2 and est.mean == 2.0
    empty = estimate([])
    assert empty.n == 0 and math.isnan(empty.mean)
    inf = estimate([1.0, math.inf])
    assert inf.mean == math.inf and inf.ci_low == math.inf and math.isnan(inf.std)


def test_summarise_estimates_every_metric_from_replications():
    results = [result(i, production_t=1700.0 + 100 * i, fuel_l=700.0 + 20 * i) for i in range(3)]
    s = summarise(results, P, None)
    assert REQUIRED_KEYS <= set(s.metrics) and set(s.metrics) == set(METRICS)
    assert (s.scenario_key, s.trucks, s.excavators, s.replications) == ("T10-E2", 10, 2, 3)
    assert s.metrics["production_t"].mean == pytest.approx(1800.0)
    profits = [economics(r, P, None).profit_idr for r in results]
    assert s.metrics["profit_idr"].mean == pytest.approx(np.mean(profits))
    ratios = [(700 + 20 * i) / (1700 + 100 * i) for i in range(3)]
    assert s.metrics["fuel_ratio_l_per_t"].mean == pytest.approx(np.mean(ratios))  # mean of ratios
    revenue = s.metrics["revenue_idr"].mean
    assert s.metrics["cost_idr"].mean == pytest.approx(revenue - s.metrics["profit_idr"].mean)
    assert s.probability_vessel_late == 0.0 and s.metrics["vessel_late_probability"].mean == 0.0
    assert s.rank == 0 and s.guidelines == () and s.vessel is None


def test_fuel_ratio_skips_replications_without_production():
    s = summarise([result(0, production_t=0.0, fuel_l=5.0), result(1, production_t=100.0, fuel_l=40.0)], P, None)
    ratio = s.metrics["fuel_ratio_l_per_t"]
    assert ratio.n == 1 and ratio.mean == pytest.approx(0.4)


def test_vessel_late_probability_is_the_share_of_late_replications():
    # rate = production / 8 h; 2,000 t in 10 h needs >= 200 t/h = 1,600 t per shift
    productions = [1500.0, 1600.0, 1800.0, 1000.0]
    results = [result(i, production_t=t) for i, t in enumerate(productions)]
    s = summarise(results, P, VesselTarget(planned_t=2_000, hours_available=10))
    assert s.probability_vessel_late == pytest.approx(0.5)
    assert s.metrics["vessel_late_probability"].mean == pytest.approx(0.5)
    assert set(VESSEL_METRICS) <= set(s.metrics)
    expected_hours = [2_000 / (t / 8) for t in productions]
    assert s.metrics["vessel_hours_to_target"].mean == pytest.approx(np.mean(expected_hours))
    assert s.metrics["vessel_late_hours"].mean == pytest.approx(np.mean([max(0, h - 10) for h in expected_hours]))


def test_summarise_rejects_mixed_scenarios_duplicates_and_empty():
    with pytest.raises(ValueError, match="mix scenarios"):
        summarise([result(0), result(1, scenario_key="T5-E2", trucks=5)], P, None)
    with pytest.raises(ValueError, match="duplicate"):
        summarise([result(0), result(0)], P, None)
    with pytest.raises(ValueError):
        summarise([], P, None)


def _crn_pair(n: int = 30) -> tuple[list[ReplicationResult], list[ReplicationResult]]:
    """Two strategies sharing each replication's random conditions (common noise) plus small own noise."""
    rng = np.random.default_rng(7)
    common = rng.normal(0.0, 200.0, n)  # the replication's weather/road luck, shared by both strategies
    a = [result(i, production_t=1800 + common[i] + rng.normal(0, 10)) for i in range(n)]
    b = [result(i, scenario_key="T9-E2", trucks=9, production_t=1750 + common[i] + rng.normal(0, 10))
         for i in range(n)]
    return a, b


def test_paired_difference_under_crn_is_tighter_than_unpaired():
    a, b = _crn_pair()
    diff = paired_difference(a, b, "production_t", P, None)
    sa, sb = summarise(a, P, None).metrics["production_t"], summarise(b, P, None).metrics["production_t"]
    assert diff.mean == pytest.approx(sa.mean - sb.mean)
    paired_half = (diff.ci_high - diff.ci_low) / 2
    unpaired_half = math.hypot((sa.ci_high - sa.ci_low) / 2, (sb.ci_high - sb.ci_low) / 2)
    # common noise sd 200 cancels in the pairs; own noise sd 10 -> far narrower (factor ~10 expected)
    assert paired_half < unpaired_half / 5
    assert diff.ci_low > 0  # the 50 t advantage is detected only because of the pairing
    assert sa.ci_low < sb.ci_high  # ...while the separate intervals overlap


def test_paired_difference_pairs_by_index_not_by_order():
    a, b = _crn_pair(10)
    assert paired_difference(a[::-1], b, "profit_idr", P, None) == paired_difference(a, b, "profit_idr", P, None)


def test_paired_difference_requires_the_same_replications_and_a_known_metric():
    a, b = _crn_pair(5)
    with pytest.raises(ValueError, match="replication indices"):
        paired_difference(a, b[:4], "profit_idr", P, None)
    with pytest.raises(ValueError, match="unknown metric"):
        paired_difference(a, b, "profit", P, None)


def test_replication_metrics_one_value_per_replication():
    values = replication_metrics([result(0), result(1)], P, VesselTarget(1000, 100))
    assert all(len(v) == 2 for v in values.values())
    assert set(values) == set(METRICS) | set(VESSEL_METRICS)

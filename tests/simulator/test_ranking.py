"""Ranking: order, statistical ties, Pareto front, guideline codes and the vessel deadline's status."""
from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator import ranking
from simulator.ranking import guidelines, pareto_front, rank, vessel_analysis
from simulator.results import Estimate, ScenarioSummary, ScheduleClosure, VesselAnalysis


def est(mean: float, half: float = 0.0, std: float = 0.0, n: int = 30) -> Estimate:
    return Estimate(mean=mean, ci_low=mean - half, ci_high=mean + half, n=n, std=std)


def summary(key: str, profit: float, half: float = 1.0, std: float = 1.0, *, trucks: int = 10,
            excavators: int = 2, queue_hours: float = 0.0, fuel_ratio: float = 0.4, util: float = 0.7,
            delays: float = 0.0, loads: float = 60.0, p_late: float = 0.0, production: float = 1800.0,
            vessel: dict[str, float] | None = None) -> ScenarioSummary:
    metrics = {
        "profit_idr": est(profit, half, std), "production_t": est(production),
        "queue_hours": est(queue_hours), "fuel_ratio_l_per_t": est(fuel_ratio),
        "excavator_utilisation": est(util), "delays": est(delays), "loads": est(loads),
    }
    for name, value in (vessel or {}).items():
        metrics[name] = est(value)
    return ScenarioSummary(scenario_key=key, trucks=trucks, excavators=excavators, replications=30,
                           metrics=metrics, probability_vessel_late=p_late)


def by_key(ranked: list[ScenarioSummary]) -> dict[str, ScenarioSummary]:
    return {s.scenario_key: s for s in ranked}


# --- order and ties ---------------------------------------------------------------------------------
def test_separated_intervals_rank_by_mean_profit_without_ties():
    ranked = rank([summary("B", 80, half=5), summary("A", 100, half=5), summary("C", 60, half=5)])
    assert [s.scenario_key for s in ranked] == ["A", "B", "C"]
    assert [s.rank for s in ranked] == [1, 2, 3]
    assert all(s.tied_with == () for s in ranked)
    assert [(s.rank_reason, s.rank_reason_value) for s in ranked[:2]] == [("higher_mean_profit", 20.0)] * 2
    assert ranked[2].rank_reason == "" and ranked[2].rank_reason_value != ranked[2].rank_reason_value  # NaN


def test_overlapping_intervals_are_tied_and_ordered_by_lower_risk():
    risky = summary("RISKY", 100, half=20, std=30)
    steady = summary("STEADY", 95, half=20, std=10)
    far = summary("FAR", 10, half=5, std=1)
    ranked = rank([risky, steady, far])
    assert [s.scenario_key for s in ranked] == ["STEADY", "RISKY", "FAR"]
    assert by_key(ranked)["STEADY"].tied_with == ("RISKY",)
    assert by_key(ranked)["RISKY"].tied_with == ("STEADY",)
    assert by_key(ranked)["FAR"].tied_with == ()
    assert risky.rank == 0  # inputs are not modified
    # Rank 1 has the lower mean: it says why (tied, 20 IDR less profit std than rank 2).
    assert (ranked[0].rank_reason, ranked[0].rank_reason_value) == ("tie_lower_profit_risk", 20.0)
    assert (ranked[1].rank_reason, ranked[1].rank_reason_value) == ("higher_mean_profit", 90.0)


def test_ties_with_equal_std_go_to_lower_vessel_risk_then_fewer_units():
    ranked = rank([summary("LATE", 100, half=10, std=5, p_late=0.3),
                   summary("ONTIME", 99, half=10, std=5, p_late=0.0, trucks=14)])
    assert [s.scenario_key for s in ranked] == ["ONTIME", "LATE"]
    assert (ranked[0].rank_reason, ranked[0].rank_reason_value) == ("tie_lower_vessel_risk", pytest.approx(0.3))
    ranked = rank([summary("BIG", 100, half=10, std=5, trucks=12, excavators=3),
                   summary("SMALL", 98, half=10, std=5, trucks=8, excavators=2)])
    assert [s.scenario_key for s in ranked] == ["SMALL", "BIG"]
    assert ranked[0].tied_with == ("BIG",)
    assert (ranked[0].rank_reason, ranked[0].rank_reason_value) == ("tie_fewer_units", 5.0)


def test_tie_group_is_what_overlaps_its_leader():
    # B overlaps A; C overlaps B but not A, so C leads the next group.
    ranked = rank([summary("A", 100, half=6), summary("B", 92, half=6), summary("C", 84, half=3)])
    assert by_key(ranked)["A"].tied_with == ("B",)
    assert by_key(ranked)["C"].tied_with == ()
    assert by_key(ranked)["C"].rank == 3


def test_a_lower_mean_ahead_of_another_groups_leader_names_its_own_leader():
    # B (80, wide) overlaps A (100); C (85, narrow) overlaps neither's leader A, so it leads the second
    # group and ranks below B although its mean is higher: B is tied with A, 15 above C.
    ranked = rank([summary("A", 100, half=10, std=1), summary("B", 80, half=15, std=5), summary("C", 85, half=1)])
    assert [s.scenario_key for s in ranked] == ["A", "B", "C"]
    assert (ranked[0].rank_reason, ranked[0].rank_reason_value) == ("higher_mean_profit", 20.0)
    assert (ranked[1].rank_reason, ranked[1].rank_reason_value) == ("better_tie_group", 15.0)


def test_duplicate_keys_are_refused():
    with pytest.raises(ValueError, match="unique"):
        rank([summary("A", 1), summary("A", 2)])


@st.composite
def summary_sets(draw):
    n = draw(st.integers(1, 8))
    out = []
    for i in range(n):
        mean = draw(st.floats(-1e10, 1e10, allow_nan=False))
        half = draw(st.floats(0, 1e9, allow_nan=False))
        std = draw(st.floats(0, 1e9, allow_nan=False))
        out.append(summary(f"S{i}", mean, half=half, std=std, trucks=draw(st.integers(1, 15)),
                           excavators=draw(st.integers(1, 3)), p_late=draw(st.floats(0, 1))))
    return out


@settings(max_examples=200, deadline=None)
@given(summary_sets())
def test_rank_is_a_permutation_and_the_best_mean_is_first_unless_tied(summaries):
    ranked = rank(summaries)
    assert sorted(s.scenario_key for s in ranked) == sorted(s.scenario_key for s in summaries)
    assert [s.rank for s in ranked] == list(range(1, len(summaries) + 1))
    best = max(summaries, key=lambda s: s.metrics["profit_idr"].mean)
    top = ranked[0]
    assert (top.metrics["profit_idr"].mean == best.metrics["profit_idr"].mean
            or best.scenario_key in top.tied_with)
    for s in ranked:  # ties are symmetric
        for other in s.tied_with:
            assert s.scenario_key in by_key(ranked)[other].tied_with
    # every strategy but the last says why it is above the next; a reason other than the mean's only
    # where the next one has the higher mean
    for s, following in zip(ranked, ranked[1:]):
        assert s.rank_reason in ranking.RANK_REASONS
        higher = following.metrics["profit_idr"].mean > s.metrics["profit_idr"].mean
        assert (s.rank_reason != "higher_mean_profit") == higher
        if s.rank_reason.startswith("tie_"):
            assert following.scenario_key in s.tied_with
    assert ranked[-1].rank_reason == ""


# --- Pareto front -----------------------------------------------------------------------------------
def test_pareto_front_keeps_only_non_dominated_strategies():
    items = [
        summary("RICH", 100, queue_hours=5.0, fuel_ratio=0.45),
        summary("CALM", 80, queue_hours=0.5, fuel_ratio=0.45),
        summary("LEAN", 70, queue_hours=3.0, fuel_ratio=0.35),
        summary("WORSE", 75, queue_hours=4.0, fuel_ratio=0.50),   # dominated by CALM
        summary("TWIN", 100, queue_hours=5.0, fuel_ratio=0.45),   # equal to RICH: neither dominates
    ]
    assert pareto_front(items) == {"RICH", "CALM", "LEAN", "TWIN"}
    assert {s.scenario_key for s in rank(items) if s.pareto} == {"RICH", "CALM", "LEAN", "TWIN"}


# --- guidelines and the vessel deadline (codes and numbers; texts: tests/api/test_presenters.py) -----
def codes(s: ScenarioSummary) -> list[tuple[str, float]]:
    return [(g.code, pytest.approx(g.value)) for g in guidelines(s)]


def test_no_guideline_when_nothing_is_notable():
    assert guidelines(summary("OK", 1, queue_hours=1.0, util=0.7, delays=5, loads=60)) == ()


def test_waiting_bay_above_the_queue_threshold_per_truck():
    at = ranking.WAITING_BAY_QUEUE_HOURS_PER_TRUCK * 10
    assert guidelines(summary("AT", 1, trucks=10, queue_hours=at)) == ()
    assert codes(summary("Q", 1, trucks=10, queue_hours=6.0)) == [("waiting_bay", 0.6)]


def test_bottleneck_codes_from_excavator_utilisation():
    busy = ranking.EXCAVATOR_SATURATED_UTILISATION + 0.05
    assert codes(summary("BUSY", 1, util=busy)) == [("excavators_saturated", busy)]
    assert codes(summary("AT", 1, util=ranking.EXCAVATOR_SATURATED_UTILISATION))[0][0] == "excavators_saturated"
    assert codes(summary("IDLE", 1, util=0.4)) == [("trucks_limiting", 0.4)]
    assert codes(summary("EDGE", 1, util=ranking.EXCAVATOR_IDLE_UTILISATION))[0][0] == "trucks_limiting"


def test_frequent_delays_and_the_order_of_several_guidelines():
    s = summary("RAIN", 1, delays=15, loads=50, trucks=10, queue_hours=8.0, util=0.9)
    assert codes(s) == [("waiting_bay", 0.8), ("excavators_saturated", 0.9), ("frequent_delays", 0.3)]
    assert [c for c, _ in codes(s)] == [c for c in ranking.GUIDELINES if c != "trucks_limiting"]
    assert rank([s])[0].guidelines == guidelines(s)
    assert rank([s])[0].guideline == "waiting_bay excavators_saturated frequent_delays"  # flat tables
    assert guidelines(summary("NOLOADS", 1, delays=3, loads=0)) == ()


CLOSED = ScheduleClosure("over", "s1", "BG X", "COMPLETED", "2025-11-12 07:00", "2025-11-10 08:00")


def test_vessel_of_a_closed_schedule_is_not_charged():
    closed = replace(summary("DONE", 1, vessel={"vessel_hours_to_target": 180.0, "vessel_late_hours": 0.0}),
                     vessel_closed=CLOSED)
    assert vessel_analysis(closed) == VesselAnalysis(
        status="not_charged", probability_late=0.0, hours_to_target=180.0, late_hours=0.0, fines_idr=0.0,
        closure=CLOSED)


def test_vessel_without_on_schedule_and_at_risk():
    assert vessel_analysis(summary("X", 1)) is None and rank([summary("X", 1)])[0].vessel_analysis == ""
    safe = summary("SAFE", 1, vessel={"vessel_hours_to_target": 180.0, "vessel_late_hours": 0.0})
    assert vessel_analysis(safe).status == "on_schedule"
    risky = summary("RISK", 1, p_late=0.25, vessel={
        "vessel_hours_to_target": 205.0, "vessel_late_hours": 4.2,
        "demurrage_idr": 210_000_000.0, "vessel_penalty_idr": 25_000_000.0})
    assert vessel_analysis(risky) == VesselAnalysis(status="delay_risk", probability_late=0.25,
                                                    hours_to_target=205.0, late_hours=4.2, fines_idr=235_000_000.0)
    assert rank([risky])[0].vessel == vessel_analysis(risky) and rank([risky])[0].vessel_analysis == "delay_risk"

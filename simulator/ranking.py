"""Ranking of strategies by expected profit under risk, the Pareto front, guidelines and the vessel deadline.

Order: strategies are sorted by mean profit; the best remaining one leads a tie group holding every
remaining strategy whose 95% profit interval overlaps the leader's (a conservative test: intervals
that overlap may still differ under the paired comparison of ``replications.paired_difference``).
Inside a group the order is lower risk (lower profit std, then lower probability of missing the
vessel), then fewer units (trucks + excavators). Groups follow each other by their leader's mean.

Each ranked strategy carries why it ranks above the next one (``rank_reason``, one of
:data:`RANK_REASONS`, and ``rank_reason_value``, the number that decided it), so a reader sees why a
strategy with the lower mean profit can rank first: its interval overlaps the next one's and it is the
less risky (or smaller) of the two. Display texts are the presenters' (API, command-line tables).

Guidelines (the prototype's ``SOP_KESELAMATAN``) and the vessel deadline (``ANALISIS_KAPAL``) are codes
with the numbers they quote, computed from the summary against the named thresholds below; their
Indonesian texts are written by the API's presenter (``api.presenters``), so this package holds numbers
and codes only.
"""
from __future__ import annotations

import dataclasses
import math

from simulator.results import Estimate, Guideline, ScenarioSummary, VesselAnalysis

# --- guideline thresholds (assumptions a mine overrides; shares are 0..1) -----------------------------
#: Queue per truck per shift above which a waiting bay is advised, h/truck. About half a haul cycle
#: (the prototype's cycle was ~75 min) lost per truck per shift.
WAITING_BAY_QUEUE_HOURS_PER_TRUCK = 0.5
#: Excavator utilisation at or above which the excavators are the bottleneck. Queueing theory: waiting
#: grows like u / (1 - u), so above ~85% busy queues lengthen steeply.
EXCAVATOR_SATURATED_UTILISATION = 0.85
#: Excavator utilisation at or below which the trucks are the bottleneck (half the loading capacity idle).
EXCAVATOR_IDLE_UTILISATION = 0.5
#: Delayed cycles per completed load at or above which the safety (slow-down) message is shown.
HIGH_DELAY_RATE = 0.2

#: Guideline codes in display order, and what ``Guideline.value`` holds for each.
GUIDELINES: dict[str, str] = {
    "waiting_bay": f"queue per truck above {WAITING_BAY_QUEUE_HOURS_PER_TRUCK} h: open a waiting bay "
                   "(value: queue hours per truck)",
    "excavators_saturated": f"excavator utilisation at or above {EXCAVATOR_SATURATED_UTILISATION}: the "
                            "excavators are the bottleneck (value: utilisation, 0..1)",
    "trucks_limiting": f"excavator utilisation at or below {EXCAVATOR_IDLE_UTILISATION}: the trucks are the "
                       "bottleneck (value: utilisation, 0..1)",
    "frequent_delays": f"delayed cycles per load at or above {HIGH_DELAY_RATE}: slow down, keep distance "
                       "(value: delayed share of cycles, 0..1)",
}
#: Vessel deadline statuses (``VesselAnalysis.status``).
VESSEL_STATUSES: dict[str, str] = {
    "on_schedule": "no replication misses the loading deadline",
    "delay_risk": "some replications miss it (figures: probability, expected hours late, fines)",
    "not_charged": "the schedule is closed (over, or its deadline precedes the shift): nothing is charged",
}


# --- ranking ----------------------------------------------------------------------------------------
#: Why a strategy ranks above the next one, and the unit of ``rank_reason_value``. Only the first agrees
#: with the order of mean profit; the others say why the next one, with the higher mean, ranks lower.
RANK_REASONS: dict[str, str] = {
    "higher_mean_profit": "higher mean profit (value: mean profit above the next, IDR)",
    "tie_lower_profit_risk": "tied within the 95% CI, lower profit std (value: std below the next, IDR)",
    "tie_lower_vessel_risk": "tied within the 95% CI, lower chance of missing the vessel (value: share below the next)",
    "tie_fewer_units": "tied within the 95% CI, fewer trucks + excavators (value: units fewer than the next)",
    "better_tie_group": "tied within the 95% CI with a strategy of higher mean profit than the next "
                        "(value: that leader's mean above the next's, IDR)",
    "tie_order": "tied within the 95% CI and alike on every criterion (value: 0)",
}

def _mean(s: ScenarioSummary, metric: str, missing: float) -> float:
    est = s.metrics.get(metric)
    if est is None or math.isnan(est.mean):
        return missing
    return est.mean


def _profit(s: ScenarioSummary) -> Estimate:
    est = s.metrics.get("profit_idr")
    if est is None:
        raise ValueError(f"summary {s.scenario_key!r} has no 'profit_idr' estimate")
    return est


def _overlaps(a: Estimate, b: Estimate) -> bool:
    if any(math.isnan(v) for v in (a.ci_low, a.ci_high, b.ci_low, b.ci_high)):
        return False
    return a.ci_low <= b.ci_high and b.ci_low <= a.ci_high


def _risk_key(s: ScenarioSummary) -> tuple[float, float, int, float, str]:
    std = _profit(s).std
    return (
        math.inf if math.isnan(std) else std,
        s.probability_vessel_late,
        s.trucks + s.excavators,
        -_mean(s, "profit_idr", -math.inf),
        s.scenario_key,
    )


def tie_groups(summaries: list[ScenarioSummary]) -> list[list[ScenarioSummary]]:
    """Strategies grouped by overlapping 95% profit intervals with the group's leader, best group first."""
    remaining = sorted(summaries, key=lambda s: (-_mean(s, "profit_idr", -math.inf), s.scenario_key))
    groups: list[list[ScenarioSummary]] = []
    while remaining:
        leader = _profit(remaining[0])
        group = [s for s in remaining if _overlaps(_profit(s), leader)] or [remaining[0]]
        members = {id(s) for s in group}
        remaining = [s for s in remaining if id(s) not in members]
        groups.append(sorted(group, key=_risk_key))
    return groups


def pareto_front(summaries: list[ScenarioSummary]) -> set[str]:
    """Keys of strategies not dominated on (higher mean profit, lower queue_hours, lower fuel ratio)."""
    points = {
        s.scenario_key: (
            _mean(s, "profit_idr", -math.inf),
            -_mean(s, "queue_hours", math.inf),
            -_mean(s, "fuel_ratio_l_per_t", math.inf),
        )
        for s in summaries
    }

    def dominates(p: tuple[float, ...], q: tuple[float, ...]) -> bool:
        return all(a >= b for a, b in zip(p, q)) and any(a > b for a, b in zip(p, q))

    return {k for k, q in points.items() if not any(dominates(p, q) for j, p in points.items() if j != k)}


def rank(summaries: list[ScenarioSummary]) -> list[ScenarioSummary]:
    """New summaries, best first, with rank, tied_with, pareto, guidelines and vessel filled in."""
    keys = [s.scenario_key for s in summaries]
    if len(set(keys)) != len(keys):
        raise ValueError(f"scenario keys must be unique, got {keys}")
    front = pareto_front(summaries)
    ranked: list[ScenarioSummary] = []
    leaders: list[ScenarioSummary] = []  # per ranked strategy, its tie group's leader (highest mean)
    for group in tie_groups(summaries):
        leader = max(group, key=lambda o: _mean(o, "profit_idr", -math.inf))
        for s in group:
            leaders.append(leader)
            ranked.append(dataclasses.replace(
                s,
                rank=len(ranked) + 1,
                tied_with=tuple(o.scenario_key for o in group if o is not s),
                pareto=s.scenario_key in front,
                guidelines=guidelines(s),
                vessel=vessel_analysis(s),
            ))
    for k in range(len(ranked) - 1):
        code, value = rank_reason(ranked[k], ranked[k + 1], leaders[k])
        ranked[k] = dataclasses.replace(ranked[k], rank_reason=code, rank_reason_value=value)
    return ranked


def rank_reason(s: ScenarioSummary, following: ScenarioSummary, leader: ScenarioSummary) -> tuple[str, float]:
    """Why ``s`` ranks just above ``following`` (``leader``: the head of ``s``'s tie group): a code of
    :data:`RANK_REASONS` and the number that decided it."""
    mean, other = _mean(s, "profit_idr", -math.inf), _mean(following, "profit_idr", -math.inf)
    if mean >= other:
        return "higher_mean_profit", mean - other if math.isfinite(mean - other) else math.nan
    if following.scenario_key not in s.tied_with:  # different groups: s's group leader outranks the next
        return "better_tie_group", _mean(leader, "profit_idr", math.nan) - other
    mine, theirs = _risk_key(s), _risk_key(following)
    if mine[0] != theirs[0]:
        return "tie_lower_profit_risk", theirs[0] - mine[0]
    if mine[1] != theirs[1]:
        return "tie_lower_vessel_risk", theirs[1] - mine[1]
    if mine[2] != theirs[2]:
        return "tie_fewer_units", float(theirs[2] - mine[2])
    return "tie_order", 0.0


# --- guidelines and the vessel deadline: codes and numbers (texts are the presenter's) -----------------
def guidelines(s: ScenarioSummary) -> tuple[Guideline, ...]:
    """The operating guidelines (SOP_KESELAMATAN) the numbers call for, in :data:`GUIDELINES` order."""
    items: list[Guideline] = []
    queue = _mean(s, "queue_hours", math.nan)
    if s.trucks > 0 and not math.isnan(queue):
        per_truck = queue / s.trucks
        if per_truck > WAITING_BAY_QUEUE_HOURS_PER_TRUCK:
            items.append(Guideline("waiting_bay", per_truck))
    util = _mean(s, "excavator_utilisation", math.nan)
    if not math.isnan(util):
        if util >= EXCAVATOR_SATURATED_UTILISATION:
            items.append(Guideline("excavators_saturated", util))
        elif util <= EXCAVATOR_IDLE_UTILISATION:
            items.append(Guideline("trucks_limiting", util))
    delays, loads = _mean(s, "delays", math.nan), _mean(s, "loads", math.nan)
    if loads > 0 and not math.isnan(delays):
        rate = delays / loads
        if rate >= HIGH_DELAY_RATE:
            items.append(Guideline("frequent_delays", rate))
    return tuple(items)


def vessel_analysis(s: ScenarioSummary) -> VesselAnalysis | None:
    """The vessel deadline (ANALISIS_KAPAL) as a :data:`VESSEL_STATUSES` code and its figures; None without one."""
    hours = s.metrics.get("vessel_hours_to_target")
    if hours is None:
        return None
    if s.vessel_closed:
        status = "not_charged"
    elif s.probability_vessel_late <= 0:
        status = "on_schedule"
    else:
        status = "delay_risk"
    return VesselAnalysis(
        status=status, probability_late=s.probability_vessel_late, hours_to_target=hours.mean,
        late_hours=_mean(s, "vessel_late_hours", 0.0),
        fines_idr=_mean(s, "demurrage_idr", 0.0) + _mean(s, "vessel_penalty_idr", 0.0),
        closure=s.vessel_closed)

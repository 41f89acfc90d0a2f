"""Statistics over replications: per-replication metrics, means with 95% confidence intervals, paired differences.

The one place means and confidence intervals are computed (STYLE.md section 2). Intervals use
Student's t with n - 1 degrees of freedom on the replication values, which are independent across
replications of one scenario. Every scenario reuses the same replication seeds (common random
numbers), so :func:`paired_difference` compares two strategies replication by replication.
"""
from __future__ import annotations

import math
from functools import lru_cache
from collections.abc import Iterable, Sequence

import numpy as np
from scipy import stats

from simulator.economics import FinancialParams, VesselTarget, economics, vessel_outcome
from simulator.kpis import KPI_METRICS, QUEUE_SPLIT_METRICS, kpi_columns
from simulator.results import Estimate, ReplicationResult, ScenarioSummary

#: Confidence level of every interval (two-sided).
CONFIDENCE = 0.95

#: Metrics of every summary, in report order (units in the names; utilisations are shares 0..1).
METRICS: tuple[str, ...] = (
    "profit_idr", "revenue_idr", "cost_idr", "production_t", "fuel_l", "fuel_ratio_l_per_t",
    "queue_hours", "cycle_time_min", "excavator_utilisation", "truck_utilisation", "delays",
    "delay_hours", "incident_expected", "loads", "breakdowns",
    # profit decomposition (Economics terms), IDR
    "fuel_cost_idr", "truck_cost_idr", "excavator_cost_idr", "queue_penalty_idr", "incident_risk_idr",
    "demurrage_idr", "vessel_penalty_idr",
    # 0/1 indicator of a missed sailing deadline (all 0 without a vessel)
    "vessel_late_probability",
) + KPI_METRICS  # match factor, cost per tonne, tonnes per operating hour (``simulator.kpis``)
#: Extra metrics present only when a vessel is given: hours to load it at the shift's rate, hours late.
VESSEL_METRICS: tuple[str, ...] = ("vessel_hours_to_target", "vessel_late_hours")
#: Extra metrics present when the model splits them (the haul-network model): queues at loaders and at
#: dumps, bunching; per destination ``production_t@<id>`` and with a target ``target_attainment@<id>``.
NETWORK_METRICS: tuple[str, ...] = QUEUE_SPLIT_METRICS


@lru_cache(maxsize=1024)
def t_critical(dof: int) -> float:
    """Two-sided Student-t critical value at ``CONFIDENCE`` (cached: one request asks ~760 times)."""
    return float(stats.t.ppf(0.5 + CONFIDENCE / 2, dof))


def estimate(values: Iterable[float]) -> Estimate:
    """Mean and 95% Student-t confidence interval of replication values (same unit as the values).

    NaN values (e.g. a fuel ratio of a replication without production) are left out and ``n`` counts
    the rest; with n = 1 the interval collapses to the mean and std is 0; with n = 0 everything is NaN.
    If a value is infinite the mean is that infinity, the interval collapses to it and std is NaN.
    """
    x = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=float).ravel()
    x = x[~np.isnan(x)]
    n = int(x.size)
    if n == 0:
        return Estimate(mean=math.nan, ci_low=math.nan, ci_high=math.nan, n=0, std=math.nan)
    mean = float(np.mean(x))
    if not np.all(np.isfinite(x)):
        return Estimate(mean=mean, ci_low=mean, ci_high=mean, n=n, std=math.nan)
    if n == 1:
        return Estimate(mean=mean, ci_low=mean, ci_high=mean, n=1, std=0.0)
    std = float(np.std(x, ddof=1))
    half = t_critical(n - 1) * std / math.sqrt(n)
    return Estimate(mean=mean, ci_low=mean - half, ci_high=mean + half, n=n, std=std)


def replication_metrics(
    results: Sequence[ReplicationResult], params: FinancialParams, vessel: VesselTarget | None
) -> dict[str, np.ndarray]:
    """Every metric of :data:`METRICS` (and :data:`VESSEL_METRICS` with a vessel), one value per replication."""
    econ = [economics(r, params, vessel) for r in results]

    def col(values: Iterable[float]) -> np.ndarray:
        return np.fromiter(values, dtype=float, count=len(results))

    production = col(r.production_t for r in results)
    fuel = col(r.fuel_l for r in results)
    with np.errstate(divide="ignore", invalid="ignore"):
        fuel_ratio = np.where(production > 0, fuel / np.where(production > 0, production, 1.0), np.nan)
    profit = col(e.profit_idr for e in econ)
    revenue = col(e.revenue_idr for e in econ)
    out: dict[str, np.ndarray] = {
        "profit_idr": profit,
        "revenue_idr": revenue,
        "cost_idr": revenue - profit,
        "production_t": production,
        "fuel_l": fuel,
        "fuel_ratio_l_per_t": fuel_ratio,
        "queue_hours": col(r.queue_hours for r in results),
        "cycle_time_min": col(r.cycle_time_min for r in results),
        "excavator_utilisation": col(r.excavator_utilisation for r in results),
        "truck_utilisation": col(r.truck_utilisation for r in results),
        "delays": col(r.delays for r in results),
        "delay_hours": col(r.delay_hours for r in results),
        "incident_expected": col(r.incident_expected for r in results),
        "loads": col(r.loads for r in results),
        "breakdowns": col(r.breakdowns for r in results),
        "fuel_cost_idr": col(e.fuel_cost_idr for e in econ),
        "truck_cost_idr": col(e.truck_cost_idr for e in econ),
        "excavator_cost_idr": col(e.excavator_cost_idr for e in econ),
        "queue_penalty_idr": col(e.queue_penalty_idr for e in econ),
        "incident_risk_idr": col(e.incident_risk_idr for e in econ),
        "demurrage_idr": col(e.demurrage_idr for e in econ),
        "vessel_penalty_idr": col(e.vessel_penalty_idr for e in econ),
        "vessel_late_probability": col(1.0 if e.vessel_late else 0.0 for e in econ),
    }
    if vessel is not None:
        outcomes = [vessel_outcome(r, vessel) for r in results]
        out["vessel_hours_to_target"] = col(o.hours_to_load for o in outcomes)
        out["vessel_late_hours"] = col(o.late_hours for o in outcomes)
    out.update(kpi_columns(results, out["cost_idr"]))
    return out


def _check_one_scenario(results: Sequence[ReplicationResult]) -> None:
    if not results:
        raise ValueError("no replication results to summarise")
    first = results[0]
    for r in results[1:]:
        if (r.scenario_key, r.trucks, r.excavators) != (first.scenario_key, first.trucks, first.excavators):
            raise ValueError(
                f"results mix scenarios: {first.scenario_key!r} ({first.trucks}T/{first.excavators}E) and "
                f"{r.scenario_key!r} ({r.trucks}T/{r.excavators}E)"
            )
    indices = [r.replication for r in results]
    if len(set(indices)) != len(indices):
        raise ValueError(f"scenario {first.scenario_key!r} has duplicate replication indices")


def summarise(
    results: list[ReplicationResult], params: FinancialParams, vessel: VesselTarget | None
) -> ScenarioSummary:
    """One scenario's estimates over its replications (rank, ties, Pareto and texts are set by ranking)."""
    _check_one_scenario(results)
    per_rep = replication_metrics(results, params, vessel)
    first = results[0]
    return ScenarioSummary(
        scenario_key=first.scenario_key,
        trucks=first.trucks,
        excavators=first.excavators,
        replications=len(results),
        metrics={name: estimate(values) for name, values in per_rep.items()},
        probability_vessel_late=float(np.mean(per_rep["vessel_late_probability"])),
        dispatch=first.dispatch,
        vessel_closed=vessel.closure if vessel is not None else None,
    )


def paired_difference(
    a: list[ReplicationResult],
    b: list[ReplicationResult],
    metric: str,
    params: FinancialParams,
    vessel: VesselTarget | None,
) -> Estimate:
    """Estimate of ``metric(a) - metric(b)`` paired by replication index (common random numbers).

    Raises ValueError when the two strategies do not have the same replication indices or the metric
    is unknown. Pairs where either side is NaN are left out.
    """
    _check_one_scenario(a)
    _check_one_scenario(b)
    ia, ib = sorted(r.replication for r in a), sorted(r.replication for r in b)
    if ia != ib:
        raise ValueError(
            f"paired comparison needs the same replication indices: {a[0].scenario_key!r} has {ia}, "
            f"{b[0].scenario_key!r} has {ib}"
        )
    a_sorted = sorted(a, key=lambda r: r.replication)
    b_sorted = sorted(b, key=lambda r: r.replication)
    ma = replication_metrics(a_sorted, params, vessel)
    mb = replication_metrics(b_sorted, params, vessel)
    if metric not in ma:
        raise ValueError(f"unknown metric {metric!r}; known metrics: {', '.join(ma)}")
    with np.errstate(invalid="ignore"):
        return estimate(ma[metric] - mb[metric])

"""Turn a simulator ``RunResult`` into the HTTP response the prototype's clients read.

Each item of ``top_3_strategies`` keeps the prototype's display block as its FIRST key
(``OPSI_n``: the dashboard renders ``list(item)[0]`` and sends the whole list back as chat
context) and adds ``strategy``: the same strategy in machine-readable numbers, units in the field
names, each metric with its 95% confidence interval.
"""
from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from simulator.engine import RunResult
from simulator.ranking import display_block, format_idr
from simulator.results import Estimate, ScenarioSummary

#: Strategies returned in ``top_3_strategies``.
TOP_N = 3
#: Metrics reported per strategy (the summary's keys; units are in the names).
REPORTED_METRICS: tuple[str, ...] = (
    "profit_idr", "revenue_idr", "cost_idr", "production_t", "fuel_l", "fuel_ratio_l_per_t",
    "queue_hours", "cycle_time_min", "excavator_utilisation", "truck_utilisation", "loads", "delays",
    "delay_hours", "incident_expected", "breakdowns", "vessel_late_probability",
    "vessel_hours_to_target", "vessel_late_hours",
    # planners' fleet KPIs (``simulator.kpis``); the queue split and bunching when the model gives them
    "match_factor", "cost_per_t_idr", "t_per_truck_operating_hour", "t_per_loader_operating_hour",
    "loader_queue_hours", "dump_queue_hours", "bunching_hours",
)
#: Per-destination metrics of a haul network (``production_t@ROM-01``), reported too.
DESTINATION_METRIC_PREFIXES: tuple[str, ...] = ("production_t@", "target_attainment@")


def _number(x: float) -> float | None:
    """JSON-safe float: NaN and infinities become null."""
    return None if x is None or not math.isfinite(float(x)) else float(x)


def estimate_json(e: Estimate) -> dict[str, Any]:
    return {"mean": _number(e.mean), "ci_low": _number(e.ci_low), "ci_high": _number(e.ci_high), "n": e.n}


def _destination_keys(s: ScenarioSummary) -> list[str]:
    return [k for k in s.metrics if k.startswith(DESTINATION_METRIC_PREFIXES)]


def strategy_numbers(s: ScenarioSummary) -> dict[str, Any]:
    """Machine-readable numbers of one strategy."""
    return {
        "rank": s.rank, "scenario_key": s.scenario_key, "trucks": s.trucks, "excavators": s.excavators,
        "replications": s.replications, "tied_with": list(s.tied_with), "pareto": s.pareto,
        "probability_vessel_late": _number(s.probability_vessel_late),
        "dispatch": s.dispatch,
        "metrics": {k: estimate_json(s.metrics[k]) for k in (*REPORTED_METRICS, *_destination_keys(s))
                    if k in s.metrics},
        "guideline": s.guideline, "vessel_analysis": s.vessel_analysis,
        "rank_reason": rank_reason_json(s),
    }


#: Why a strategy ranks above the next one (``simulator.ranking.RANK_REASONS``), as a sentence; ``{next}``
#: is the next rank, ``{value}`` the deciding number formatted for its unit.
RANK_REASON_TEXT: dict[str, str] = {
    "higher_mean_profit": "higher mean profit than rank {next} (by {value})",
    "tie_lower_profit_risk": "tied within the 95% CI with rank {next}, which has the higher mean profit; "
                             "ranked first for its lower profit risk (std {value} lower)",
    "tie_lower_vessel_risk": "tied within the 95% CI with rank {next}, which has the higher mean profit; "
                             "ranked first for its lower chance of missing the vessel ({value} lower)",
    "tie_fewer_units": "tied within the 95% CI with rank {next}, which has the higher mean profit; "
                       "ranked first for using {value} fewer units",
    "better_tie_group": "tied within the 95% CI with a strategy whose mean profit is {value} above rank {next}'s",
    "tie_order": "tied within the 95% CI with rank {next} and alike on every criterion",
}


def rank_reason_json(s: ScenarioSummary) -> dict[str, Any] | None:
    """``{code, value, text}``: why ``s`` ranks above the next strategy (None for the last one)."""
    if not s.rank_reason:
        return None
    v = s.rank_reason_value
    value = (f"{v:.0%}" if s.rank_reason == "tie_lower_vessel_risk" else f"{v:.0f}" if s.rank_reason == "tie_fewer_units"
             else format_idr(v))
    text = RANK_REASON_TEXT.get(s.rank_reason, s.rank_reason).format(next=s.rank + 1, value=value)
    return {"code": s.rank_reason, "value": _number(v), "text": text}


def loading_unit_label(result: RunResult) -> str:
    """The prototype's ALAT_MUAT_TARGET, e.g. 'PIT-01 (Unit: Kobelco SK500-10-001)'."""
    exc = result.selection.excavators[0]
    return f"{exc.location} (Unit: {exc.name})" if exc.location else exc.name


def road_label(result: RunResult) -> str:
    """The prototype's JALUR_ANGKUT, e.g. 'Road Segment 1 (4.7 km)'."""
    road = result.selection.road
    return f"{road.name} ({road.size:.1f} km)"


def top3_response(result: RunResult, request_warnings: tuple[str, ...] = ()) -> dict[str, Any]:
    """The body of ``POST /get_top_3_strategies`` (``request_warnings``: the request's ignored fields)."""
    loading_unit, road = loading_unit_label(result), road_label(result)
    items = []
    for i, s in enumerate(result.ranked[:TOP_N], start=1):
        hours = s.metrics.get("vessel_hours_to_target")
        block = display_block(s, loading_unit=loading_unit, road=road,
                              vessel_hours_to_target=hours.mean if hours is not None else None)
        items.append({f"OPSI_{i}": block, "strategy": strategy_numbers(s)})
    sim = result.spec.simulation
    return {
        "run_id": result.run_id,
        "top_3_strategies": items,
        "model_version": result.model_version,
        "grid": {"scenarios": result.scenarios, "replications": result.replications,
                 "simulations": result.simulations, "duration_hours": sim.duration_hours, "seed": sim.seed,
                 "deterministic": sim.deterministic,
                 "dump_bays": None if result.params is None else result.params.dump_bays,
                 "dispatch_interval_min": None if result.params is None else result.params.dispatch_interval_min},
        # Ignored unknown fields of the request, then conditions the champion saw on too few training
        # shifts (the numbers are extrapolation).
        "warnings": [*request_warnings, *result.warnings],
        "conditions": {"weather": result.spec.conditions.weather,
                       "road_condition": result.spec.conditions.road_condition,
                       "shift": result.spec.conditions.shift, "road": road, "loading_unit": loading_unit,
                       "start": result.selection.start.isoformat()},
        "pareto_front": [s.scenario_key for s in result.ranked if s.pareto],
        "all_strategies": [{"rank": s.rank, "scenario_key": s.scenario_key, "trucks": s.trucks,
                            "excavators": s.excavators, "tied_with": list(s.tied_with), "pareto": s.pareto,
                            "rank_reason": s.rank_reason or None,
                            "profit_idr": estimate_json(s.metrics["profit_idr"]),
                            "production_t": estimate_json(s.metrics["production_t"]),
                            "queue_hours": estimate_json(s.metrics["queue_hours"])}
                           for s in result.ranked],
        "timings_s": {"predict": result.timings.predict_s, "simulate": result.timings.simulate_s,
                      "summarise": result.timings.summarise_s, "total": result.timings.total_s},
    }


# --- response models (documentation of the body above; ``openapi.json`` shows them) -------------------

class EstimateBody(BaseModel):
    """A mean over replications with its 95% confidence interval (null when undefined)."""

    mean: float | None
    ci_low: float | None
    ci_high: float | None
    n: int


class StrategyNumbers(BaseModel):
    """One strategy in numbers (units in the metric names)."""

    model_config = ConfigDict(extra="allow")

    rank: int
    scenario_key: str = Field(examples=["T10-E2"])
    trucks: int
    excavators: int
    replications: int
    tied_with: list[str] = Field(description="Strategies whose 95% profit interval overlaps this one's.")
    pareto: bool
    probability_vessel_late: float | None
    dispatch: str = Field("fixed", description="Dispatch rule of the strategy.")
    metrics: dict[str, EstimateBody] = Field(description="Every metric's mean and 95% CI; units in the names "
                                                         "(per destination of a network: `production_t@ROM-01`).")
    guideline: str
    vessel_analysis: str


class StrategyItem(BaseModel):
    """``{"OPSI_n": <the prototype's display block>, "strategy": <numbers>}``; the display block is the
    FIRST key (the prototype's dashboard renders ``list(item)[0]``)."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"additionalProperties": {"type": "object"}})

    strategy: StrategyNumbers


class GridBody(BaseModel):
    scenarios: int
    replications: int
    simulations: int
    duration_hours: float
    seed: int
    deterministic: bool
    dump_bays: int | None
    dispatch_interval_min: float | None


class ConditionsBody(BaseModel):
    weather: str
    road_condition: str
    shift: str
    road: str
    loading_unit: str
    start: str = Field(description="UTC start of the simulated shift, ISO-8601.")


class RankedStrategy(BaseModel):
    rank: int
    scenario_key: str
    trucks: int
    excavators: int
    tied_with: list[str]
    pareto: bool
    profit_idr: EstimateBody
    production_t: EstimateBody
    queue_hours: EstimateBody


class StrategiesResponse(BaseModel):
    """``POST /get_top_3_strategies``: the best three strategies (display block + numbers) and every
    strategy ranked."""

    run_id: str
    top_3_strategies: list[StrategyItem]
    model_version: str
    grid: GridBody
    warnings: list[str] = Field(description="Ignored unknown request fields; conditions the model rarely saw.")
    conditions: ConditionsBody
    pareto_front: list[str]
    all_strategies: list[RankedStrategy]
    timings_s: dict[str, float]

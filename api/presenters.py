"""Turn a simulator ``RunResult`` into the HTTP response the prototype's clients read.

This module writes every display string of the prototype's response, once: the ``OPSI_n`` blocks
(``display_block``), the ``KPI_PREDIKSI`` formats (IDR, tonnes, fuel ratio, hours, units; the one IDR
formatter of the repo, which also writes the chat's Indonesian and English amounts) and the Indonesian
guideline (``SOP_KESELAMATAN``) and vessel (``ANALISIS_KAPAL``) texts, from the codes and numbers the
simulator returns (``simulator.ranking.guidelines``, ``simulator.ranking.vessel_analysis``).

Each item of ``top_3_strategies`` keeps the prototype's display block as its FIRST key
(``OPSI_n``: the dashboard renders ``list(item)[0]`` and sends the whole list back as chat
context) and adds ``strategy``: the same strategy in machine-readable numbers, units in the field
names, each metric with its 95% confidence interval.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from simulator import ranking
from simulator.engine import RunResult
from simulator.results import Estimate, Guideline, ScenarioSummary, ScheduleClosure, VesselAnalysis

# --- the prototype's display strings (byte-for-byte its formats; tests/api/test_golden.py) ------------
#: Display value for a quantity that cannot be computed (the prototype's text for a missing duration).
NOT_AVAILABLE = "N/A"
#: Language of a text: "id" (Indonesian) or "en" (English).
Language = str
#: Digits kept when an amount is written in juta/miliar in prose (the chat's display precision).
MONEY_SIGNIFICANT_DIGITS = 3
#: Scale words of IDR amounts, largest first: the prototype's display strings (language None) and prose.
_IDR_SCALES: dict[str | None, tuple[tuple[float, str], ...]] = {
    None: ((1e9, "Miliar"), (1e6, "Juta")),
    "id": ((1e12, "triliun"), (1e9, "miliar"), (1e6, "juta")),
    "en": ((1e12, "trillion"), (1e9, "billion"), (1e6, "million")),
}


def format_number(value: float, max_decimals: int, language: Language) -> str:
    """``value`` with at most ``max_decimals`` decimals (trailing zeros dropped), in the language's separators
    (Indonesian ``1.802,5``, English ``1,802.5``)."""
    text = f"{abs(value):,.{max_decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text.replace(",", "").replace(".", "").strip("0") == "":
        return "0"
    if language == "id":
        text = text.replace(",", "_").replace(".", ",").replace("_", ".")
    return f"-{text}" if value < 0 else text


def format_idr(value: float, language: Language | None = None) -> str:
    """An IDR amount with a scale word; the sign is kept.

    Without ``language``, the prototype's display string: "1.21 Miliar IDR" (2 decimals), "640 Juta IDR"
    (none; an amount that would print as "1000 Juta" is "1.00 Miliar"), "950,000 IDR", "N/A" for NaN.
    In prose (``language`` "id" or "en", the chat's answers): "Rp1,21 miliar" / "IDR 1.21 billion", with
    :data:`MONEY_SIGNIFICANT_DIGITS` digits, below a million in full ("Rp850.000" / "IDR 850,000").
    """
    if math.isnan(value):
        return NOT_AVAILABLE
    sign = "-" if value < 0 else ""
    magnitude = abs(value)
    scales = _IDR_SCALES[language]
    if language is None:
        if round(magnitude / 1e6) >= 1000:  # also 999.6 Juta, which would print as "1000 Juta"
            return f"{sign}{magnitude / 1e9:.2f} {scales[0][1]} IDR"
        if round(magnitude) >= 1_000_000:
            return f"{sign}{magnitude / 1e6:.0f} {scales[1][1]} IDR"
        return f"{sign if round(magnitude) else ''}{magnitude:,.0f} IDR"
    prefix = "Rp" if language == "id" else "IDR "
    for scale, word in scales:
        if round(magnitude / scale, MONEY_SIGNIFICANT_DIGITS) >= 1:
            scaled = magnitude / scale
            digits_before_point = len(str(int(round(scaled, 2)))) if scaled >= 1 else 1
            decimals = max(0, MONEY_SIGNIFICANT_DIGITS - digits_before_point)
            return f"{sign}{prefix}{format_number(scaled, decimals, language)} {word}"
    return f"{sign}{prefix}{format_number(magnitude, 0, language)}"


def format_tonnes(t: float) -> str:
    """"1,802 Ton" (thousands separator, no decimals)."""
    return NOT_AVAILABLE if math.isnan(t) else f"{t:,.0f} Ton"


def format_fuel_ratio(l_per_t: float) -> str:
    """"0.41 L/Ton"; "N/A" when undefined (no production; the prototype printed "0")."""
    return f"{l_per_t:.2f} L/Ton" if math.isfinite(l_per_t) else NOT_AVAILABLE


def format_hours(hours: float | None) -> str:
    """"12.5 Jam"; "N/A" when unknown or infinite."""
    return f"{hours:.1f} Jam" if hours is not None and math.isfinite(hours) else NOT_AVAILABLE


def format_units(n: int) -> str:
    """"10 Unit"."""
    return f"{n} Unit"


#: Speed limit advised when delays are frequent (wet, slippery roads), km/h: the prototype's SOP value.
SLIPPERY_SPEED_LIMIT_KMH = 20
#: The prototype's SOP_KESELAMATAN item per guideline code (``simulator.ranking.GUIDELINES``); ``{value}``
#: is ``Guideline.value``.
GUIDELINE_TEXT: dict[str, str] = {
    "waiting_bay": "🔄 TRAFIK: Aktifkan Waiting Bay (antrian rata-rata {value:.1f} jam/truk)",
    "excavators_saturated": "⛏️ BOTTLENECK: Excavator jenuh (utilisasi {value:.0%}); tambah excavator atau kurangi truk",
    "trucks_limiting": "🚚 BOTTLENECK: Truk menjadi pembatas, excavator menganggur (utilisasi {value:.0%}); "
                       "tambah truk atau kurangi excavator",
    "frequent_delays": "⚠️ KESELAMATAN: {value:.0%} siklus mengalami delay; batasi kecepatan maks "
                       f"{SLIPPERY_SPEED_LIMIT_KMH} km/jam dan jaga jarak aman",
}
#: Separator between guideline items, as in the prototype's SOP_KESELAMATAN.
GUIDELINE_SEPARATOR = " | "
#: ANALISIS_KAPAL without a vessel (the prototype's text).
NO_VESSEL_TEXT = "Tidak ada kapal."
#: ANALISIS_KAPAL's status word per ``simulator.ranking.VESSEL_STATUSES`` code (the prototype's words).
VESSEL_STATUS_TEXT: dict[str, str] = {
    "on_schedule": "ON_SCHEDULE", "delay_risk": "DELAY_RISK", "not_charged": "TIDAK_DIHITUNG",
}


#: Why a closed schedule is not charged, per ``ScheduleClosure.code`` (the prototype's Indonesian).
CLOSURE_TEXT: dict[str, str] = {
    "over": "Jadwal {schedule_id} ({vessel}) berstatus {status}: tidak ada muatan tersisa, demurrage dan denda "
            "keterlambatan tidak dihitung",
    "deadline_passed": "Batas muat jadwal {schedule_id} ({vessel}) {deadline_local} sudah lewat sebelum shift "
                       "dimulai ({shift_start_local}): demurrage dan denda keterlambatan tidak dihitung",
}


def closure_text(closure: ScheduleClosure | None) -> str:
    """The sentence of ANALISIS_KAPAL saying why a closed schedule is not charged ("" for none)."""
    return "" if closure is None else CLOSURE_TEXT[closure.code].format(**dataclasses.asdict(closure))


def guideline_text(items: tuple[Guideline, ...]) -> str:
    """SOP_KESELAMATAN: the guidelines' Indonesian items joined ("" for none)."""
    return GUIDELINE_SEPARATOR.join(GUIDELINE_TEXT[g.code].format(value=g.value) for g in items)


def vessel_text(vessel: VesselAnalysis | None) -> str:
    """ANALISIS_KAPAL: status, probability of missing the deadline, expected late hours and fines."""
    if vessel is None:
        return NO_VESSEL_TEXT
    status = VESSEL_STATUS_TEXT[vessel.status]
    loading = f"Estimasi muat {format_hours(vessel.hours_to_target)}"
    if vessel.status == "not_charged":
        return f"Status: {status} | {closure_text(vessel.closure)} | {loading}"
    if vessel.status == "on_schedule":
        return f"Status: {status} | Peluang telat 0% | {loading}"
    text = (f"Status: {status} | Peluang telat {vessel.probability_late:.0%} | Ekspektasi keterlambatan "
            f"{format_hours(vessel.late_hours)} | {loading}")
    if not math.isfinite(vessel.hours_to_target):
        text += " | Produksi nol di sebagian replikasi: kapal tidak dapat dimuat"
    if vessel.fines_idr > 0:
        text += f" | DENDA: {format_idr(vessel.fines_idr)}"
    return text


def _texts_of(s: ScenarioSummary) -> tuple[str, str]:
    """(SOP_KESELAMATAN, ANALISIS_KAPAL) of a summary; an unranked one's codes are computed here."""
    if not s.rank:
        return guideline_text(ranking.guidelines(s)), vessel_text(ranking.vessel_analysis(s))
    return guideline_text(s.guidelines), vessel_text(s.vessel)


def _mean(s: ScenarioSummary, metric: str) -> float:
    est = s.metrics.get(metric)
    return math.nan if est is None else est.mean


def display_block(
    summary: ScenarioSummary, *, loading_unit: str, road: str, vessel_hours_to_target: float | None
) -> dict:
    """The prototype's per-option display dict (the caller wraps it as {"OPSI_i": ...}).

    ``IDLE_ANTRIAN`` is the mean total truck-hours queued by the whole fleet in a shift, as in the
    prototype (its ``total_waktu_antri_jam`` summed every truck's wait): 10 trucks showing "0.8 Jam"
    is about 5 minutes per truck, and 5 trucks on 2 excavators queue almost never ("0.0 Jam").
    ``FUEL_RATIO`` is the mean of the per-replication ratios; ``ESTIMASI_DURASI`` is the hours needed to
    load the vessel at the simulated rate ("N/A" without a vessel).
    """
    guideline, vessel = _texts_of(summary)
    return {
        "TYPE": "REKOMENDASI UTAMA" if summary.rank == 1 else "ALTERNATIF",
        "INSTRUKSI_FLAT": {
            "JUMLAH_DUMP_TRUCK": format_units(summary.trucks),
            "JUMLAH_EXCAVATOR": format_units(summary.excavators),
            "ALAT_MUAT_TARGET": loading_unit,
            "JALUR_ANGKUT": road,
        },
        "KPI_PREDIKSI": {
            "PROFIT": format_idr(_mean(summary, "profit_idr")),
            "PRODUKSI": format_tonnes(_mean(summary, "production_t")),
            "ESTIMASI_DURASI": format_hours(vessel_hours_to_target),
            "FUEL_RATIO": format_fuel_ratio(_mean(summary, "fuel_ratio_l_per_t")),
            "IDLE_ANTRIAN": format_hours(_mean(summary, "queue_hours")),
        },
        "ANALISIS_KAPAL": vessel,
        "SOP_KESELAMATAN": guideline,
    }


# --- the response ---------------------------------------------------------------------------------------
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
    """Machine-readable numbers of one strategy (with the guideline and vessel texts of its display block)."""
    guideline, vessel = _texts_of(s)
    return {
        "rank": s.rank, "scenario_key": s.scenario_key, "trucks": s.trucks, "excavators": s.excavators,
        "replications": s.replications, "tied_with": list(s.tied_with), "pareto": s.pareto,
        "probability_vessel_late": _number(s.probability_vessel_late),
        "dispatch": s.dispatch,
        "metrics": {k: estimate_json(s.metrics[k]) for k in (*REPORTED_METRICS, *_destination_keys(s))
                    if k in s.metrics},
        "guideline": guideline, "vessel_analysis": vessel,
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

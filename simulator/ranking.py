"""Ranking of strategies by expected profit under risk, the Pareto front, guidelines and the legacy display block.

Order: strategies are sorted by mean profit; the best remaining one leads a tie group holding every
remaining strategy whose 95% profit interval overlaps the leader's (a conservative test: intervals
that overlap may still differ under the paired comparison of ``replications.paired_difference``).
Inside a group the order is lower risk (lower profit std, then lower probability of missing the
vessel), then fewer units (trucks + excavators). Groups follow each other by their leader's mean.

Each ranked strategy carries why it ranks above the next one (``rank_reason``, one of
:data:`RANK_REASONS`, and ``rank_reason_value``, the number that decided it), so a reader sees why a
strategy with the lower mean profit can rank first: its interval overlaps the next one's and it is the
less risky (or smaller) of the two. Display texts are the presenters' (API, command-line tables).

Guidelines (``SOP_KESELAMATAN``) and vessel sentences (``ANALISIS_KAPAL``) are Indonesian, in the
prototype's style, and computed from the summary's numbers against the named thresholds below.
"""
from __future__ import annotations

import dataclasses
import math

from simulator.results import Estimate, ScenarioSummary

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
#: Speed limit advised when delays are frequent (wet/slippery roads), km/h: the prototype's SOP value.
SLIPPERY_SPEED_LIMIT_KMH = 20
#: Separator between guideline items, as in the prototype's SOP_KESELAMATAN.
GUIDELINE_SEPARATOR = " | "
#: ANALISIS_KAPAL without a vessel (prototype text).
NO_VESSEL_TEXT = "Tidak ada kapal."
#: ANALISIS_KAPAL status of a closed schedule (over, or deadline before the shift): nothing charged.
CLOSED_VESSEL_STATUS = "TIDAK_DIHITUNG"
#: Display value for a quantity that cannot be computed (prototype text for a missing duration).
NOT_AVAILABLE = "N/A"


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
    """New summaries, best first, with rank, tied_with, pareto, guideline and vessel_analysis filled in."""
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
                guideline=guideline(s),
                vessel_analysis=vessel_analysis(s),
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


# --- texts ------------------------------------------------------------------------------------------
def guideline(s: ScenarioSummary) -> str:
    """Operating guideline (SOP_KESELAMATAN) from the numbers; "" when nothing passes a threshold."""
    items: list[str] = []
    queue = _mean(s, "queue_hours", math.nan)
    if s.trucks > 0 and not math.isnan(queue):
        per_truck = queue / s.trucks
        if per_truck > WAITING_BAY_QUEUE_HOURS_PER_TRUCK:
            items.append(f"🔄 TRAFIK: Aktifkan Waiting Bay (antrian rata-rata {per_truck:.1f} jam/truk)")
    util = _mean(s, "excavator_utilisation", math.nan)
    if not math.isnan(util):
        if util >= EXCAVATOR_SATURATED_UTILISATION:
            items.append(f"⛏️ BOTTLENECK: Excavator jenuh (utilisasi {util:.0%}); "
                         "tambah excavator atau kurangi truk")
        elif util <= EXCAVATOR_IDLE_UTILISATION:
            items.append(f"🚚 BOTTLENECK: Truk menjadi pembatas, excavator menganggur (utilisasi {util:.0%}); "
                         "tambah truk atau kurangi excavator")
    delays, loads = _mean(s, "delays", math.nan), _mean(s, "loads", math.nan)
    if loads > 0 and not math.isnan(delays):
        rate = delays / loads
        if rate >= HIGH_DELAY_RATE:
            items.append(f"⚠️ KESELAMATAN: {rate:.0%} siklus mengalami delay; batasi kecepatan maks "
                         f"{SLIPPERY_SPEED_LIMIT_KMH} km/jam dan jaga jarak aman")
    return GUIDELINE_SEPARATOR.join(items)


def vessel_analysis(s: ScenarioSummary) -> str:
    """ANALISIS_KAPAL: probability of missing the deadline, expected late hours and fines; prototype statuses."""
    hours_est = s.metrics.get("vessel_hours_to_target")
    if hours_est is None:
        return NO_VESSEL_TEXT
    if s.vessel_closed:
        return f"Status: {CLOSED_VESSEL_STATUS} | {s.vessel_closed} | Estimasi muat {format_hours(hours_est.mean)}"
    p = s.probability_vessel_late
    hours = hours_est.mean
    late = _mean(s, "vessel_late_hours", 0.0)
    fines = _mean(s, "demurrage_idr", 0.0) + _mean(s, "vessel_penalty_idr", 0.0)
    if p <= 0:
        return f"Status: ON_SCHEDULE | Peluang telat 0% | Estimasi muat {format_hours(hours)}"
    text = (f"Status: DELAY_RISK | Peluang telat {p:.0%} | Ekspektasi keterlambatan {format_hours(late)}"
            f" | Estimasi muat {format_hours(hours)}")
    if not math.isfinite(hours):
        text += " | Produksi nol di sebagian replikasi: kapal tidak dapat dimuat"
    if fines > 0:
        text += f" | DENDA: {format_idr(fines)}"
    return text


# --- legacy display strings (prototype formats, tested against the legacy examples) ----------------
def format_idr(value: float) -> str:
    """"1.21 Miliar IDR" (>= 1e9, 2 decimals), "640 Juta IDR" (>= 1e6, no decimals), "950,000 IDR"; sign kept."""
    if math.isnan(value):
        return NOT_AVAILABLE
    sign = "-" if value < 0 else ""
    v = abs(value)
    if round(v / 1e6) >= 1000:  # also 999.6 Juta, which would print as "1000 Juta"
        return f"{sign}{v / 1e9:.2f} Miliar IDR"
    if round(v) >= 1_000_000:
        return f"{sign}{v / 1e6:.0f} Juta IDR"
    if round(v) == 0:
        sign = ""
    return f"{sign}{v:,.0f} IDR"


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


def display_block(
    summary: ScenarioSummary, *, loading_unit: str, road: str, vessel_hours_to_target: float | None
) -> dict:
    """The prototype's per-option display dict (the caller wraps it as {"OPSI_i": ...}).

    ``IDLE_ANTRIAN`` is the mean total truck-hours queued by the whole fleet in a shift, as in the
    prototype (its ``total_waktu_antri_jam`` summed every truck's wait): 10 trucks showing "0.8 Jam"
    is about 5 minutes per truck, and 5 trucks on 2 excavators queue almost never ("0.0 Jam").
    ``FUEL_RATIO`` is the mean of the per-replication ratios; ``ESTIMASI_DURASI`` is the hours needed to
    load the vessel at the simulated rate ("N/A" without a vessel). Texts come from the ranked summary
    (computed here when it has not been ranked).
    """
    return {
        "TYPE": "REKOMENDASI UTAMA" if summary.rank == 1 else "ALTERNATIF",
        "INSTRUKSI_FLAT": {
            "JUMLAH_DUMP_TRUCK": format_units(summary.trucks),
            "JUMLAH_EXCAVATOR": format_units(summary.excavators),
            "ALAT_MUAT_TARGET": loading_unit,
            "JALUR_ANGKUT": road,
        },
        "KPI_PREDIKSI": {
            "PROFIT": format_idr(_mean(summary, "profit_idr", math.nan)),
            "PRODUKSI": format_tonnes(_mean(summary, "production_t", math.nan)),
            "ESTIMASI_DURASI": format_hours(vessel_hours_to_target),
            "FUEL_RATIO": format_fuel_ratio(_mean(summary, "fuel_ratio_l_per_t", math.nan)),
            "IDLE_ANTRIAN": format_hours(_mean(summary, "queue_hours", math.nan)),
        },
        "ANALISIS_KAPAL": summary.vessel_analysis if summary.rank else vessel_analysis(summary),
        "SOP_KESELAMATAN": summary.guideline if summary.rank else guideline(summary),
    }

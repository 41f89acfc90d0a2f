"""Economics of one simulated shift: revenue, costs, queue penalty, incident risk and the vessel deadline.

Every term is a pure function of one :class:`~simulator.results.ReplicationResult` and a
:class:`FinancialParams`; money is IDR, mass tonnes, fuel litres, time hours.

``profit = revenue - fuel - trucks - excavators - queue penalty - incident risk - demurrage - vessel penalty``

- revenue = production_t x coal price (``HargaJualBatuBara``);
- fuel = trucks' haul-cycle litres (``fuel_l``) x diesel price (``HargaSolar``), as in the prototype;
- trucks = trucks x shift_hours x ``truck_cost_idr_per_hour`` (fuel excluded);
- excavators = excavators x shift_hours x (``excavator_cost_idr_per_hour`` + ``excavator_fuel_l_per_hour``
  x diesel price): the simulated ``fuel_l`` counts truck fuel only, so excavator diesel is charged here;
- queue penalty = queue_hours x (``idle_fuel_l_per_hour`` x diesel price + ``operator_wait_cost_idr_per_hour``).
  The prototype charged ``BiayaPenaltiKeterlambatanKapal`` (a vessel penalty) per queued hour; that
  constant keeps its legacy meaning here and is charged only when a vessel deadline is missed;
- incident risk = expected incidents (``incident_expected``) x ``BiayaRataRataInsiden``;
- vessel (only when a :class:`VesselTarget` is given): the vessel analysis extrapolates the simulated
  shift's production rate (production_t / shift_hours) across the hours until the sailing deadline,
  as the prototype did: hours_to_load = planned_t / rate (infinite when the rate is 0),
  late_hours = max(0, hours_to_load - hours_available); demurrage = late_hours (capped at
  ``demurrage_max_hours``) x ``BiayaDemurragePerJam``; ``BiayaPenaltiKeterlambatanKapal`` once when
  late_hours > 0. The whole expected demurrage is charged to the simulated shift (legacy meaning).
  A *closed* target (its schedule COMPLETED/departed/cancelled, or its deadline before the shift
  starts: ``VesselTarget.closed_reason``) is charged nothing and is never late: the shift cannot
  change it; hours_to_load is still reported.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

from simulator.results import Economics, ReplicationResult, ScheduleClosure

#: Legacy ``financial_params`` keys (prototype request body) -> FinancialParams field names.
LEGACY_KEYS: dict[str, str] = {
    "HargaJualBatuBara": "coal_price_idr_per_t",
    "HargaSolar": "fuel_price_idr_per_l",
    "BiayaPenaltiKeterlambatanKapal": "vessel_penalty_idr",
    "BiayaRataRataInsiden": "incident_cost_idr",
    "BiayaDemurragePerJam": "demurrage_idr_per_hour",
}


@dataclass(frozen=True)
class FinancialParams:
    """Prices and cost rates of the mine (IDR). Defaults of the legacy five equal the prototype's values."""

    # --- the prototype's financial_params (same meaning; defaults = prototype and contracts/ref-a.json)
    coal_price_idr_per_t: float = 800_000.0
    """HargaJualBatuBara: coal selling price, IDR per tonne."""
    fuel_price_idr_per_l: float = 15_000.0
    """HargaSolar: diesel price, IDR per litre."""
    vessel_penalty_idr: float = 100_000_000.0
    """BiayaPenaltiKeterlambatanKapal: one-off penalty when a vessel's sailing deadline is missed, IDR."""
    incident_cost_idr: float = 50_000_000.0
    """BiayaRataRataInsiden: average cost of one incident, IDR per incident."""
    demurrage_idr_per_hour: float = 50_000_000.0
    """BiayaDemurragePerJam: demurrage per hour a vessel waits beyond its deadline, IDR per hour."""

    # --- named extras. Assumptions giving the order of magnitude; a mine overrides them with its own rates.
    truck_cost_idr_per_hour: float = 450_000.0
    """Ownership + operator + maintenance of one ~30 t rigid dump truck, fuel excluded, IDR per truck-hour.
    Assumption: Indonesian hourly hire rates for 20-30 t dump trucks with operator, without fuel, are
    roughly IDR 300k-600k per hour."""
    excavator_cost_idr_per_hour: float = 1_000_000.0
    """Ownership + operator + maintenance of one ~50 t class excavator (e.g. SK500/PC500), fuel excluded,
    IDR per excavator-hour. Assumption: hourly hire rates without fuel are roughly IDR 0.8-1.3 M per hour."""
    excavator_fuel_l_per_hour: float = 40.0
    """Diesel burned by one working excavator, L per excavator-hour (the simulated fuel_l counts trucks
    only). Assumption: manufacturer figures for ~50 t excavators at medium load are about 30-45 L/h."""
    idle_fuel_l_per_hour: float = 4.0
    """Diesel burned by a truck idling in a queue, L per truck-hour. Assumption: large diesel engines
    idle at about 1 US gallon (3.8 L) per hour."""
    operator_wait_cost_idr_per_hour: float = 60_000.0
    """Penalty for an operator hour lost waiting in a queue, IDR per truck-hour. Assumption: a haul truck
    operator's loaded wage of about IDR 10 M/month over ~170 h; it overlaps the operator share of the
    truck rate on purpose (idle time is charged as a penalty, not a cash flow); set 0 for cash costs only."""
    demurrage_max_hours: float = 720.0
    """Cap on the late hours charged as demurrage, h. Assumption: beyond ~30 days the cargo is re-nominated
    or the charter cancelled; it keeps profit finite when a strategy produces nothing."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"FinancialParams.{f.name} must be a finite number, got {value!r}")
            if value < 0:
                raise ValueError(f"FinancialParams.{f.name} must be >= 0, got {value!r}")

    def to_legacy(self) -> dict[str, float | int]:
        """The five legacy ``financial_params`` keys with this object's values (integral values as int)."""
        out: dict[str, float | int] = {}
        for legacy, name in LEGACY_KEYS.items():
            value = float(getattr(self, name))
            out[legacy] = int(value) if value.is_integer() else value
        return out


@dataclass(frozen=True)
class VesselTarget:
    """A vessel to load: tonnes still to load and hours until its sailing deadline (may be <= 0: already due).

    ``closed_reason`` (English, for the response's ``warnings``) says why the deadline is not chargeable
    ("" for an open schedule); ``closure`` holds the same as codes and figures (the presenter writes
    ``ANALISIS_KAPAL`` from it).
    """

    planned_t: float
    hours_available: float
    name: str = ""
    schedule_id: str = ""
    closed_reason: str = ""
    closure: ScheduleClosure | None = None

    @property
    def chargeable(self) -> bool:
        """True when missing the deadline costs demurrage and the penalty (the schedule is still open)."""
        return not self.closed_reason

    def __post_init__(self) -> None:
        if isinstance(self.planned_t, bool) or not math.isfinite(self.planned_t) or self.planned_t < 0:
            raise ValueError(f"VesselTarget.planned_t must be a finite number >= 0, got {self.planned_t!r}")
        if isinstance(self.hours_available, bool) or not math.isfinite(self.hours_available):
            raise ValueError(f"VesselTarget.hours_available must be finite, got {self.hours_available!r}")


@dataclass(frozen=True)
class VesselOutcome:
    """Hours needed to load the vessel at the shift's rate (inf if the rate is 0) and hours past the deadline."""

    hours_to_load: float
    late_hours: float

    @property
    def late(self) -> bool:
        return self.late_hours > 0.0


def production_rate_t_per_hour(r: ReplicationResult) -> float:
    """The shift's production rate, t/h (0 when the shift has no duration)."""
    return r.production_t / r.shift_hours if r.shift_hours > 0 else 0.0


def vessel_outcome(r: ReplicationResult, vessel: VesselTarget) -> VesselOutcome:
    """Extrapolate the shift's rate to the vessel: hours to load planned_t and hours late (>= 0; 0 when closed)."""
    rate = production_rate_t_per_hour(r)
    if vessel.planned_t == 0:
        hours = 0.0
    elif rate <= 0:
        hours = math.inf
    else:
        hours = vessel.planned_t / rate
    if not vessel.chargeable:
        return VesselOutcome(hours_to_load=hours, late_hours=0.0)
    return VesselOutcome(hours_to_load=hours, late_hours=max(0.0, hours - vessel.hours_available))


def queue_cost_idr_per_hour(p: FinancialParams) -> float:
    """Penalty of one truck-hour in a queue: idle diesel plus operator waiting, IDR/h."""
    return p.idle_fuel_l_per_hour * p.fuel_price_idr_per_l + p.operator_wait_cost_idr_per_hour


def economics(r: ReplicationResult, p: FinancialParams, vessel: VesselTarget | None) -> Economics:
    """Profit decomposition of one replication (see the module docstring for each term), IDR."""
    if vessel is None:
        demurrage, penalty, late = 0.0, 0.0, False
    else:
        outcome = vessel_outcome(r, vessel)
        late = outcome.late
        demurrage = min(outcome.late_hours, p.demurrage_max_hours) * p.demurrage_idr_per_hour
        penalty = p.vessel_penalty_idr if late else 0.0
    excavator_rate = p.excavator_cost_idr_per_hour + p.excavator_fuel_l_per_hour * p.fuel_price_idr_per_l
    return Economics(
        revenue_idr=r.production_t * p.coal_price_idr_per_t,
        fuel_cost_idr=r.fuel_l * p.fuel_price_idr_per_l,
        truck_cost_idr=r.trucks * r.shift_hours * p.truck_cost_idr_per_hour,
        excavator_cost_idr=r.excavators * r.shift_hours * excavator_rate,
        queue_penalty_idr=r.queue_hours * queue_cost_idr_per_hour(p),
        incident_risk_idr=r.incident_expected * p.incident_cost_idr,
        demurrage_idr=demurrage,
        vessel_penalty_idr=penalty,
        vessel_late=late,
    )

"""Plain records passed between the SimPy model, economics, statistics and ranking.

Frozen dataclasses of numbers only, so they pickle cheaply across the process pool. Units are in
the field names.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ReplicationResult:
    """What one replication of one scenario produced (one simulated shift)."""

    scenario_key: str          # e.g. "T10-E2": trucks and excavators of the scenario
    replication: int           # replication index (the common-random-number stream index)
    trucks: int
    excavators: int
    shift_hours: float         # simulated duration
    loads: int                 # completed haul cycles (dumped loads)
    production_t: float        # tonnes dumped
    fuel_l: float              # litres burned by the trucks' cycles
    queue_hours: float         # truck-hours spent waiting (excavator + dump queues)
    cycle_time_min: float      # mean duration of completed cycles (queue included)
    excavator_utilisation: float  # share of excavator-hours spent loading (0..1)
    truck_utilisation: float      # share of truck-hours spent in a cycle (not idle/broken) (0..1)
    delays: int                # cycles with a delay
    delay_hours: float         # total delay duration
    incident_expected: float   # expected incidents = sum over cycles of incident probability
    breakdowns: int            # units taken out of service during the shift
    downtime_hours: float      # unit-hours lost to breakdowns
    hours_to_target: float | None = None  # hours needed to reach the vessel's quantity at this rate
    # --- filled by the haul-network model (``simulator.network_model``); None/() when not known
    dispatch: str = "fixed"    # dispatch rule of the strategy (``simulator.dispatch``)
    loader_queue_hours: float | None = None  # truck-hours waiting for a loader
    dump_queue_hours: float | None = None    # truck-hours waiting for a tipping bay (closures included)
    bunching_hours: float | None = None      # truck-hours lost behind slower trucks on single-lane roads
    truck_downtime_hours: float | None = None
    excavator_downtime_hours: float | None = None
    loading_hours: float | None = None       # loader-hours spent loading inside the shift
    destination_ids: tuple[str, ...] = ()
    destination_production_t: tuple[float, ...] = ()        # tonnes dumped per destination
    destination_targets_t: tuple[float | None, ...] = ()    # the request's target per destination


@dataclass(frozen=True)
class Economics:
    """Profit decomposition of one replication, IDR."""

    revenue_idr: float
    fuel_cost_idr: float
    truck_cost_idr: float
    excavator_cost_idr: float
    queue_penalty_idr: float
    incident_risk_idr: float
    demurrage_idr: float
    vessel_penalty_idr: float
    vessel_late: bool

    @property
    def profit_idr(self) -> float:
        return (self.revenue_idr - self.fuel_cost_idr - self.truck_cost_idr - self.excavator_cost_idr
                - self.queue_penalty_idr - self.incident_risk_idr - self.demurrage_idr
                - self.vessel_penalty_idr)


@dataclass(frozen=True)
class Estimate:
    """Mean with a 95% confidence interval over replications (same unit as the metric)."""

    mean: float
    ci_low: float
    ci_high: float
    n: int
    std: float = 0.0


@dataclass(frozen=True)
class Guideline:
    """An operating guideline the numbers call for: a code of ``simulator.ranking.GUIDELINES`` and the
    number that triggered it, in the code's unit. Its text is the presenter's (``api.presenters``)."""

    code: str
    value: float


@dataclass(frozen=True)
class ScheduleClosure:
    """Why a sailing schedule's deadline is not charged: ``code`` "over" (its ``status`` says the call is
    over) or "deadline_passed" (its loading deadline precedes the shift's start). Times are mine-local
    "YYYY-MM-DD HH:MM". The sentences are the presenter's (Indonesian) and ``VesselTarget.closed_reason``."""

    code: str
    schedule_id: str
    vessel: str
    status: str
    deadline_local: str
    shift_start_local: str


@dataclass(frozen=True)
class VesselAnalysis:
    """The vessel deadline of one strategy: a status of ``simulator.ranking.VESSEL_STATUSES`` and its figures.
    Its text (the prototype's ``ANALISIS_KAPAL``) is the presenter's (``api.presenters``)."""

    status: str
    probability_late: float       # share of replications missing the deadline, 0..1
    hours_to_target: float        # mean hours to load the vessel at the simulated rate (inf: nil production)
    late_hours: float             # expected hours late (0 when on time)
    fines_idr: float              # expected demurrage + late penalty
    closure: ScheduleClosure | None = None  # status "not_charged": why the schedule is not charged


@dataclass(frozen=True)
class ScenarioSummary:
    """One strategy: its decision variables and every metric's estimate over replications."""

    scenario_key: str
    trucks: int
    excavators: int
    replications: int
    metrics: dict[str, Estimate] = field(default_factory=dict)  # profit_idr, production_t, fuel_l, ...
    probability_vessel_late: float = 0.0
    #: Why the vessel deadline is not charged (a closed schedule), None otherwise.
    vessel_closed: ScheduleClosure | None = None
    rank: int = 0
    tied_with: tuple[str, ...] = ()
    #: Why this strategy ranks above the next one (``simulator.ranking.RANK_REASONS``; "" for the last),
    #: and the number that decided it, in the reason's unit (IDR, share or units).
    rank_reason: str = ""
    rank_reason_value: float = float("nan")
    pareto: bool = False
    #: Operating guidelines the numbers call for (``simulator.ranking.GUIDELINES``), in display order.
    guidelines: tuple[Guideline, ...] = ()
    #: The vessel deadline's status and figures; None without a vessel (or before ranking).
    vessel: VesselAnalysis | None = None
    dispatch: str = "fixed"    # dispatch rule of the strategy

    @property
    def guideline(self) -> str:
        """The guideline codes, space-separated ("" for none), for flat tables (the study's summary.csv)."""
        return " ".join(g.code for g in self.guidelines)

    @property
    def vessel_analysis(self) -> str:
        """The vessel status code ("" without a vessel), for flat tables (the study's summary.csv)."""
        return "" if self.vessel is None else self.vessel.status

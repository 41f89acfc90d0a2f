"""A simulation request as frozen dataclasses (the domain spec), with errors that name the offending field.

``simulator.request`` parses a body (the legacy ``contracts/legacy-top3-request.json`` unchanged,
``contracts/ref-a.json`` with its optional ``financial_params`` and ``simulation``) into a
:class:`RequestSpec`; everything downstream takes the spec. Every validation error is a
:class:`SpecError` whose message starts with the field path, e.g.
``decision_variables.alokasi_truk[2]: must be a positive integer, got -1`` (the API maps it to 422,
the command line to exit code 2).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from simulator.dispatch import RULES
from simulator.economics import FinancialParams

if TYPE_CHECKING:  # the network module raises SpecError, so it imports this one
    from simulator.network import Destination, LoadingPoint

#: Longest shift a request may simulate (one week), h. Guards memory and time, not physics.
MAX_DURATION_HOURS: float = 168.0
#: Most replications per scenario a request may ask for (the grid limit of the settings applies too).
MAX_REPLICATIONS: int = 1000


class SpecError(ValueError):
    """A request field is missing or invalid; ``field`` is its path, ``reason`` what is wrong."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class Conditions:
    """The day's fixed conditions (categoricals in ``training.schema`` enum form)."""

    weather: str
    road_condition: str
    shift: str
    road_id: str | None = None
    excavator_id: str | None = None
    schedule_id: str | None = None
    start: datetime | None = None  # UTC-aware start of the simulated shift; None = the shift's start today


@dataclass(frozen=True)
class Grid:
    """The decision variables: every truck count x every excavator count (sorted, deduplicated) x every
    dispatch rule (in the request's order; ``fixed`` alone by default)."""

    truck_counts: tuple[int, ...]
    excavator_counts: tuple[int, ...]
    dispatch: tuple[str, ...] = ("fixed",)

    @property
    def strategies(self) -> list[tuple[int, int, str]]:
        """(trucks, excavators, dispatch rule) of every strategy, trucks-major then rules."""
        return [(t, e, d) for t, e in self.scenarios for d in self.dispatch]

    @property
    def scenarios(self) -> list[tuple[int, int]]:
        """(trucks, excavators) of every scenario, trucks-major order."""
        return [(t, e) for t in self.truck_counts for e in self.excavator_counts]

    @property
    def max_trucks(self) -> int:
        return self.truck_counts[-1]

    @property
    def max_excavators(self) -> int:
        return self.excavator_counts[-1]


@dataclass(frozen=True)
class SimulationParams:
    """How to simulate: shift length (h), replications per scenario, root seed, variability, dump bays."""

    duration_hours: float = 8.0
    replications: int = 30
    seed: int = 42
    deterministic: bool = False  # every sample at its mean, no breakdowns, one replication
    dump_bays: int | None = None  # None: from the champion's data (``engine.site_dump_bays``)

    @property
    def effective_replications(self) -> int:
        """Replications actually run: 1 in deterministic mode (they would all be identical)."""
        return 1 if self.deterministic else self.replications


@dataclass(frozen=True)
class NetworkSpec:
    """The optional ``network`` part: loading points with their excavators, destinations with bays,
    closures and tonnage shares or targets, the single-lane road segments and the following headway.
    Roads come from the fleet's ``road_segments`` (``simulator.network``)."""

    loading_points: tuple[LoadingPoint, ...] = ()
    destinations: tuple[Destination, ...] = ()
    single_lane: tuple[str, ...] = ()
    headway_min: float | None = None  # None: ``network_model.DEFAULT_HEADWAY_MIN``
    excavator_ids: tuple[tuple[str, ...], ...] = ()  # per loading point, the named excavators (may be empty)


@dataclass(frozen=True)
class RequestSpec:
    """A whole parsed request (``simulator.request.StrategiesRequest.to_spec``)."""

    conditions: Conditions
    grid: Grid
    simulation: SimulationParams
    financial: FinancialParams = field(default_factory=FinancialParams)
    network: NetworkSpec | None = None

    @property
    def simulations(self) -> int:
        """Strategies x replications: the work the request asks for."""
        return len(self.grid.strategies) * self.simulation.effective_replications

    def check_limit(self, max_simulations: int) -> "RequestSpec":
        """``self``, or SpecError when scenarios x replications exceed ``max_simulations``."""
        if self.simulations > max_simulations:
            raise SpecError(
                "simulation.replications",
                f"{len(self.grid.strategies)} scenarios x {self.simulation.effective_replications} replications = "
                f"{self.simulations} simulations exceeds the limit of {max_simulations}")
        return self

    def with_grid(self, trucks: int, excavators: int, replications: int | None = None,
                  dispatch: str | None = None) -> "RequestSpec":
        """The same request for one strategy (the chat's what-if), optionally with other replications and
        one dispatch rule (None: the request's rules; a dynamic one needs a network of two points)."""
        simulation = self.simulation if replications is None else replace(self.simulation, replications=replications)
        grid = replace(self.grid, truck_counts=(trucks,), excavator_counts=(excavators,))
        if dispatch is not None:
            if dispatch not in RULES:
                raise SpecError("decision_variables.dispatch", f"unknown rule {dispatch!r}; known: {', '.join(RULES)}")
            if dispatch != "fixed" and (self.network is None or len(self.network.loading_points) < 2):
                raise SpecError("decision_variables.dispatch", "dynamic rules choose between loading points: the "
                                                               "request has no network with at least two")
            grid = replace(grid, dispatch=(dispatch,))
        return replace(self, grid=grid, simulation=simulation)

    def canonical(self) -> dict[str, Any]:
        """The spec as plain JSON data in one canonical form (enum spellings, sorted counts, UTC start,
        every financial parameter): two bodies asking for the same simulation give equal dicts."""
        data = asdict(self)
        start = self.conditions.start
        data["conditions"]["start"] = None if start is None else start.isoformat()
        return data

    def normalized_key(self) -> str:
        """A stable hash of :meth:`canonical` (cache key of a request; a start of None means "now" and is
        part of the key as null, so a cache must add the resolved start itself)."""
        text = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()



def scenario_key(trucks: int, excavators: int, dispatch: str = "fixed") -> str:
    """The strategy's name in results: ``T10-E2`` (fixed dispatch), ``T10-E2/shortest_wait``."""
    return f"T{trucks}-E{excavators}" if dispatch == "fixed" else f"T{trucks}-E{excavators}/{dispatch}"


def parse_start(value: Any, path: str) -> datetime | None:
    """ISO-8601 start time as a UTC-aware datetime (a time without offset is read as UTC)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise SpecError(path, f"must be an ISO-8601 date-time string, got {value!r}")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise SpecError(path, f"must be an ISO-8601 date-time (e.g. 2025-11-10T07:00:00+07:00), got {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)

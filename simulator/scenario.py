"""A simulation request parsed into frozen dataclasses, with errors that name the offending field.

The legacy body (``contracts/legacy-top3-request.json``) is accepted unchanged; ``financial_params``
and ``simulation`` are optional additions (``contracts/ref-a.json``). Every validation error is a
:class:`SpecError` whose message starts with the field path, e.g.
``decision_variables.alokasi_truk[2]: must be a positive integer, got -1`` (the API maps it to 422,
the command line to exit code 2).
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from simulator.economics import FinancialParams
from training.schema import normalise_road_condition, normalise_shift, normalise_weather

#: Longest shift a request may simulate (one week), h. Guards memory and time, not physics.
MAX_DURATION_HOURS: float = 168.0
#: Most replications per scenario a request may ask for (the grid limit of the settings applies too).
MAX_REPLICATIONS: int = 1000
#: Keys the optional ``simulation`` section accepts (anything else is a typo and is refused).
SIMULATION_KEYS: tuple[str, ...] = ("duration_hours", "replications", "seed", "deterministic", "dump_bays")


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
    """The decision variables: every truck count x every excavator count (sorted, deduplicated)."""

    truck_counts: tuple[int, ...]
    excavator_counts: tuple[int, ...]

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
class RequestSpec:
    """A whole parsed request; ``financial`` comes from ``economics.FinancialParams.from_request``."""

    conditions: Conditions
    grid: Grid
    simulation: SimulationParams
    financial: FinancialParams = field(default_factory=FinancialParams)

    @property
    def simulations(self) -> int:
        """Scenarios x replications: the work the request asks for."""
        return len(self.grid.scenarios) * self.simulation.effective_replications


def scenario_key(trucks: int, excavators: int) -> str:
    """The scenario's name in results: ``T10-E2``."""
    return f"T{trucks}-E{excavators}"


# --- field parsers --------------------------------------------------------------------------------

def _section(body: Mapping[str, Any], name: str, required: bool) -> Mapping[str, Any]:
    value = body.get(name)
    if value is None:
        if required:
            raise SpecError(name, "required object is missing")
        return {}
    if not isinstance(value, Mapping):
        raise SpecError(name, f"must be an object, got {type(value).__name__}")
    return value


def _category(section: Mapping[str, Any], path: str, key: str, normalise) -> str:
    if section.get(key) is None:
        raise SpecError(f"{path}.{key}", "required value is missing")
    try:
        return normalise(section[key])
    except ValueError as exc:
        raise SpecError(f"{path}.{key}", str(exc)) from None


def _optional_id(section: Mapping[str, Any], path: str, key: str) -> str | None:
    value = section.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise SpecError(f"{path}.{key}", f"must be a non-empty string id or null, got {value!r}")
    return value.strip()


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


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _counts(section: Mapping[str, Any], path: str, key: str) -> tuple[int, ...]:
    where = f"{path}.{key}"
    values = section.get(key)
    if values is None:
        raise SpecError(where, "required list is missing")
    if not isinstance(values, (list, tuple)):
        raise SpecError(where, f"must be a list of positive integers, got {type(values).__name__}")
    if not values:
        raise SpecError(where, "must not be empty")
    for i, v in enumerate(values):
        if not _is_int(v) or v < 1:
            raise SpecError(f"{where}[{i}]", f"must be a positive integer, got {v!r}")
    return tuple(sorted(set(values)))


def _simulation(section: Mapping[str, Any], defaults: SimulationParams) -> SimulationParams:
    unknown = sorted(set(section) - set(SIMULATION_KEYS))
    if unknown:
        raise SpecError(f"simulation.{unknown[0]}", f"unknown key; accepted: {', '.join(SIMULATION_KEYS)}")
    out = defaults
    if section.get("duration_hours") is not None:
        v = section["duration_hours"]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not 0 < v <= MAX_DURATION_HOURS:
            raise SpecError("simulation.duration_hours", f"must be a number in (0, {MAX_DURATION_HOURS:g}], got {v!r}")
        out = replace(out, duration_hours=float(v))
    if section.get("replications") is not None:
        v = section["replications"]
        if not _is_int(v) or not 1 <= v <= MAX_REPLICATIONS:
            raise SpecError("simulation.replications", f"must be an integer in [1, {MAX_REPLICATIONS}], got {v!r}")
        out = replace(out, replications=v)
    if section.get("seed") is not None:
        v = section["seed"]
        if not _is_int(v) or v < 0:
            raise SpecError("simulation.seed", f"must be a non-negative integer, got {v!r}")
        out = replace(out, seed=v)
    if section.get("deterministic") is not None:
        v = section["deterministic"]
        if not isinstance(v, bool):
            raise SpecError("simulation.deterministic", f"must be true or false, got {v!r}")
        out = replace(out, deterministic=v)
    if section.get("dump_bays") is not None:
        v = section["dump_bays"]
        if not _is_int(v) or v < 1:
            raise SpecError("simulation.dump_bays", f"must be a positive integer, got {v!r}")
        out = replace(out, dump_bays=v)
    return out


def parse_request(body: Any, *, defaults: SimulationParams | None = None,
                  max_simulations: int | None = None) -> RequestSpec:
    """Parse and validate a request body (legacy or extended); raises SpecError naming the field.

    ``defaults`` fills what the body's ``simulation`` section leaves out (the settings' defaults);
    ``max_simulations`` caps scenarios x replications.
    """
    if not isinstance(body, Mapping):
        raise SpecError("(body)", f"must be a JSON object, got {type(body).__name__}")
    fixed = _section(body, "fixed_conditions", required=True)
    path = "fixed_conditions"
    conditions = Conditions(
        weather=_category(fixed, path, "weatherCondition", normalise_weather),
        road_condition=_category(fixed, path, "roadCondition", normalise_road_condition),
        shift=_category(fixed, path, "shift", normalise_shift),
        road_id=_optional_id(fixed, path, "target_road_id"),
        excavator_id=_optional_id(fixed, path, "target_excavator_id"),
        schedule_id=_optional_id(fixed, path, "target_schedule_id"),
        start=parse_start(fixed.get("simulation_start_date"), f"{path}.simulation_start_date"),
    )
    decisions = _section(body, "decision_variables", required=True)
    grid = Grid(truck_counts=_counts(decisions, "decision_variables", "alokasi_truk"),
                excavator_counts=_counts(decisions, "decision_variables", "jumlah_excavator"))
    try:
        financial = FinancialParams.from_request(body.get("financial_params"))
    except ValueError as exc:
        raise SpecError("financial_params", str(exc)) from None
    simulation = _simulation(_section(body, "simulation", required=False), defaults or SimulationParams())
    spec = RequestSpec(conditions=conditions, grid=grid, simulation=simulation, financial=financial)
    if max_simulations is not None and spec.simulations > max_simulations:
        raise SpecError(
            "simulation.replications",
            f"{len(grid.scenarios)} scenarios x {simulation.effective_replications} replications = "
            f"{spec.simulations} simulations exceeds the limit of {max_simulations}")
    return spec

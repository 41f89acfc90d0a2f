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

from simulator.dispatch import RULES
from simulator.economics import FinancialParams
from simulator.model import DEFAULT_DUMP_BAYS
from simulator.network import Closure, Destination, LoadingPoint
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

    loading_points: tuple = ()   # simulator.network.LoadingPoint
    destinations: tuple = ()     # simulator.network.Destination
    single_lane: tuple[str, ...] = ()
    headway_min: float | None = None  # None: ``network_model.DEFAULT_HEADWAY_MIN``
    excavator_ids: tuple[tuple[str, ...], ...] = ()  # per loading point, the named excavators (may be empty)


@dataclass(frozen=True)
class RequestSpec:
    """A whole parsed request; ``financial`` comes from ``economics.FinancialParams.from_request``."""

    conditions: Conditions
    grid: Grid
    simulation: SimulationParams
    financial: FinancialParams = field(default_factory=FinancialParams)
    network: NetworkSpec | None = None

    @property
    def simulations(self) -> int:
        """Strategies x replications: the work the request asks for."""
        return len(self.grid.strategies) * self.simulation.effective_replications


def scenario_key(trucks: int, excavators: int, dispatch: str = "fixed") -> str:
    """The strategy's name in results: ``T10-E2`` (fixed dispatch), ``T10-E2/shortest_wait``."""
    return f"T{trucks}-E{excavators}" if dispatch == "fixed" else f"T{trucks}-E{excavators}/{dispatch}"


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
    network = parse_network(body.get("network"))
    grid = Grid(truck_counts=_counts(decisions, "decision_variables", "alokasi_truk"),
                excavator_counts=_counts(decisions, "decision_variables", "jumlah_excavator"),
                dispatch=_dispatch(decisions, network))
    try:
        financial = FinancialParams.from_request(body.get("financial_params"))
    except ValueError as exc:
        raise SpecError("financial_params", str(exc)) from None
    simulation = _simulation(_section(body, "simulation", required=False), defaults or SimulationParams())
    spec = RequestSpec(conditions=conditions, grid=grid, simulation=simulation, financial=financial,
                       network=network)
    if max_simulations is not None and spec.simulations > max_simulations:
        raise SpecError(
            "simulation.replications",
            f"{len(grid.strategies)} scenarios x {simulation.effective_replications} replications = "
            f"{spec.simulations} simulations exceeds the limit of {max_simulations}")
    return spec


# --- the optional haul network (issue: several pits and dumps) -------------------------------------
NETWORK_KEYS: tuple[str, ...] = ("loading_points", "destinations", "single_lane", "headway_min")
LOADING_POINT_KEYS: tuple[str, ...] = ("id", "node", "excavators", "destinations")
DESTINATION_KEYS: tuple[str, ...] = ("id", "node", "bays", "share", "target_t", "closures")


def _keys(section: Mapping[str, Any], path: str, accepted: tuple[str, ...]) -> None:
    unknown = sorted(set(section) - set(accepted))
    if unknown:
        raise SpecError(f"{path}.{unknown[0]}", f"unknown key; accepted: {', '.join(accepted)}")


def _number(section: Mapping[str, Any], path: str, key: str, *, minimum: float = 0.0) -> float | None:
    v = section.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < minimum:
        raise SpecError(f"{path}.{key}", f"must be a number >= {minimum:g}, got {v!r}")
    return float(v)


def _text(section: Mapping[str, Any], path: str, key: str, default: str | None = None) -> str:
    v = section.get(key, default)
    if not isinstance(v, str) or not v.strip():
        raise SpecError(f"{path}.{key}", f"must be a non-empty string, got {v!r}")
    return v.strip()


def _objects(section: Mapping[str, Any], path: str) -> list[Mapping[str, Any]]:
    items = section.get(path.rsplit(".", 1)[-1])
    if not isinstance(items, list) or not items:
        raise SpecError(path, "must be a non-empty list of objects")
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise SpecError(f"{path}[{i}]", f"must be an object, got {type(item).__name__}")
    return items


def parse_network(value: Any) -> NetworkSpec | None:
    """The optional ``network`` section (None when absent); errors name the field."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise SpecError("network", f"must be an object, got {type(value).__name__}")
    _keys(value, "network", NETWORK_KEYS)
    points, ids = [], []
    for i, raw in enumerate(_objects(value, "network.loading_points")):
        path = f"network.loading_points[{i}]"
        _keys(raw, path, LOADING_POINT_KEYS)
        pid = _text(raw, path, "id")
        node = _text(raw, path, "node", pid)
        exc = raw.get("excavators", 1)
        named: tuple[str, ...] = ()
        if isinstance(exc, list):
            if not exc or not all(isinstance(x, str) and x.strip() for x in exc):
                raise SpecError(f"{path}.excavators", "must be a positive integer or a non-empty list of excavator ids")
            named = tuple(x.strip() for x in exc)
            count = len(named)
        elif _is_int(exc) and exc >= 1:
            count = exc
        else:
            raise SpecError(f"{path}.excavators", f"must be a positive integer or a list of excavator ids, got {exc!r}")
        dests = raw.get("destinations") or []
        if not isinstance(dests, list) or not all(isinstance(x, str) for x in dests):
            raise SpecError(f"{path}.destinations", "must be a list of destination ids")
        points.append(LoadingPoint(pid, node, count, tuple(dests)))
        ids.append(named)
    destinations = []
    for i, raw in enumerate(_objects(value, "network.destinations")):
        path = f"network.destinations[{i}]"
        _keys(raw, path, DESTINATION_KEYS)
        did = _text(raw, path, "id")
        bays = raw.get("bays", "default")
        if bays == "default":
            bays = DEFAULT_DUMP_BAYS
        elif bays is not None and (not _is_int(bays) or bays < 1):
            raise SpecError(f"{path}.bays", f"must be a positive integer or null (no dump queue), got {bays!r}")
        closures = []
        for k, c in enumerate(raw.get("closures") or []):
            cpath = f"{path}.closures[{k}]"
            if not isinstance(c, Mapping):
                raise SpecError(cpath, "must be an object with start_hour and end_hour")
            _keys(c, cpath, ("start_hour", "end_hour"))
            a, b = _number(c, cpath, "start_hour"), _number(c, cpath, "end_hour")
            if a is None or b is None or b <= a:
                raise SpecError(cpath, f"needs 0 <= start_hour < end_hour, got {c.get('start_hour')!r}, {c.get('end_hour')!r}")
            closures.append(Closure(a, b))
        destinations.append(Destination(did, _text(raw, path, "node", did), bays,
                                        share=_number(raw, path, "share"), target_t=_number(raw, path, "target_t"),
                                        closures=tuple(closures)))
    lanes = value.get("single_lane") or []
    if not isinstance(lanes, list) or not all(isinstance(x, str) and x for x in lanes):
        raise SpecError("network.single_lane", "must be a list of road segment ids or codes")
    return NetworkSpec(tuple(points), tuple(destinations), tuple(lanes), _number(value, "network", "headway_min"),
                       tuple(ids))


def _dispatch(decisions: Mapping[str, Any], network: NetworkSpec | None) -> tuple[str, ...]:
    """``decision_variables.dispatch``: rule names (deduplicated, request order); default fixed."""
    values = decisions.get("dispatch")
    if values is None:
        return ("fixed",)
    if not isinstance(values, list) or not values:
        raise SpecError("decision_variables.dispatch", f"must be a non-empty list of rule names ({', '.join(RULES)})")
    out: list[str] = []
    for i, v in enumerate(values):
        if v not in RULES:
            raise SpecError(f"decision_variables.dispatch[{i}]", f"unknown rule {v!r}; known: {', '.join(RULES)}")
        if v not in out:
            out.append(v)
    if any(v != "fixed" for v in out) and (network is None or len(network.loading_points) < 2):
        raise SpecError("decision_variables.dispatch",
                        "dynamic rules choose between loading points: give a network with at least two")
    return tuple(out)

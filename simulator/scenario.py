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
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from simulator.dispatch import RULES
from simulator.economics import FinancialParams
from simulator.model import DEFAULT_DUMP_BAYS
from simulator.network import Closure, Destination, LoadingPoint

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

    loading_points: tuple = ()   # simulator.network.LoadingPoint
    destinations: tuple = ()     # simulator.network.Destination
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

    def with_grid(self, trucks: int, excavators: int, replications: int | None = None) -> "RequestSpec":
        """The same request for one strategy (the chat's what-if), optionally with other replications."""
        simulation = self.simulation if replications is None else replace(self.simulation, replications=replications)
        return replace(self, grid=replace(self.grid, truck_counts=(trucks,), excavator_counts=(excavators,)),
                       simulation=simulation)

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


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


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

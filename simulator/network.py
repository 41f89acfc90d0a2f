"""The haul network: loading points, destinations (dumps) and junctions joined by road segments.

Built from the fleet export: every ``road_segments`` row is an edge between its ``startPoint`` and
``endPoint`` with its ``distance`` (km), ``gradient`` (% rise from start to end), ``maxSpeed`` (km/h) and
``roadCondition``; loading points and destinations are nodes named by the request (``network`` part of
the spec) or by the hauling records' ``loadingPointId``/``dumpingPointId`` (:func:`infer_points`).
Every other node is a junction. Roads are two-way: traversed from end to start, the gradient changes
sign. A segment may be single-lane (no passing; the bunching of ``network_model``).

Routes are the fastest paths at free-flow speed (``distance / maxSpeed``, Dijkstra over parallel
segments too); what a truck then needs on each leg comes from the calibrated travel-time models
(``simulator.travel``). Pure data and functions: nothing here reads files.
"""
from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

from simulator.model import DEFAULT_DUMP_BAYS
from simulator.scenario import SpecError

#: Road-segment columns a network is built from (``training.schema`` names).
ROAD_COLUMNS: tuple[str, ...] = ("id", "startPoint", "endPoint", "distance", "gradient", "maxSpeed",
                                 "roadCondition")


class NetworkError(SpecError):
    """The network is not usable: ``field`` names what is wrong (a request path or a table column)."""


@dataclass(frozen=True)
class Edge:
    """One road segment (two-way)."""

    id: str
    start: str
    end: str
    length_km: float
    gradient_pct: float       # rise from start to end, %
    max_speed_kmh: float
    road_condition: str
    single_lane: bool = False  # no passing: trucks keep their order and a minimum headway


@dataclass(frozen=True)
class Leg:
    """An edge traversed in one direction (``forward``: start to end)."""

    edge: Edge
    forward: bool

    @property
    def gradient_pct(self) -> float:
        """Rise in the direction of travel, %."""
        return self.edge.gradient_pct if self.forward else -self.edge.gradient_pct

    @property
    def lane(self) -> str:
        """The single-lane queue this leg uses (one per direction), '' when passing is allowed."""
        return f"{self.edge.id}{'>' if self.forward else '<'}" if self.edge.single_lane else ""


@dataclass(frozen=True)
class Closure:
    """A destination closed for a period of the shift (crusher down), hours from the shift start."""

    start_hour: float
    end_hour: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start_hour) and math.isfinite(self.end_hour)
                and 0 <= self.start_hour < self.end_hour):
            raise ValueError(f"a closure needs 0 <= start_hour < end_hour, got {self.start_hour}, {self.end_hour}")


@dataclass(frozen=True)
class LoadingPoint:
    """A loading face at ``node`` with up to ``excavators`` loaders; ``destinations``: allowed dumps (all when empty)."""

    id: str
    node: str
    excavators: int = 1
    destinations: tuple[str, ...] = ()


@dataclass(frozen=True)
class Destination:
    """A dump (ROM pad, crusher, waste dump) at ``node`` with ``bays`` tipping places (None: no queue).

    ``share``: wanted share of the tonnes; ``target_t``: tonnes wanted in the shift. Without either the
    destinations share equally; with targets only, the shares follow the targets.
    """

    id: str
    node: str
    bays: int | None = DEFAULT_DUMP_BAYS
    share: float | None = None
    target_t: float | None = None
    closures: tuple[Closure, ...] = ()


@dataclass(frozen=True)
class HaulNetwork:
    """Edges, loading points and destinations; routes between them."""

    edges: tuple[Edge, ...]
    loading_points: tuple[LoadingPoint, ...]
    destinations: tuple[Destination, ...]
    _adjacency: dict = field(default=None, init=False, repr=False, compare=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if not self.loading_points:
            raise NetworkError("network.loading_points", "at least one loading point is needed")
        if not self.destinations:
            raise NetworkError("network.destinations", "at least one destination is needed")
        nodes = self.nodes
        for kind, items in (("loading_points", self.loading_points), ("destinations", self.destinations)):
            ids = [p.id for p in items]
            if len(set(ids)) != len(ids):
                raise NetworkError(f"network.{kind}", f"ids must be unique, got {ids}")
            for i, p in enumerate(items):
                if p.node not in nodes:
                    raise NetworkError(f"network.{kind}[{i}].node", f"unknown node {p.node!r} (no road reaches it)")
        known = {d.id for d in self.destinations}
        for i, lp in enumerate(self.loading_points):
            if lp.excavators < 1:
                raise NetworkError(f"network.loading_points[{i}].excavators", f"must be >= 1, got {lp.excavators}")
            for d in lp.destinations:
                if d not in known:
                    raise NetworkError(f"network.loading_points[{i}].destinations", f"unknown destination {d!r}")
        adjacency: dict[str, list[Leg]] = {}
        for e in self.edges:
            adjacency.setdefault(e.start, []).append(Leg(e, True))
            adjacency.setdefault(e.end, []).append(Leg(e, False))
        object.__setattr__(self, "_adjacency", adjacency)
        self.shares()  # validates shares and targets

    @property
    def nodes(self) -> set[str]:
        return {e.start for e in self.edges} | {e.end for e in self.edges}

    @property
    def total_excavators(self) -> int:
        return sum(lp.excavators for lp in self.loading_points)

    def route(self, a: str, b: str) -> tuple[Leg, ...]:
        """Fastest legs from node ``a`` to node ``b`` at free-flow speed (distance / speed limit)."""
        if a == b:
            return ()
        best = {a: 0.0}
        back: dict[str, Leg] = {}
        heap = [(0.0, a)]
        while heap:
            t, node = heapq.heappop(heap)
            if node == b:
                break
            if t > best.get(node, math.inf):
                continue
            for leg in self._adjacency.get(node, ()):
                nxt = leg.edge.end if leg.forward else leg.edge.start
                cost = t + leg.edge.length_km / max(leg.edge.max_speed_kmh, 1e-6)
                if cost < best.get(nxt, math.inf):
                    best[nxt] = cost
                    back[nxt] = leg
                    heapq.heappush(heap, (cost, nxt))
        if b not in back:
            raise NetworkError("network", f"no road joins {a!r} and {b!r}")
        legs = []
        node = b
        while node != a:
            leg = back[node]
            legs.append(leg)
            node = leg.edge.start if leg.forward else leg.edge.end
        return tuple(reversed(legs))

    def allowed(self, lp: int) -> tuple[int, ...]:
        """Destination indices loading point ``lp`` may send to."""
        names = self.loading_points[lp].destinations
        return tuple(i for i, d in enumerate(self.destinations) if not names or d.id in names)

    def shares(self) -> tuple[float, ...]:
        """Wanted tonnage share per destination (sums to 1)."""
        dests = self.destinations
        if any(d.share is not None for d in dests):
            if not all(d.share is not None for d in dests):
                raise NetworkError("network.destinations", "give a share for every destination or for none")
            raw = [float(d.share) for d in dests]  # type: ignore[arg-type]
        elif any(d.target_t is not None for d in dests):
            if not all(d.target_t is not None for d in dests):
                raise NetworkError("network.destinations", "give a target_t for every destination or for none")
            raw = [float(d.target_t) for d in dests]  # type: ignore[arg-type]
        else:
            raw = [1.0] * len(dests)
        if any(not math.isfinite(x) or x < 0 for x in raw) or sum(raw) <= 0:
            raise NetworkError("network.destinations", f"shares/targets must be >= 0 with a positive sum, got {raw}")
        total = sum(raw)
        return tuple(x / total for x in raw)

    def excavator_layout(self, excavators: int) -> tuple[int, ...]:
        """Loading point index of each of the first ``excavators`` loaders, in deal order: round-robin over
        the loading points in their order, each up to its ``excavators`` (a grid's excavator count is the
        total deployed; a smaller count is a prefix of a larger one)."""
        if not 1 <= excavators <= self.total_excavators:
            raise NetworkError("decision_variables.jumlah_excavator",
                               f"{excavators} excavators asked for but the network's loading points hold "
                               f"{self.total_excavators}")
        left = [lp.excavators for lp in self.loading_points]
        out: list[int] = []
        while len(out) < excavators:
            for i in range(len(left)):
                if left[i] and len(out) < excavators:
                    out.append(i)
                    left[i] -= 1
        return tuple(out)


def one_road(road_id: str, length_km: float, gradient_pct: float, max_speed_kmh: float, road_condition: str,
             dump_bays: int | None = DEFAULT_DUMP_BAYS, excavators: int = 1) -> HaulNetwork:
    """Today's mine as a network: one loading point and one dump at the two ends of one road."""
    edge = Edge(road_id, "LOAD", "DUMP", length_km, gradient_pct, max_speed_kmh, road_condition)
    return HaulNetwork((edge,), (LoadingPoint("LOAD", "LOAD", excavators),),
                       (Destination("DUMP", "DUMP", dump_bays),))


def edges_from_road_segments(roads: pd.DataFrame, single_lane: Iterable[str] = (),
                             active_only: bool = True) -> tuple[tuple[Edge, ...], list[str]]:
    """Edges from a ``road_segments`` table; rows without both end points, with a non-positive length or
    speed limit are left out and returned as quarantine reasons (``id: problem``)."""
    missing = [c for c in ROAD_COLUMNS if c not in roads.columns]
    if missing:
        raise NetworkError("road_segments", f"missing column(s) {missing}")
    lanes = set(single_lane)
    frame = roads
    if active_only and "isActive" in roads.columns:
        flag = roads["isActive"].astype(str).str.strip().str.lower().isin({"true", "1", "yes"})
        frame = roads[flag]
    edges, rejected = [], []
    for row in frame.itertuples(index=False):
        rid = str(row.id)
        start, end = row.startPoint, row.endPoint
        length = pd.to_numeric(pd.Series([row.distance]), errors="coerce").iloc[0]
        speed = pd.to_numeric(pd.Series([row.maxSpeed]), errors="coerce").iloc[0]
        grade = pd.to_numeric(pd.Series([row.gradient]), errors="coerce").iloc[0]
        if not isinstance(start, str) or not isinstance(end, str) or not start or not end or start == end:
            rejected.append(f"{rid}: startPoint/endPoint missing or equal")
        elif not (length > 0) or not (speed > 0):
            rejected.append(f"{rid}: distance and maxSpeed must be > 0")
        else:
            edges.append(Edge(rid, start, end, float(length), 0.0 if pd.isna(grade) else float(grade), float(speed),
                              str(row.roadCondition), rid in lanes or str(getattr(row, "code", "")) in lanes))
    unknown = lanes - {e.id for e in edges} - {str(c) for c in roads.get("code", pd.Series(dtype=str))}
    if unknown:
        raise NetworkError("network.single_lane", f"unknown road segment(s) {sorted(unknown)}")
    return tuple(edges), rejected


def infer_points(hauling: pd.DataFrame, excavators: pd.DataFrame, nodes: set[str],
                 bays: int | None = DEFAULT_DUMP_BAYS) -> tuple[tuple[LoadingPoint, ...], tuple[Destination, ...]]:
    """Loading points and destinations from the hauling records: every ``loadingPointId``/``dumpingPointId``
    that is a road node; a loading point's loaders are the active excavators located there (at least one);
    a destination's share is its observed share of the tonnes (``loadWeight``)."""
    for column in ("loadingPointId", "dumpingPointId"):
        if column not in hauling.columns:
            raise NetworkError(f"hauling_activities.{column}", "column missing: the records name no points")
    located = excavators["currentLocation"].astype(str).value_counts() if "currentLocation" in excavators else {}
    loads = [p for p in pd.unique(hauling["loadingPointId"].dropna().astype(str)) if p in nodes]
    lps = tuple(LoadingPoint(p, p, max(1, int(located.get(p, 0))) if hasattr(located, "get") else 1)
                for p in sorted(loads))
    weight = pd.to_numeric(hauling.get("loadWeight"), errors="coerce").fillna(0.0)
    by_dump = weight.groupby(hauling["dumpingPointId"].astype(str)).sum()
    dests = tuple(Destination(d, d, bays, share=float(by_dump[d]) / float(by_dump.sum()))
                  for d in sorted(by_dump.index) if d in nodes and by_dump.sum() > 0)
    if not lps or not dests:
        raise NetworkError("hauling_activities.loadingPointId",
                           "the records' loading/dumping points are not road nodes: name them in the request")
    return lps, dests


def build_network(roads: pd.DataFrame, loading_points: Sequence[LoadingPoint], destinations: Sequence[Destination],
                  single_lane: Iterable[str] = ()) -> tuple[HaulNetwork, list[str]]:
    """A network over the export's road segments (quarantined rows returned beside it)."""
    edges, rejected = edges_from_road_segments(roads, single_lane)
    return HaulNetwork(edges, tuple(loading_points), tuple(destinations)), rejected


def edge_table(legs: Sequence[Leg]) -> pd.DataFrame:
    """Road rows (``road_segments`` columns) for legs, with the gradient of the travel direction; ids
    are ``<edge id>`` forward and ``<edge id>~r`` reversed (joined by ``training.features``)."""
    return pd.DataFrame([{"id": leg_id(leg), "distance": leg.edge.length_km, "gradient": leg.gradient_pct,
                          "maxSpeed": leg.edge.max_speed_kmh, "roadCondition": leg.edge.road_condition}
                         for leg in legs])


def leg_id(leg: Leg) -> str:
    return leg.edge.id if leg.forward else f"{leg.edge.id}~r"


def as_mapping(net: HaulNetwork) -> Mapping[str, object]:
    """A short description for reports."""
    return {"loading_points": [lp.id for lp in net.loading_points], "destinations": [d.id for d in net.destinations],
            "edges": len(net.edges), "single_lane": [e.id for e in net.edges if e.single_lane]}

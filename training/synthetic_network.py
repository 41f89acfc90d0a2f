"""A sample mine on a haul network with known truth: several pits and dumps, a single-lane ramp.

``training.synthetic`` writes a one-road mine's export; this module builds the network counterpart
from the same physics (``training.ground_truth``): road segments (``road_segments`` columns, one of
them a single-lane ramp), pits with their excavators, dumps with tipping bays and tonnage shares, and
a small heap-based event simulation of shifts that writes hauling records carrying
``loadingPointId``/``dumpingPointId``. Like ``training.synthetic`` it does not use SimPy (the simulator
under test must not share an engine with the data it is checked on) and imports nothing outside
``training``.

The mine, as the simulator is asked to model it (each rule written here independently):

* Trucks are dealt to pits in proportion to their excavators, in truck order (each truck to the pit
  furthest below its share of the trucks dealt so far) and always return there (fixed assignment);
  they leave the line-up ``lineup_min`` apart.
* A pit's excavators serve its trucks FIFO, the excavator free first taking the next truck; a
  loaded truck goes to the dump furthest below its tonnage share of the tonnes sent so far.
* A route is the fastest path at the posted speeds. Its minutes = (manoeuvring minutes + the sum
  of distance / speed over its segments, ``ground_truth.travel_speeds_kmh``) x the driver's
  experience factor x one lognormal factor per trip (``phase_sigma``); the manoeuvring part is
  driven first. On the single-lane ramp a truck leaves no earlier than ``headway_min`` after the
  truck ahead of it in its direction (no passing).
* A dump has ``bays`` tipping places, FIFO. Loading and dumping minutes and payloads are drawn from
  ``ground_truth`` (``phase_means_min`` x lognormal, ``payload_t``). No delays or breakdowns: the
  truth is about routes, queues, bunching and destinations.
* A cycle starts only if its drawn minutes end within the shift; started cycles finish and count.

:func:`run_shifts` returns the records and the truth measured on them (mean cycle minutes, tonnes per
shift per dump, bunching minutes); :func:`road_segments` the ``road_segments`` rows of the mine.
"""
from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from training.ground_truth import (CycleContext, GroundTruth, experience_time_factor, lognormal_around,
                                   payload_t, phase_means_min, travel_speeds_kmh)

_MIN_PER_HOUR = 60.0


@dataclass(frozen=True)
class Road:
    """One two-way road segment (``road_segments`` row); gradient is the rise from start to end, %."""

    id: str
    start: str
    end: str
    distance_km: float
    gradient_pct: float
    max_speed_kmh: float
    road_condition: str = "GOOD"
    single_lane: bool = False


@dataclass(frozen=True)
class Pit:
    id: str
    node: str
    excavators: int
    bucket_m3: float = 5.0


@dataclass(frozen=True)
class Dump:
    id: str
    node: str
    bays: int
    share: float


@dataclass(frozen=True)
class NetworkMine:
    """The mine and the conditions of its shifts."""

    roads: tuple[Road, ...]
    pits: tuple[Pit, ...]
    dumps: tuple[Dump, ...]
    trucks: int = 30
    truck_capacity_t: float = 30.0
    operator_years: float = 5.0
    weather: str = "CERAH"
    shift: str = "SHIFT_1"
    shift_hours: float = 8.0
    lineup_min: float = 1.0
    #: Minimum time between two trucks leaving the single-lane ramp in one direction, min (the
    #: simulator's ``DEFAULT_HEADWAY_MIN``: the common 30 s following rule).
    headway_min: float = 0.5


def sample_network_mine(trucks: int = 30) -> NetworkMine:
    """Three pits (2, 2, 1 excavators) join at the pit bottom, climb one single-lane ramp to the
    surface junction, and reach a ROM pad (2 bays, 60 % of the tonnes) and a waste dump (1 bay)."""
    roads = (Road("R-P1", "PIT-1", "BOTTOM", 0.8, 2.0, 30.0), Road("R-P2", "PIT-2", "BOTTOM", 1.1, -1.0, 30.0),
             Road("R-P3", "PIT-3", "BOTTOM", 0.6, 0.0, 30.0, "FAIR"),
             Road("RAMP", "BOTTOM", "TOP", 1.2, 8.0, 25.0, single_lane=True),
             Road("R-ROM", "TOP", "ROM", 2.5, 1.0, 40.0), Road("R-WD", "TOP", "WASTE", 1.8, -2.0, 40.0, "FAIR"))
    return NetworkMine(roads, (Pit("PIT-1", "PIT-1", 2), Pit("PIT-2", "PIT-2", 2), Pit("PIT-3", "PIT-3", 1)),
                       (Dump("ROM", "ROM", 2, 0.6), Dump("WASTE", "WASTE", 1, 0.4)), trucks=trucks)


def road_segments(mine: NetworkMine) -> pd.DataFrame:
    """The mine's roads as ``road_segments`` rows (``training.schema`` column names)."""
    return pd.DataFrame([{"id": r.id, "startPoint": r.start, "endPoint": r.end, "distance": r.distance_km,
                          "gradient": r.gradient_pct, "maxSpeed": r.max_speed_kmh, "roadCondition": r.road_condition}
                         for r in mine.roads])


def route(mine: NetworkMine, a: str, b: str) -> list[tuple[Road, bool]]:
    """Fastest (road, forward) legs from ``a`` to ``b`` at the posted speeds (Dijkstra)."""
    adjacent: dict[str, list[tuple[Road, bool, str]]] = {}
    for r in mine.roads:
        adjacent.setdefault(r.start, []).append((r, True, r.end))
        adjacent.setdefault(r.end, []).append((r, False, r.start))
    best, came, heap = {a: 0.0}, {}, [(0.0, a)]
    while heap:
        t, node = heapq.heappop(heap)
        if node == b:
            break
        if t > best[node]:
            continue
        for r, forward, nxt in adjacent.get(node, ()):
            u = t + r.distance_km / r.max_speed_kmh
            if u < best.get(nxt, math.inf):
                best[nxt], came[nxt] = u, (r, forward, node)
                heapq.heappush(heap, (u, nxt))
    if b not in best:
        raise ValueError(f"no road from {a} to {b}")
    legs, node = [], b
    while node != a:
        r, forward, node = came[node]
        legs.append((r, forward))
    return legs[::-1]


@dataclass(frozen=True)
class _Trip:
    """A route's mean minutes: manoeuvring first, then each leg (lane key or '' when passing is allowed)."""

    fixed_min: float
    legs: tuple[tuple[float, str], ...]

    @property
    def mean_min(self) -> float:
        return self.fixed_min + sum(m for m, _ in self.legs)


def _trip(mine: NetworkMine, a: str, b: str, loaded: bool, g: GroundTruth) -> _Trip:
    driver = float(experience_time_factor(mine.operator_years, g))
    legs = []
    for r, forward in route(mine, a, b):
        ctx = CycleContext(r.distance_km, r.max_speed_kmh, r.gradient_pct if forward else -r.gradient_pct,
                           r.road_condition, mine.weather, mine.shift, 0.0, mine.truck_capacity_t, 5.0)
        v_loaded, v_empty = travel_speeds_kmh(ctx, g)
        v = float(v_loaded if loaded else v_empty)
        lane = f"{r.id}{'>' if forward else '<'}" if r.single_lane else ""
        legs.append((_MIN_PER_HOUR * r.distance_km / v * driver, lane))
    fixed = (g.hauling_fixed_min if loaded else g.returning_fixed_min) * driver
    return _Trip(fixed, tuple(legs))


@dataclass
class NetworkTruth:
    """What the shifts gave, measured on the records (means over shifts)."""

    shifts: int
    cycle_time_min: float
    loads_per_shift: float
    production_t_per_shift: dict[str, float]
    bunching_min_per_shift: float
    loading_min: dict[str, float] = field(default_factory=dict)   # mean loading minutes per pit
    dumping_min: float = 0.0
    payload_mean_t: float = 0.0
    payload_residuals_t: np.ndarray = field(default_factory=lambda: np.zeros(0))


def truck_pits(mine: NetworkMine) -> list[int]:
    """Each truck's pit: the pit furthest below its share of the trucks dealt so far (ties: first)."""
    total = sum(p.excavators for p in mine.pits)
    given = [0] * len(mine.pits)
    out = []
    for i in range(mine.trucks):
        gaps = [(i + 1) * p.excavators / total - given[k] for k, p in enumerate(mine.pits)]
        k = gaps.index(max(gaps))
        out.append(k)
        given[k] += 1
    return out


def run_shifts(mine: NetworkMine, shifts: int, seed: int, gt: GroundTruth | None = None
               ) -> tuple[pd.DataFrame, NetworkTruth]:
    """Simulate ``shifts`` independent shifts; the cycle records and the truth measured on them."""
    g = gt or GroundTruth()
    rng = np.random.default_rng(seed)
    n_dumps = len(mine.dumps)
    haul = [[_trip(mine, p.node, d.node, True, g) for d in mine.dumps] for p in mine.pits]
    back = [[_trip(mine, d.node, p.node, False, g) for p in mine.pits] for d in mine.dumps]
    means = [phase_means_min(CycleContext(1.0, 30.0, 0.0, "GOOD", mine.weather, mine.shift,
                                          mine.operator_years, mine.truck_capacity_t, p.bucket_m3), g)
             for p in mine.pits]
    load_mean = [float(m["loading"]) for m in means]
    dump_mean = float(means[0]["dumping"])
    sigma = g.phase_sigma
    homes = truck_pits(mine)
    shift_min = mine.shift_hours * _MIN_PER_HOUR
    rows: list[dict] = []
    lost_total = 0.0
    for s in range(shifts):
        free = [[0.0] * p.excavators for p in mine.pits]
        bays = [[0.0] * d.bays for d in mine.dumps]
        lane_exit: dict[str, float] = {}
        sent = [0.0] * n_dumps
        # Events: (minute, sequence, truck, what); trucks act at arrivals at a pit and at ramp entries.
        events = [(i * mine.lineup_min, i, i, "pit", None) for i in range(mine.trucks)]
        heapq.heapify(events)
        seq = mine.trucks
        while events:
            now, _, i, what, state = heapq.heappop(events)
            if what == "pit":
                if now >= shift_min:
                    continue
                p = homes[i]
                k = min(range(len(free[p])), key=lambda j: free[p][j])
                start = max(now, free[p][k])
                total_share = sum(d.share for d in mine.dumps)
                sent_all = sum(sent)
                d = max(range(n_dumps), key=lambda x: (mine.dumps[x].share / total_share * sent_all - sent[x], -x))
                load = float(lognormal_around(load_mean[p], sigma["loading"], rng))
                f_haul = float(lognormal_around(1.0, sigma["hauling"], rng))
                dump = float(lognormal_around(dump_mean, sigma["dumping"], rng))
                f_back = float(lognormal_around(1.0, sigma["returning"], rng))
                tonnes = float(payload_t(mine.truck_capacity_t, mine.pits[p].bucket_m3, mine.weather, rng))
                if start + load + haul[p][d].mean_min * f_haul + dump + back[d][p].mean_min * f_back > shift_min:
                    free[p][k] = start
                    continue
                free[p][k] = start + load
                sent[d] += tonnes
                cycle = dict(shift=s, truck=i, pit=p, dump=d, arrive=now, start=start, load=load, dump_min=dump,
                             tonnes=tonnes, f_back=f_back, lost=0.0)
                # drive the haul: manoeuvring then legs; the state is (cycle, trip, factor, leg index, clock, leg)
                state = [cycle, haul[p][d], f_haul, 0, start + load + haul[p][d].fixed_min * f_haul, "haul"]
                what = "drive"
            if what == "drive":
                cycle, trip, factor, k, clock, leg = state
                while k < len(trip.legs):
                    minutes, lane = trip.legs[k]
                    minutes *= factor
                    if lane:
                        if clock > now:  # reach the lane entry first: ramp order is the order of entries
                            heapq.heappush(events, (clock, seq, i, "drive", [cycle, trip, factor, k, clock, leg]))
                            seq += 1
                            break
                        leave = max(clock + minutes, lane_exit.get(lane, -math.inf) + mine.headway_min)
                        cycle["lost"] += leave - (clock + minutes)
                        lane_exit[lane] = leave
                        clock = leave
                    else:
                        clock += minutes
                    k += 1
                else:
                    if leg == "haul":  # at the dump: bays FIFO in arrival order
                        if clock > now:
                            heapq.heappush(events, (clock, seq, i, "dump", [cycle, clock]))
                            seq += 1
                        else:
                            events_dump = [cycle, clock]
                            seq = _tip(mine, events, seq, i, events_dump, bays, back)
                    else:  # back at the pit: the cycle ends
                        cycle["end"] = clock
                        rows.append(cycle)
                        lost_total += cycle["lost"]
                        heapq.heappush(events, (clock, seq, i, "pit", None))
                        seq += 1
                continue
            if what == "dump":
                seq = _tip(mine, events, seq, i, state, bays, back)
    records = pd.DataFrame(rows)
    truth = _measure(mine, records, shifts, lost_total, load_mean, dump_mean, g)
    return records, truth


def _tip(mine: NetworkMine, events: list, seq: int, i: int, state: list, bays: list, back: list) -> int:
    """A truck at its dump at ``state[1]``: take the bay free first, tip, then drive back."""
    cycle, arrival = state
    d, p = cycle["dump"], cycle["pit"]
    k = min(range(len(bays[d])), key=lambda j: bays[d][j])
    start = max(arrival, bays[d][k])
    bays[d][k] = start + cycle["dump_min"]
    cycle["dump_wait"] = start - arrival
    trip = back[d][p]
    clock = start + cycle["dump_min"] + trip.fixed_min * cycle["f_back"]
    heapq.heappush(events, (arrival, seq, i, "drive", [cycle, trip, cycle["f_back"], 0, clock, "back"]))
    return seq + 1


def _measure(mine: NetworkMine, records: pd.DataFrame, shifts: int, lost: float, load_mean: list,
             dump_mean: float, g: GroundTruth) -> NetworkTruth:
    cycle = records["end"] - records["arrive"]
    per_dump = {d.id: float(records.loc[records["dump"] == k, "tonnes"].sum()) / shifts
                for k, d in enumerate(mine.dumps)}
    rng = np.random.default_rng(0)
    draws = payload_t(np.full(4000, mine.truck_capacity_t), mine.pits[0].bucket_m3, mine.weather, rng, g)
    return NetworkTruth(shifts=shifts, cycle_time_min=float(cycle.mean()), loads_per_shift=len(records) / shifts,
                        production_t_per_shift=per_dump, bunching_min_per_shift=lost / shifts,
                        loading_min={p.id: load_mean[k] for k, p in enumerate(mine.pits)}, dumping_min=dump_mean,
                        payload_mean_t=float(draws.mean()), payload_residuals_t=draws - draws.mean())


def hauling_records(mine: NetworkMine, records: pd.DataFrame) -> pd.DataFrame:
    """The cycles with the export's point columns (``loadingPointId``, ``dumpingPointId``), minutes."""
    out = pd.DataFrame({
        "truckId": [f"T{int(i):03d}" for i in records["truck"]],
        "loadingPointId": [mine.pits[int(p)].id for p in records["pit"]],
        "dumpingPointId": [mine.dumps[int(d)].id for d in records["dump"]],
        "loadWeightTonnes": records["tonnes"].to_numpy(),
        "queueMinutes": (records["start"] - records["arrive"]).to_numpy(),
        "cycleMinutes": (records["end"] - records["arrive"]).to_numpy(),
    })
    return out

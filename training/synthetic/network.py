"""A haul-network sample mine's whole export (``python -m training.synthetic --network``).

The mine of ``training.synthetic_network.sample_network_mine`` (three pits with 2, 2 and 1 excavators
joined at the pit bottom, one single-lane ramp to the surface junction, a ROM pad with 2 tipping bays
taking 60 % of the tonnes and a waste dump with 1), run with the one-road sample mine's whole life
(``training.synthetic.events.Mine``): the fleet's trucks, excavators and operators, weather and road
wetness per shift, delays and incidents, breakdowns and maintenance. Like the rest of
``training.synthetic`` it uses no SimPy and imports nothing outside ``training``.

What the export holds beyond the one-road mine's:

* ``road_segments``: the network's roads (active; ``startPoint``/``endPoint`` the nodes; codes as the
  mine names them, the ramp ``RAMP``) and one *route* row per pit and dump (``isActive`` false: not a
  road of the graph): the haul's length, its length-weighted gradient in the loaded direction and the
  speed limit of its free-flow time (whole km/h, the table's type), as ``simulator.network_engine``
  describes a route to the models. A cycle's ``roadSegmentId`` is its route, so the models learn a
  route's minutes from the description the network simulator predicts it from.
* ``excavators``: the units working the network located at their pit (``currentLocation``).
* hauling records carrying ``loadingPointId``/``dumpingPointId``; a truck that waited for a tipping
  bay starts dumping after it arrived (``dumpingStartTime`` after ``arrivalTime``); the time a truck
  followed another on the ramp is part of its travel phase (the records hold phases, not passages).
* ``network.json``: the strategies request's ``network`` section of the mine, for
  ``python -m simulator.backtest --network``.

The rules of a shift (the network simulator's, written here independently):

* Each pit keeps its excavators; one down at the shift's start for the whole shift sits it out, and
  a pit without a working one is idle. Trucks and drivers are picked as in ``Mine``.
* Trucks are dealt to the working pits in proportion to their working excavators, in line-up order
  (each to the pit furthest below its share of the trucks dealt so far) and always return there
  (fixed assignment). The line-up is the whole network's: the k-th truck leaves it ``k x
  FleetPlan.dispatch_interval_min`` after the shift's preparation; a truck in the workshop then
  joins when it is repaired.
* A pit's excavators serve its trucks FIFO, the one free first (a broken one when repaired) taking
  the next truck. Given its loader, a truck is given the dump furthest below its tonnage share of the
  tonnes sent this shift (at the expected payload ``ground_truth.payload_mean_t``).
* Loading and dumping minutes as in ``Mine`` (``phase_means_min`` x lognormal). A route's minutes =
  (manoeuvring + the sum of 60 x length / speed over its legs) x the driver's experience factor x one
  lognormal factor per trip; the speeds are ``ground_truth.travel_speeds_kmh`` with each leg's
  gradient in the loaded direction (the models' convention: "positive when the loaded truck climbs",
  for the empty return too), in the day's road condition. Every road of the mine has one surveyed
  condition (:data:`NETWORK_ROAD_CONDITION`), worsened by the wetness as in ``Mine``, so a cycle's
  ``roadCondition`` is the condition of every road it used.
* Delays and incidents stop the truck between loading and departure, as in ``Mine``. On the
  single-lane ramp a truck leaves no earlier than ``NetworkMine.headway_min`` after the truck ahead
  of it in its direction (no passing). A dump's bays serve trucks FIFO in arrival order.
* A cycle starts only if its drawn minutes (without waits) end within the shift; started cycles finish
  and count. Breakdowns as in ``Mine``: a truck's breakdown cancels the cycle it ends.
"""
from __future__ import annotations

import dataclasses
import heapq
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from training.errors import BadInputError
from training.ground_truth import (
    CycleContext, GroundTruth, delay_logit, experience_time_factor, incident_probability, maintenance_delay_logit,
    payload_mean_t, phase_means_min, road_condition_today, sample_delay_min, sample_incident_stop_min,
    travel_speeds_kmh,
)
from training.schema import SHIFT_LENGTH_HOURS
from training.synthetic.build import Export, export_frames, working_fleet
from training.synthetic.events import Mine, _days_since, _free_at
from training.synthetic.fleet import FleetPlan, WorkingFleet
from training.synthetic.formats import DAY_S, SHIFT_S, iso_stamps, new_ids, shift_names
from training.synthetic.maintenance import maintenance_from_logs, preventive_plan
from training.synthetic.tables import hauling_frame
from training.synthetic_network import NetworkMine, Road, route, sample_network_mine

#: The surveyed condition of every road of the network sample mine (rain worsens them alike).
NETWORK_ROAD_CONDITION: str = "GOOD"
#: The file the strategies request's ``network`` section of the mine is written to, in the data folder.
NETWORK_FILE: str = "network.json"
#: Code prefix of a route row of ``road_segments`` (a pit-to-dump haul, not a road of the graph).
ROUTE_CODE_PREFIX: str = "ROUTE"
_MIN_PER_HOUR = 60.0
_S_PER_MIN = 60.0


def export_network_mine(trucks: int, layout: NetworkMine | None = None) -> NetworkMine:
    """The sample network mine (or ``layout``: other pits, dumps and roads) with ``trucks`` trucks, every
    road in :data:`NETWORK_ROAD_CONDITION`."""
    mine = sample_network_mine(trucks=trucks) if layout is None else dataclasses.replace(layout, trucks=trucks)
    roads = tuple(dataclasses.replace(r, road_condition=NETWORK_ROAD_CONDITION) for r in mine.roads)
    return dataclasses.replace(mine, roads=roads)


@dataclass(frozen=True)
class RouteRow:
    """A pit-to-dump haul as a road description: its legs (road, forward) and their aggregate."""

    pit: int
    dump: int
    code: str
    legs: tuple[tuple[Road, bool], ...]

    @property
    def distance_km(self) -> float:
        return sum(r.distance_km for r, _ in self.legs)

    @property
    def gradient_pct(self) -> float:
        """Length-weighted rise in the loaded direction, %."""
        return sum(r.distance_km * (r.gradient_pct if fwd else -r.gradient_pct) for r, fwd in self.legs) \
            / self.distance_km

    @property
    def max_speed_kmh(self) -> int:
        """The speed limit of the route's free-flow time (length / sum of length / limit), whole km/h."""
        return int(round(self.distance_km / sum(r.distance_km / r.max_speed_kmh for r, _ in self.legs)))


def route_rows(mine: NetworkMine) -> list[RouteRow]:
    """One row per (pit, dump), pit-major: the fastest route at the posted speeds."""
    return [RouteRow(p, d, f"{ROUTE_CODE_PREFIX}-{pit.id}-{dump.id}", tuple(route(mine, pit.node, dump.node)))
            for p, pit in enumerate(mine.pits) for d, dump in enumerate(mine.dumps)]


def network_road_segments(mine: NetworkMine, routes: list[RouteRow], export_s: float,
                          ids: np.random.Generator) -> pd.DataFrame:
    """``road_segments`` of the mine: its roads (active), then its routes (inactive)."""
    n_roads, n = len(mine.roads), len(mine.roads) + len(routes)
    site = new_ids(ids, 1)[0]
    frame = pd.DataFrame({
        "id": new_ids(ids, n),
        "code": [r.id for r in mine.roads] + [x.code for x in routes],
        "name": [f"{r.start} - {r.end}{' (single lane)' if r.single_lane else ''}" for r in mine.roads]
                + [f"Haul route {x.code[len(ROUTE_CODE_PREFIX) + 1:]}" for x in routes],
        "miningSiteId": site,
        "startPoint": [r.start for r in mine.roads] + [mine.pits[x.pit].node for x in routes],
        "endPoint": [r.end for r in mine.roads] + [mine.dumps[x.dump].node for x in routes],
        "distance": [r.distance_km for r in mine.roads] + [x.distance_km for x in routes],
        "roadCondition": [r.road_condition for r in mine.roads] + [x.legs[0][0].road_condition for x in routes],
        "maxSpeed": np.array([int(r.max_speed_kmh) for r in mine.roads] + [x.max_speed_kmh for x in routes],
                             dtype=np.int64),
        "gradient": [r.gradient_pct for r in mine.roads] + [x.gradient_pct for x in routes],
        "isActive": np.arange(n) < n_roads,
        "lastMaintenance": None,
    })
    frame["createdAt"] = frame["updatedAt"] = iso_stamps(export_s + np.arange(n) * 0.003)
    return frame


def network_section(mine: NetworkMine, excavator_ids: list[list[str]]) -> dict:
    """The strategies request's ``network`` part of the mine (``simulator.request.NetworkBody``)."""
    return {
        "loading_points": [{"id": p.id, "node": p.node, "excavators": ids} for p, ids in zip(mine.pits, excavator_ids)],
        "destinations": [{"id": d.id, "node": d.node, "bays": d.bays, "share": d.share} for d in mine.dumps],
        "single_lane": [r.id for r in mine.roads if r.single_lane],
        "headway_min": mine.headway_min,
    }


def excavator_pits(mine: NetworkMine, n_excavators: int) -> list[int]:
    """The pit of each working excavator: the first pit's count, then the next pit's, ..."""
    out = [p for p, pit in enumerate(mine.pits) for _ in range(pit.excavators)]
    if n_excavators < len(out):
        raise ValueError(f"the network mine needs {len(out)} excavators, the fleet has {n_excavators}")
    return out


def route_fleet(fleet: WorkingFleet, routes: list[RouteRow], road_ids: list[str]) -> WorkingFleet:
    """The working fleet with the routes as its roads (a cycle's ``road`` is its route's index)."""
    return dataclasses.replace(
        fleet, road_id=list(road_ids), road_distance=np.array([x.distance_km for x in routes]),
        road_speed=np.array([float(x.max_speed_kmh) for x in routes]),
        road_gradient=np.array([x.gradient_pct for x in routes]),
        road_condition=[x.legs[0][0].road_condition for x in routes])


def home_pits(trucks: int, loaders: list[int]) -> list[int]:
    """Fixed assignment: each truck, in line-up order, to the pit furthest below its share of the trucks
    dealt so far (shares in proportion to ``loaders``; ties: the first pit)."""
    total, given, out = sum(loaders), [0] * len(loaders), []
    for i in range(trucks):
        gaps = [(i + 1) * n / total - g for n, g in zip(loaders, given)]
        k = gaps.index(max(gaps))
        out.append(k)
        given[k] += 1
    return out


class NetworkEvents(Mine):
    """``Mine`` on a haul network (see the module docstring): one event heap per shift for all pits,
    the ramp and the dumps."""

    EXTRA_FIELDS = ("dump_wait_s", "loading_point", "dumping_point")

    def __init__(self, fleet: WorkingFleet, t0: float, maintenance, rng: np.random.Generator, gt: GroundTruth,
                 plan: FleetPlan, mine: NetworkMine, routes: list[RouteRow]):
        super().__init__(fleet, t0, maintenance, rng, gt, plan)
        self.net, self.routes = mine, routes
        self.exc_pit = excavator_pits(mine, len(fleet.exc_id))
        self.cycles.update({f: [] for f in self.EXTRA_FIELDS})
        #: Seconds trucks spent following the truck ahead on single-lane roads (inside the travel phases
        #: the records hold; not a column of the export), over the whole period.
        self.following_s = 0.0

    # --- per shift: the routes' mean minutes, as (leg minutes, lane) before the driver and trip factors
    def _trip_legs(self, x: RouteRow, loaded: bool, weather: str, shift: str, condition: str
                   ) -> list[tuple[float, str]]:
        g = self.gt
        legs = []
        for r, fwd in x.legs:
            ctx = CycleContext(r.distance_km, r.max_speed_kmh, r.gradient_pct if fwd else -r.gradient_pct,
                               condition, weather, shift, 0.0, 30.0, 5.0)
            v_loaded, v_empty = travel_speeds_kmh(ctx, g)
            minutes = _MIN_PER_HOUR * r.distance_km / float(v_loaded if loaded else v_empty)
            direction = fwd if loaded else not fwd
            legs.append((minutes, f"{r.id}{'>' if direction else '<'}" if r.single_lane else ""))
        fixed = g.hauling_fixed_min if loaded else g.returning_fixed_min
        return [(fixed, "")] + (legs if loaded else legs[::-1])

    def _shift(self, k: int, shift: str, weather: str, wetness: int) -> None:
        fleet, gt, rng, m, plan, net = self.fleet, self.gt, self.rng, self.maintenance, self.plan, self.net
        s0, s1, ready, drivers, trucks = self._crew(k, shift)
        working = [e for e in range(len(self.exc_pit)) if _free_at(m.exc_down[e], ready) < s1]
        pits = sorted({self.exc_pit[e] for e in working})
        if not pits or not trucks:
            return
        n = len(trucks)
        condition = road_condition_today(NETWORK_ROAD_CONDITION, wetness, gt)
        loaders = {p: [e for e in working if self.exc_pit[e] == p] for p in pits}
        home = [pits[j] for j in home_pits(n, [len(loaders[p]) for p in pits])]
        years = fleet.operator_years[drivers[:n]]
        driver = experience_time_factor(years, gt)
        cap = fleet.truck_capacity[trucks]
        means = phase_means_min(CycleContext(1.0, 30.0, 0.0, condition, weather, shift, years[:, None],
                                             cap[:, None], fleet.exc_bucket[None, :]), gt)  # (trucks, excavators)
        expected_t = payload_mean_t(cap[:, None], fleet.exc_bucket[None, :], weather, gt)
        size = (n, self.MAX_CYCLES)
        z = {p: rng.standard_normal(size).tolist() for p in ("loading", "hauling", "dumping", "returning")}
        u_delay, u_incident = rng.random(size).tolist(), rng.random(size).tolist()
        delay_min = sample_delay_min(weather, rng, gt, size=size).astype(int).tolist()
        stop_min = sample_incident_stop_min(size, rng, gt).astype(int).tolist()
        base_logit = float(delay_logit(weather, condition, 0.0, shift, gt))
        p_incident = float(incident_probability(weather, condition, gt))
        n_dumps = len(net.dumps)
        haul = [self._trip_legs(self.routes[p * n_dumps + d], True, weather, shift, condition)
                for p in range(len(net.pits)) for d in range(n_dumps)]
        back = [self._trip_legs(self.routes[p * n_dumps + d], False, weather, shift, condition)
                for p in range(len(net.pits)) for d in range(n_dumps)]
        sigma = gt.phase_sigma
        share_total = sum(d.share for d in net.dumps)
        state = _ShiftState(free={e: float(s0) for e in working}, last={e: None for e in working},
                            bays=[[float(s0)] * d.bays for d in net.dumps], sent=[0.0] * n_dumps, lane_exit={},
                            done=[0] * n)
        heap: list = []
        for i in range(n):
            arrive = _free_at(m.truck_down[trucks[i]], ready + i * plan.dispatch_interval_min * _S_PER_MIN)
            if arrive < s1:
                self._event(heap, arrive, i, "pit", None)

        def factor(phase: str, i: int, c: int) -> float:
            s = sigma[phase]
            return math.exp(s * z[phase][i][c] - 0.5 * s * s)

        while heap:
            now, _, i, what, cycle = heapq.heappop(heap)
            t = trucks[i]
            if what == "pit":
                c = state.done[i]
                if c >= self.MAX_CYCLES:
                    continue
                p = home[i]
                e = min(loaders[p], key=lambda x: (_free_at(m.exc_down[x], max(now, state.free[x])), x))
                start = _free_at(m.exc_down[e], max(now, state.free[e]))
                if start >= s1:
                    continue
                sent_all = sum(state.sent)
                d = max(range(n_dumps),
                        key=lambda x: (net.dumps[x].share / share_total * sent_all - state.sent[x], -x))
                x = p * n_dumps + d
                load = max(_S_PER_MIN, round(means["loading"][i, e] * factor("loading", i, c) * _S_PER_MIN))
                dump = max(_S_PER_MIN, round(means["dumping"][i, e] * factor("dumping", i, c) * _S_PER_MIN))
                f_haul = float(driver[i]) * factor("hauling", i, c) * _S_PER_MIN
                f_back = float(driver[i]) * factor("returning", i, c) * _S_PER_MIN
                haul_legs = [(minutes * f_haul, lane) for minutes, lane in haul[x]]
                back_legs = [(minutes * f_back, lane) for minutes, lane in back[x]]
                days = _days_since(m.truck_done[t], start - start % 60)  # as of the written loadingStartTime
                logit = base_logit + float(maintenance_delay_logit(days, gt))
                delayed = u_delay[i][c] < 1.0 / (1.0 + math.exp(-logit))
                incident = u_incident[i][c] < p_incident
                gap = (delay_min[i][c] if delayed else 0) + (stop_min[i][c] if incident else 0)
                planned = (start + load + gap * _S_PER_MIN + sum(s for s, _ in haul_legs) + dump
                           + sum(s for s, _ in back_legs))
                if planned > s1:  # no cycle starts that cannot finish inside the shift
                    continue
                state.done[i] = c + 1
                state.free[e] = start + load
                self.wear["excavator"].accrued[e] += state.free[e] - (start if state.last[e] is None else state.last[e])
                state.last[e] = state.free[e]
                self._maybe_break("excavator", e, fleet.exc_purchase_s[e], state.free[e])
                state.sent[d] += float(expected_t[i, e])
                cycle = {"truck": t, "excavator": e, "operator": int(drivers[i]), "road": x, "shift_index": k,
                         "queue_start": now, "loading_start": start, "loading_s": load, "gap_min": gap,
                         "dumping_s": dump, "delayed": delayed, "incident": incident,
                         "days_since_maintenance": days, "road_condition": condition,
                         "loading_point": net.pits[p].id, "dumping_point": net.dumps[d].id,
                         "_depart": start + load + gap * _S_PER_MIN, "_legs": haul_legs, "_back": back_legs,
                         "_leg": 0, "_clock": start + load + gap * _S_PER_MIN, "_next": "dump"}
                self._drive(heap, i, cycle, now, state)
            elif what == "lane":
                self._drive(heap, i, cycle, now, state)
            elif what == "dump":  # at the dump: the bay free first, FIFO in arrival order
                bays = state.bays[int(self.routes[cycle["road"]].dump)]
                b = min(range(len(bays)), key=lambda j: (bays[j], j))
                tip = max(now, bays[b])
                bays[b] = tip + cycle["dumping_s"]
                cycle.update(hauling_s=now - cycle["_depart"], dump_wait_s=tip - now,
                             _dumped=tip + cycle["dumping_s"], _legs=cycle["_back"], _leg=0,
                             _clock=tip + cycle["dumping_s"], _next="home")
                self._drive(heap, i, cycle, now, state)
            else:  # back at the pit: the cycle ends
                cycle["returning_s"] = now - cycle["_dumped"]
                self.wear["truck"].accrued[t] += now - cycle["queue_start"]
                cycle["cancelled"] = self._maybe_break("truck", t, fleet.truck_purchase_s[t], now)
                for name in self.cycles:
                    self.cycles[name].append(cycle[name])
                following = _free_at(m.truck_down[t], now)
                if following < s1:
                    self._event(heap, following, i, "pit", None)

    def _event(self, heap: list, at: float, i: int, what: str, cycle: dict | None) -> None:
        heapq.heappush(heap, (at, self._seq, i, what, cycle))
        self._seq += 1

    def _drive(self, heap: list, i: int, cycle: dict, now: float, state: "_ShiftState") -> None:
        """Drive the cycle's current trip from its clock: free legs at once; a single-lane leg when the truck
        reaches its entry (entries in time order), leaving no earlier than the headway after the truck ahead."""
        legs, headway_s = cycle["_legs"], self.net.headway_min * _S_PER_MIN
        while cycle["_leg"] < len(legs):
            seconds, lane = legs[cycle["_leg"]]
            clock = cycle["_clock"]
            if lane:
                if clock > now:
                    self._event(heap, clock, i, "lane", cycle)
                    return
                leave = max(clock + seconds, state.lane_exit.get(lane, -math.inf) + headway_s)
                self.following_s += leave - (clock + seconds)
                state.lane_exit[lane] = leave
                cycle["_clock"] = leave
            else:
                cycle["_clock"] = clock + seconds
            cycle["_leg"] += 1
        self._event(heap, cycle["_clock"], i, cycle["_next"], cycle)


@dataclass
class _ShiftState:
    """What the trucks of one shift share: loaders' free times, bays, tonnes sent, the ramp's last exits."""

    free: dict[int, float]
    last: dict[int, float | None]
    bays: list[list[float]]
    sent: list[float]
    lane_exit: dict[str, float]
    done: list[int]


@dataclass(frozen=True)
class NetworkExport:
    """A generated network export: the tables, the request's ``network`` section, where each excavator is."""

    export: Export
    section: dict
    locations: dict[str, str]  # excavator id -> pit id (``currentLocation``)


def build_network_export(master: dict[str, pd.DataFrame] | None, *, days: int, trucks: int, seed: int,
                         export_s: float, present: frozenset[str] = frozenset(), gt: GroundTruth | None = None,
                         plan: FleetPlan | None = None, mine: NetworkMine | None = None) -> NetworkExport:
    """The tables of ``days`` of haulage on the network mine ending at the last whole shift before
    ``export_s`` (``build.build_export``'s rules for the master tables, maintenance and vessels), with the
    network's ``road_segments`` (the excavators' locations are applied by the writer). ``mine``: another
    layout than the sample network mine's (:func:`export_network_mine`)."""
    gt, plan = gt or GroundTruth(), plan or FleetPlan()
    mine = export_network_mine(trucks, mine)
    fleet_rng, sim_rng, draw_rng, maint_rng, vessel_rng, id_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(6))
    period_end = math.floor(export_s / SHIFT_S) * SHIFT_S
    t0 = period_end - days * DAY_S
    routes = route_rows(mine)
    n_exc = sum(p.excavators for p in mine.pits)
    if trucks < n_exc:  # the fleet picks at most one excavator per truck
        raise BadInputError(f"trucks={trucks}: the network mine's {n_exc} excavators need at least {n_exc} trucks")

    fresh, base = working_fleet(master, trucks, n_exc, export_s, fleet_rng, plan)
    if len(base.exc_id) < n_exc:
        raise BadInputError(f"the network mine's pits need {n_exc} active excavators; the master tables give "
                            f"{len(base.exc_id)}")
    roads = network_road_segments(mine, routes, export_s, id_rng)
    fleet = route_fleet(base, routes, roads["id"].iloc[len(mine.roads):].tolist())
    logs_exist = master is not None and "maintenance_logs" in master
    maintenance = (maintenance_from_logs(master["maintenance_logs"], fleet, t0) if logs_exist
                   else preventive_plan(fleet, t0, days * DAY_S, maint_rng, plan))

    shifts = shift_names(t0, days * 24 // SHIFT_LENGTH_HOURS)
    sim = NetworkEvents(fleet, t0, maintenance, sim_rng, gt, plan, mine, routes)
    weathers = sim.run(shifts)
    hauling = hauling_frame(sim.cycles, weathers, fleet, t0, shifts, draw_rng, id_rng, gt)

    out = export_frames(fresh, fleet, maintenance, hauling, t0=t0, export_s=export_s, period_end=period_end,
                        present=present, logs_exist=logs_exist, rngs=(maint_rng, vessel_rng, id_rng), plan=plan,
                        road_segments=roads)

    per_pit = [[fleet.exc_id[e] for e, p in enumerate(sim.exc_pit) if p == k] for k in range(len(mine.pits))]
    locations = {eid: mine.pits[k].id for k, ids in enumerate(per_pit) for eid in ids}
    return NetworkExport(Export(out, t0, period_end, fresh is not None), network_section(mine, per_pit), locations)


def locate_excavators(excavators: pd.DataFrame, locations: dict[str, str]) -> pd.DataFrame:
    """The excavators table with the network's units at their pits (``currentLocation``), else unchanged."""
    out = excavators.copy()
    ids = out["id"].astype(str)
    out["currentLocation"] = ids.map(locations).astype(object).where(ids.isin(locations), out["currentLocation"])
    return out

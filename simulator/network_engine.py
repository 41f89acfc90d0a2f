"""A request with a ``network`` part: units per loading point, ONE batched prediction, strategy tasks.

The seam with ``engine.run_request``: it calls :func:`network_tasks` instead of the one-road tables
when ``spec.network`` is given, then replicates, summarises and ranks the tasks as usual.

Per-edge travel from the champion: every leg of every route is a pseudo road segment (the edge's
length, its gradient, its speed limit), and every route one more (its length, length-weighted
gradient, the speed limit giving the route's free-flow time). The gradient is the models' own: the
rise in the loaded direction (the records' road is the haul's), so a loaded leg carries its rise in
the direction of travel and an empty one the opposite (a truck returning down the ramp is not
predicted as climbing it). The hauling
(loaded) and returning (empty) duration models predict each for each truck (the day's weather, road
condition and shift, as the models were trained), so a route's mean minutes = the sum of its legs'
+ the residual (the route prediction less that sum: the manoeuvring the legs do not carry; when the
legs sum to more, they are scaled down to the route and the residual is 0). A leg on a segment whose
own ``roadCondition`` (``road_segments``) differs from the request's is then predicted in its own
condition (road condition is one of the models' features), scaled alike: the route's minutes follow
each segment's condition, the residual stays the request's. Loading, dumping, payload, fuel and delay
come from the route's pseudo road per (truck, excavator, destination), in the request's condition;
the loaded route's minutes there get the same change as the representative's route. When the site
calibration found that heavier loads haul slower (``haul_payload_slope_per_t``), each cycle's loaded
travel follows its drawn payload: the hauling spread that explains is taken out of the lognormal noise
and the route means are divided by the factor's average, so mean and spread stay the model's.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np
import pandas as pd

from simulator.dispatch import DEFAULT_RULE
from simulator.executor import ScenarioTask
from simulator.fleet import Selection, Unit, _active, _by_code, _unit, roster_operators, select_trucks, shift_start
from simulator.model import Breakdowns, ModelParams, NoiseTables, PhaseNoise, block_cycles
from simulator.network import HaulNetwork, Leg, build_network, leg_id
from simulator.network_model import DEFAULT_HEADWAY_MIN, NetworkInputs, lane_following
from simulator.scenario import RequestSpec, SpecError, scenario_key
from simulator.travel import RouteTimes, all_routes, assemble
from training.bundle import PHASES
from training.features import FEATURE_COLUMNS, Fleet, build_features
from training.schema import ROAD_CONDITIONS
from training.site import SiteCalibration


@dataclass(frozen=True, eq=False)
class NetworkPlan:
    """What the engine needs from a network request."""

    network: HaulNetwork
    selection: Selection
    full: NetworkInputs
    table: pd.DataFrame          # features + predictions of the (truck, excavator, destination) rows (the log)
    quarantined: tuple[str, ...]  # road segments left out, with the reason


def _route_row(route_id: str, legs: Sequence[Leg], loaded: bool = True) -> dict:
    """A route as a pseudo road segment. Its gradient is the models' (``training.ground_truth``): the
    rise in the LOADED direction, for the empty return too (the records' road is the haul's)."""
    length = sum(leg.edge.length_km for leg in legs)
    free_h = sum(leg.edge.length_km / leg.edge.max_speed_kmh for leg in legs)
    sign = 1.0 if loaded else -1.0
    grade = sign * sum(leg.gradient_pct * leg.edge.length_km for leg in legs) / length if length else 0.0
    return {"id": route_id, "distance": length, "gradient": grade, "maxSpeed": length / free_h if free_h else 1.0,
            "roadCondition": legs[0].edge.road_condition if legs else "GOOD"}


def payload_haul_effect(bundle, noise: NoiseTables) -> tuple[float, float]:
    """(slope per tonne, variance of slope x payload residual) of the loaded travel's dependence on the
    cycle's payload (``training.site``'s ``haul_payload_slope_per_t``; (0, 0) when the site has none)."""
    slope = float(getattr(getattr(bundle, "site", None), "haul_payload_slope_per_t", 0.0) or 0.0)
    residuals = noise.payload_residuals_t
    if not slope or not residuals.size:
        return 0.0, 0.0
    return slope, float(np.var(slope * residuals))


def segment_condition(leg: Leg, request_condition: str) -> str:
    """The road condition a leg is predicted in: its segment's own ``roadCondition`` (``road_segments``),
    the request's when the segment records none the models know."""
    own = str(leg.edge.road_condition).strip().upper()
    return own if own in ROAD_CONDITIONS else request_condition


def select_excavators_by_point(fleet: Fleet, net: HaulNetwork, named: Sequence[Sequence[str]]) -> tuple[Unit, ...]:
    """Excavators in deal order (``HaulNetwork.excavator_layout``): each point's named ones, else the
    active ones located there (``currentLocation``) by code, else any other active one by code."""
    table = fleet.excavators
    active = _by_code(table[_active(table)])
    used: set[str] = set()
    per_point: list[list[Unit]] = []
    for p, lp in enumerate(net.loading_points):
        ids = list(named[p]) if p < len(named) else []
        units = []
        for k, unit_id in enumerate(ids):
            hit = table[table["id"].astype(str) == unit_id]
            if hit.empty:
                raise SpecError(f"network.loading_points[{p}].excavators[{k}]", f"unknown excavator id {unit_id!r}")
            units.append(_unit(hit.iloc[0], "bucketCapacity"))
        here = active[active.get("currentLocation", pd.Series("", index=active.index)).astype(str) == lp.id]
        for pool in (here, active):
            for _, row in pool.iterrows():
                if len(units) >= lp.excavators:
                    break
                if str(row["id"]) not in used and str(row["id"]) not in {u.id for u in units}:
                    units.append(_unit(row, "bucketCapacity"))
        if len(units) < lp.excavators:
            raise SpecError(f"network.loading_points[{p}].excavators",
                            f"{lp.excavators} asked for but the fleet has too few active excavators")
        used.update(u.id for u in units)
        per_point.append(units)
    taken = [0] * len(per_point)
    out = []
    for p in net.excavator_layout(net.total_excavators):
        out.append(per_point[p][taken[p]])
        taken[p] += 1
    return tuple(out)


def network_plan(spec: RequestSpec, fleet: Fleet, bundle, now: datetime,
                 site: SiteCalibration | None = None, *, trucks: Sequence[Unit] | None = None,
                 operator_ids: Sequence[str] | None = None) -> NetworkPlan:
    """Units, routes, ONE ``bundle.predict`` and the largest strategy's inputs of a network request
    (``trucks``/``operator_ids``: exactly these trucks and drivers, as the backtest replays a shift)."""
    ns = spec.network
    assert ns is not None
    # a NetworkError (unknown node, no road between two points) is a SpecError naming the request's field
    net, quarantined = build_network(fleet.road_segments, ns.loading_points, ns.destinations, ns.single_lane)
    haul_routes, back_routes = all_routes(net)
    max_e = spec.grid.max_excavators
    if max_e > net.total_excavators:
        raise SpecError("decision_variables.jumlah_excavator",
                        f"{max_e} excavators asked for but the network's loading points hold {net.total_excavators}")
    excavators = select_excavators_by_point(fleet, net, ns.excavator_ids)[:max_e]
    layout = net.excavator_layout(max_e)
    trucks = tuple(trucks) if trucks is not None else select_trucks(fleet, spec.grid.max_trucks)
    operators = (tuple(operator_ids) if operator_ids is not None
                 else roster_operators(fleet, spec.conditions.shift, len(trucks)))
    start = spec.conditions.start or shift_start(spec.conditions.shift, now)
    first_edge = net.edges[0]
    selection = Selection(road=Unit(first_edge.id, first_edge.id, f"Haul network ({len(net.edges)} segments)", "",
                                    sum(e.length_km for e in net.edges)),
                          excavators=excavators, trucks=trucks, operator_ids=operators, start=start)
    # every representative excavator of a point: its first deployed one (else the point's first unit)
    rep = {p: excavators[layout.index(p)] if p in layout else None for p in range(len(net.loading_points))}
    all_units = select_excavators_by_point(fleet, net, ns.excavator_ids)
    full_layout = net.excavator_layout(net.total_excavators)
    for p in rep:
        if rep[p] is None:
            rep[p] = all_units[full_layout.index(p)]

    roads = [_route_row(f"route:{p}>{d}", legs) for (p, d), legs in haul_routes.items()]
    roads += [_route_row(f"route:{d}<{p}", legs, loaded=False) for (d, p), legs in back_routes.items()]
    # legs driven loaded ("leg") and empty ("bleg"): the returning model reads the loaded direction's rise
    legs_seen: dict[str, Leg] = {}
    leg_kinds: dict[str, tuple[str, float]] = {}
    for kind, sign, routes in (("leg", 1.0, haul_routes), ("bleg", -1.0, back_routes)):
        for legs in routes.values():
            for leg in legs:
                legs_seen[leg_id(leg)] = leg
                leg_kinds[f"{kind}:{leg_id(leg)}"] = (leg_id(leg), sign)
    roads += [{"id": key, "distance": legs_seen[k].edge.length_km, "gradient": sign * legs_seen[k].gradient_pct,
               "maxSpeed": legs_seen[k].edge.max_speed_kmh, "roadCondition": legs_seen[k].edge.road_condition}
              for key, (k, sign) in leg_kinds.items()]
    pseudo = Fleet(fleet.trucks, fleet.excavators, fleet.operators, pd.DataFrame(roads), fleet.maintenance_logs)

    c = spec.conditions
    rows = []

    def add(kind, i, unit, road, condition=None, **ids):
        rows.append({"kind": kind, "truck_index": i, "truckId": trucks[i].id, "excavatorId": unit.id,
                     "operatorId": operators[i], "roadSegmentId": road, "weatherCondition": c.weather,
                     "roadCondition": condition or c.road_condition, "shift": c.shift, "at": pd.Timestamp(start),
                     **ids})

    # legs on a segment in another condition than the request's are predicted in their own as well
    own_condition = {k: segment_condition(leg, c.road_condition) for k, leg in legs_seen.items()}

    n_dest = len(net.destinations)
    for i in range(len(trucks)):
        for j, unit in enumerate(excavators):
            for d in range(n_dest):
                add("pair", i, unit, f"route:{layout[j]}>{d}", excavator_index=j, dest=d)
        for p, unit in rep.items():
            for d in range(n_dest):
                add("haul", i, unit, f"route:{p}>{d}", point=p, dest=d)
                add("back", i, unit, f"route:{d}<{p}", point=p, dest=d)
            for key, (k, _) in leg_kinds.items():
                kind = key.split(":", 1)[0]
                add(kind, i, unit, key, point=p, leg=k)
                if own_condition[k] != c.road_condition:
                    add(f"{kind}_own", i, unit, key, own_condition[k], point=p, leg=k)
    contexts = pd.DataFrame(rows)
    features = build_features(contexts, pseudo)
    prediction = bundle.predict(features)
    # (the contexts' own ``shift`` is the feature's: one column of that name, or the prediction log's
    # columns would shift by one)
    table = pd.concat([contexts.drop(columns=[c for c in FEATURE_COLUMNS if c in contexts.columns]).reset_index(drop=True),
                       features[list(FEATURE_COLUMNS)].reset_index(drop=True)], axis=1)
    table["payload_t"] = prediction.payload_t
    table["fuel_l"] = prediction.fuel_l
    table["delay_probability"] = prediction.delay_probability
    for phase in PHASES:
        sigma = float(bundle.durations[phase].sigma)
        table[f"{phase}_mean_min"] = np.exp(prediction.phase_mu[phase] + 0.5 * sigma ** 2)
    table["model_version"] = str(bundle.version)

    t, e = len(trucks), len(excavators)
    pair = table[table["kind"] == "pair"].sort_values(["truck_index", "excavator_index", "dest"], kind="stable")

    def grid(column: str) -> np.ndarray:
        return pair[column].to_numpy(dtype=float).reshape(t, e, n_dest)

    def leg_minutes(kind: str, p: int, leg: Leg, phase: str) -> np.ndarray:
        ls = table[(table["kind"] == kind) & (table["point"] == p) & (table["leg"] == leg_id(leg))]
        return ls.sort_values("truck_index")[f"{phase}_mean_min"].to_numpy(dtype=float)

    route_change: dict[tuple[str, int, int], np.ndarray] = {}  # (kind, point, dest): own - request's, (T,)

    def route_times(kind: str, p: int, d: int, legs: Sequence[Leg], phase: str) -> RouteTimes:
        """The route's legs and residual, both from the request's road condition; then each leg in its
        segment's own condition (the same share of the route's manoeuvring, scaled as the legs were)."""
        sel = table[(table["kind"] == kind) & (table["point"] == p) & (table["dest"] == d)].sort_values("truck_index")
        route = sel[f"{phase}_mean_min"].to_numpy(dtype=float)
        leg_kind = "leg" if kind == "haul" else "bleg"
        cols = [leg_minutes(leg_kind, p, leg, phase) for leg in legs]
        leg_min = np.stack(cols, axis=1) if cols else np.zeros((t, 0))
        total = leg_min.sum(axis=1)
        residual = route - total
        over = residual < 0
        scale = (route[over] / total[over])[:, None]
        leg_min[over] *= scale
        residual[over] = 0.0
        changed = [k for k, leg in enumerate(legs) if own_condition[leg_id(leg)] != c.road_condition]
        if changed:
            before = leg_min.sum(axis=1)
            own = np.stack([leg_minutes(f"{leg_kind}_own", p, legs[k], phase) for k in changed], axis=1)
            own[over] *= scale
            leg_min[:, changed] = own
            route_change[(kind, p, d)] = leg_min.sum(axis=1) - before
        return RouteTimes(tuple(legs), leg_min, residual)

    haul = {(p, d): route_times("haul", p, d, legs, "hauling") for (p, d), legs in haul_routes.items()}
    back = {(d, p): route_times("back", p, d, legs, "returning") for (d, p), legs in back_routes.items()}
    noise = NoiseTables.from_bundle(bundle, c.weather)
    shift_sd = getattr(getattr(bundle, "site", None), "phase_shift_sd", None) or {}
    sigma = {ph: float(bundle.durations[ph].sigma) for ph in PHASES}
    slope, spread = payload_haul_effect(bundle, noise)
    if slope:  # the loaded travel's spread the payload explains is drawn with the payload, not twice
        sigma["hauling"] = math.sqrt(max(sigma["hauling"] ** 2 - spread, 0.0))
    phase_noise = tuple(PhaseNoise("lognormal", sigma[ph], float(shift_sd.get(ph, 0.0))) for ph in PHASES)
    full = assemble(net, scenario_key="full", excavator_point=layout, payload_t=grid("payload_t")[:, :, 0],
                    load_min=grid("loading_mean_min")[:, :, 0], dump_min=grid("dumping_mean_min"),
                    fuel_l=grid("fuel_l"), delay_probability=grid("delay_probability"), haul=haul, back=back,
                    headway_min=ns.headway_min if ns.headway_min is not None else DEFAULT_HEADWAY_MIN,
                    phase_noise=phase_noise, noise=noise, breakdowns=Breakdowns.from_bundle(bundle))
    # the loaded route of each (truck, excavator, destination) from its own pair row (the excavator's
    # features enter the hauling model too), plus what its legs' own road conditions change on the
    # representative's route; the legs keep the representative's shares
    haul_min = grid("hauling_mean_min").copy()  # (not a view of the logged table)
    for j, p in enumerate(layout):
        for d in range(n_dest):
            change = route_change.get(("haul", p, d))
            if change is not None:
                haul_min[:, j, d] += change
    if slope:  # exp(slope x payload residual) averages to 1 over the residuals: the model's mean stays
        haul_min /= float(np.mean(np.exp(slope * noise.payload_residuals_t)))
    full = replace(full, haul_min=haul_min, haul_payload_slope_per_t=slope)
    full = replace(full, lane_allowance_min=following_allowance(full, network_params(spec, full, site), site,
                                                                spec.simulation.seed))
    return NetworkPlan(net, selection, full, pair.reset_index(drop=True), tuple(quarantined))


#: Shifts each step of :func:`following_allowance` simulates.
FOLLOWING_PILOT_REPLICATIONS: int = 10
#: Fixed-point steps of :func:`following_allowance`: the first measures the following with the lanes'
#: whole minutes, the second with the allowance taken out (shorter free passes bunch a little more).
FOLLOWING_ITERATIONS: int = 2


def following_allowance(full: NetworkInputs, params: ModelParams, site: SiteCalibration | None,
                        seed: int) -> tuple[float, ...]:
    """Per single-lane lane, the minutes of following already inside the champion's travel minutes.

    The records hold cycle phases, not segment passages: a loaded trip's ``haulingDuration`` contains
    the minutes the truck followed a slower one on a single-lane road, at the traffic of the records,
    and the champion's route means learn them. The model then adds the following of the simulated
    traffic, so without an allowance that following is counted twice (on the network sample mine:
    cycle time +0.8 %, the network backtest's cycle-time coverage 52 %). The allowance is the
    following the model itself makes at the records' traffic: the site's ``network_trucks_per_shift``
    (median trucks of a network shift) first trucks of the request, fixed assignment, the request's
    conditions. At that traffic the simulated travel then averages the champion's; a larger fleet
    follows more than the records did and a smaller one less. A fixed point, found in
    :data:`FOLLOWING_ITERATIONS` steps of :data:`FOLLOWING_PILOT_REPLICATIONS` shifts. None (``()``)
    without single-lane legs or without network records (no traffic to take out).
    """
    if not full.lanes or site is None or site.network_trucks_per_shift <= 0:
        return ()
    trucks = min(full.trucks, max(1, round(site.network_trucks_per_shift)))
    pilot = full.subset(trucks, full.excavators, "following-pilot", DEFAULT_RULE)
    allowance = (0.0,) * full.lanes
    for _ in range(FOLLOWING_ITERATIONS):
        allowance = lane_following(replace(pilot, lane_allowance_min=allowance), params, seed,
                                   FOLLOWING_PILOT_REPLICATIONS)
    return allowance


def network_params(spec: RequestSpec, full: NetworkInputs, site: SiteCalibration | None) -> ModelParams:
    """Replication parameters of a network request (dump places are per destination)."""
    sim = spec.simulation
    shortest = float(full.expected_cycle_min(full.noise.mean_delay_min).min())
    return ModelParams(shift_hours=sim.duration_hours, dump_bays=None, deterministic=sim.deterministic,
                       cycles_per_block=block_cycles(sim.duration_hours, shortest),
                       dispatch_interval_min=site.dispatch_interval_min if site is not None else 0.0)


def network_tasks(spec: RequestSpec, plan: NetworkPlan, params: ModelParams) -> list[ScenarioTask]:
    """One task per (trucks, excavators, dispatch rule), in grid order."""
    return [ScenarioTask(inputs=plan.full.subset(t, e, scenario_key(t, e, rule), rule), params=params,
                         seed=spec.simulation.seed, replications=spec.simulation.effective_replications)
            for t, e, rule in spec.grid.strategies]

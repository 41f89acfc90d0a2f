"""Route times on a haul network and the assembly of a strategy's :class:`NetworkInputs`.

A route's mean minutes for a truck = the sum over its legs of the leg's minutes + a residual: the part
of the trip no single leg carries (leaving the loading bench, entering the dump; the calibrated
models' route prediction less the sum of their leg predictions). Two sources:

* :func:`truth_route_times`: the synthetic mine's physics (``training.ground_truth.travel_speeds_kmh``
  per leg, its fixed manoeuvring minutes as the residual): known truth for tests and the sample mine;
* ``simulator.network_engine``: the champion's hauling/returning models per leg and per route.

Legs of a route keep their share of the route's minutes; the residual is put first (it is spent
before the truck reaches the road's speed), so single-lane legs are entered when they would be.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from simulator.dispatch import DEFAULT_RULE
from simulator.model import Breakdowns, NoiseTables, PhaseNoise
from simulator.network import HaulNetwork, Leg
from simulator.network_model import DEFAULT_HEADWAY_MIN, NetworkInputs, merge_legs
from training.bundle import PHASES
from training.ground_truth import CycleContext, GroundTruth, experience_time_factor, travel_speeds_kmh

_MIN_PER_HOUR = 60.0


@dataclass(frozen=True, eq=False)
class RouteTimes:
    """Mean minutes of one route per truck: per leg ``(T, K)`` and the residual ``(T,)``."""

    legs: tuple[Leg, ...]
    leg_min: np.ndarray
    residual_min: np.ndarray

    @property
    def total_min(self) -> np.ndarray:
        return self.leg_min.sum(axis=1) + self.residual_min


def lane_index(net: HaulNetwork) -> dict[str, int]:
    """One index per single-lane queue (edge and direction)."""
    out: dict[str, int] = {}
    for e in net.edges:
        if e.single_lane:
            out[f"{e.id}>"] = len(out)
            out[f"{e.id}<"] = len(out)
    return out


def truth_route_times(legs: Sequence[Leg], *, loaded: bool, weather: str, road_condition: str | None, shift: str,
                      operator_years: np.ndarray, gt: GroundTruth | None = None) -> RouteTimes:
    """The synthetic mine's mean route minutes per truck (``operator_years`` (T,): the drivers).
    ``road_condition`` None: each segment's own ``roadCondition``; else the day's, on every segment."""
    g = gt or GroundTruth()
    driver = experience_time_factor(np.asarray(operator_years, dtype=float), g)  # (T,)
    minutes = []
    for leg in legs:
        condition = leg.edge.road_condition if road_condition is None else road_condition
        ctx = CycleContext(leg.edge.length_km, leg.edge.max_speed_kmh, leg.gradient_pct, condition, weather,
                           shift, 0.0, 30.0, 10.0)
        v_loaded, v_empty = travel_speeds_kmh(ctx, g)
        v = float(v_loaded if loaded else v_empty)
        minutes.append(_MIN_PER_HOUR * leg.edge.length_km / v * driver)
    fixed = g.hauling_fixed_min if loaded else g.returning_fixed_min
    leg_min = np.stack(minutes, axis=1) if minutes else np.zeros((len(driver), 0))
    return RouteTimes(tuple(legs), leg_min, fixed * driver)


def assemble(net: HaulNetwork, *, scenario_key: str, excavator_point: Sequence[int], payload_t: np.ndarray,
             load_min: np.ndarray, dump_min: np.ndarray, fuel_l: np.ndarray, delay_probability: np.ndarray,
             haul: Mapping[tuple[int, int], RouteTimes], back: Mapping[tuple[int, int], RouteTimes],
             dispatch: str = DEFAULT_RULE, headway_min: float = DEFAULT_HEADWAY_MIN,
             phase_noise: tuple[PhaseNoise, ...] = (PhaseNoise("constant"),) * len(PHASES),
             noise: NoiseTables | None = None, breakdowns: Breakdowns | None = None) -> NetworkInputs:
    """A strategy's inputs from per-(truck, excavator[, destination]) tables and the route times
    (``haul[(point, dest)]``, ``back[(dest, point)]``) of every point and destination."""
    lanes = lane_index(net)
    n_points, n_dest = len(net.loading_points), len(net.destinations)
    t, e = np.shape(payload_t)
    points = np.asarray(excavator_point, dtype=int)
    haul_min = np.empty((t, e, n_dest))
    return_min = np.empty((t, e, n_dest))
    for d in range(n_dest):
        for j, p in enumerate(points):
            haul_min[:, j, d] = haul[(int(p), d)].total_min[:t]
            return_min[:, j, d] = back[(d, int(p))].total_min[:t]

    def legs_of(route: RouteTimes) -> tuple[tuple[float, int], ...]:
        minutes = [float(route.residual_min[:t].mean())] + [float(x) for x in route.leg_min[:t].mean(axis=0)]
        lane_ids = [-1] + [lanes.get(leg.lane, -1) for leg in route.legs]
        return merge_legs(minutes, lane_ids)

    haul_legs = tuple(tuple(legs_of(haul[(p, d)]) for d in range(n_dest)) for p in range(n_points))
    return_legs = tuple(tuple(legs_of(back[(d, p)]) for p in range(n_points)) for d in range(n_dest))
    ratio = np.ones((n_dest, n_points, n_points))
    for d in range(n_dest):
        means = [float(back[(d, p)].total_min[:t].mean()) for p in range(n_points)]
        for a in range(n_points):
            for b in range(n_points):
                ratio[d, a, b] = means[b] / means[a] if means[a] > 0 else 1.0
    shares = net.shares()
    return NetworkInputs(
        scenario_key=scenario_key, excavator_point=tuple(int(p) for p in points),
        payload_t=np.asarray(payload_t, dtype=float), load_min=np.asarray(load_min, dtype=float),
        haul_min=haul_min, dump_min=np.asarray(dump_min, dtype=float), return_min=return_min,
        fuel_l=np.asarray(fuel_l, dtype=float), delay_probability=np.asarray(delay_probability, dtype=float),
        haul_legs=haul_legs, return_legs=return_legs, return_ratio=ratio,
        bays=tuple(d.bays for d in net.destinations),
        closures_min=tuple(tuple(sorted((c.start_hour * _MIN_PER_HOUR, c.end_hour * _MIN_PER_HOUR)
                                        for c in d.closures)) for d in net.destinations),
        shares=shares, allowed=tuple(net.allowed(p) for p in range(n_points)),
        point_ids=tuple(lp.id for lp in net.loading_points), destination_ids=tuple(d.id for d in net.destinations),
        targets_t=tuple(d.target_t for d in net.destinations), dispatch=dispatch, headway_min=headway_min,
        lanes=len(lanes), phase_noise=phase_noise, noise=noise or NoiseTables.none(),
        breakdowns=breakdowns or Breakdowns())


def all_routes(net: HaulNetwork) -> tuple[dict[tuple[int, int], tuple[Leg, ...]], dict[tuple[int, int], tuple[Leg, ...]]]:
    """The fastest legs of every loaded (point, dest) and empty (dest, point) route."""
    haul = {(p, d): net.route(lp.node, dest.node) for p, lp in enumerate(net.loading_points)
            for d, dest in enumerate(net.destinations)}
    back = {(d, p): net.route(dest.node, lp.node) for p, lp in enumerate(net.loading_points)
            for d, dest in enumerate(net.destinations)}
    return haul, back

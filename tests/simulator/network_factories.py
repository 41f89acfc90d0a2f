"""Hand-made haul networks for the network tests: a symmetric two-pit mine and a mixed-fleet ramp."""
from __future__ import annotations

import numpy as np

from simulator.model import NoiseTables, PhaseNoise
from simulator.network import Destination, Edge, HaulNetwork, LoadingPoint
from simulator.network_model import NetworkInputs
from simulator.travel import all_routes, assemble, truth_route_times

CONSTANT = PhaseNoise("constant")
LOGNORMAL = tuple(PhaseNoise("lognormal", s) for s in (0.15, 0.10, 0.18, 0.10))


def symmetric_two_pits(bays: int | None = None) -> HaulNetwork:
    """Two pits 1 km from a junction, one dump 3 km beyond it; one loader per pit."""
    edges = (Edge("A", "P1", "J", 1.0, 0.0, 30.0, "GOOD"), Edge("B", "P2", "J", 1.0, 0.0, 30.0, "GOOD"),
             Edge("C", "J", "D", 3.0, 5.0, 30.0, "GOOD"))
    return HaulNetwork(edges, (LoadingPoint("P1", "P1", 1), LoadingPoint("P2", "P2", 1)),
                       (Destination("D", "D", bays),))


def network_inputs(net: HaulNetwork, trucks: int, excavators: int | None = None, *, dispatch: str = "fixed",
                   load_min: float = 5.0, dump_min: float = 1.5, payload_t: float = 30.0, noise=(CONSTANT,) * 4,
                   tables: NoiseTables | None = None, years: float = 5.0, headway_min: float = 0.5,
                   key: str = "net") -> NetworkInputs:
    """Every truck alike, travel from the synthetic mine's physics (dry, GOOD, day shift)."""
    e = excavators or net.total_excavators
    layout = net.excavator_layout(e)
    d = len(net.destinations)
    haul_routes, back_routes = all_routes(net)
    drivers = np.full(trucks, years)
    common = dict(weather="CERAH", road_condition="GOOD", shift="SHIFT_1", operator_years=drivers)
    haul = {k: truth_route_times(v, loaded=True, **common) for k, v in haul_routes.items()}
    back = {k: truth_route_times(v, loaded=False, **common) for k, v in back_routes.items()}
    return assemble(net, scenario_key=key, excavator_point=layout, payload_t=np.full((trucks, e), payload_t),
                    load_min=np.full((trucks, e), load_min), dump_min=np.full((trucks, e, d), dump_min),
                    fuel_l=np.full((trucks, e, d), 40.0), delay_probability=np.zeros((trucks, e, d)),
                    haul=haul, back=back, dispatch=dispatch, headway_min=headway_min, phase_noise=tuple(noise),
                    noise=tables)

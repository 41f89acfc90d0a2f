"""Haul-network simulator timing: prints medians, never passes or fails.

Mine: 3 pits (3, 2, 2 loaders), 2 destinations (ROM 2 bays, waste dump 1 bay) joined through two
junctions, a single-lane ramp out of the pits; travel from the synthetic mine's physics; lognormal phase
noise. Grid: 11 truck counts (20..60) x 3 dispatch rules = 33 strategies x 30 replications on a local
pool of 2 workers. Also the one-road REF-A grid (11 trucks x 3 excavators x 30) run as a network of one
road, against the one-road model on the same tables (the legacy path itself is unchanged). Each grid
also prints the pool workers' CPU seconds per simulation (median over the rounds), which a shared
machine disturbs far less than the wall time: on an idle 2-core machine the wall time is about
simulations x that / 2.

    python benchmarks/bench_network.py [--rounds 3]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from simulator.executor import LocalPoolExecutor, ScenarioTask
from simulator.model import ModelParams, NoiseTables, PhaseNoise, ScenarioInputs
from simulator.network import Destination, Edge, HaulNetwork, LoadingPoint
from simulator.network_model import from_pair_inputs
from simulator.travel import all_routes, assemble, truth_route_times

LOGNORMAL = tuple(PhaseNoise("lognormal", s) for s in (0.15, 0.10, 0.18, 0.10))


def mine() -> HaulNetwork:
    edges = (Edge("P1-J1", "PIT-1", "J1", 1.2, 6.0, 30, "GOOD"), Edge("P2-J1", "PIT-2", "J1", 0.8, 4.0, 30, "GOOD"),
             Edge("P3-J2", "PIT-3", "J2", 1.5, 5.0, 30, "FAIR"),
             Edge("RAMP", "J1", "J2", 1.0, 8.0, 25, "GOOD", single_lane=True),
             Edge("J2-ROM", "J2", "ROM", 3.0, 1.0, 40, "GOOD"), Edge("J2-WASTE", "J2", "WASTE", 2.0, -1.0, 40, "FAIR"))
    return HaulNetwork(edges, (LoadingPoint("PIT-1", "PIT-1", 3), LoadingPoint("PIT-2", "PIT-2", 2),
                               LoadingPoint("PIT-3", "PIT-3", 2)),
                       (Destination("ROM", "ROM", 2, target_t=12000), Destination("WASTE", "WASTE", 1, target_t=6000)))


def network_tasks(replications: int) -> list[ScenarioTask]:
    net = mine()
    t, e = 60, net.total_excavators
    rng = np.random.default_rng(0)
    years = rng.uniform(1, 12, t)
    haul_r, back_r = all_routes(net)
    common = dict(weather="CERAH", road_condition="GOOD", shift="SHIFT_1", operator_years=years)
    haul = {k: truth_route_times(v, loaded=True, **common) for k, v in haul_r.items()}
    back = {k: truth_route_times(v, loaded=False, **common) for k, v in back_r.items()}
    noise = NoiseTables.build(rng.normal(0, 1, 400), rng.normal(0, 3, 400), rng.lognormal(2.4, 0.6, 200))
    full = assemble(net, scenario_key="full", excavator_point=net.excavator_layout(e),
                    payload_t=np.full((t, e), 30.0), load_min=rng.uniform(3.5, 5.0, (t, e)),
                    dump_min=np.full((t, e, 2), 1.5), fuel_l=np.full((t, e, 2), 40.0),
                    delay_probability=np.full((t, e, 2), 0.05), haul=haul, back=back, phase_noise=LOGNORMAL,
                    noise=noise)
    params = ModelParams(shift_hours=8.0, dump_bays=None)
    return [ScenarioTask(full.subset(n, e, f"T{n}/{rule}", rule), params, 42, replications)
            for n in range(20, 61, 4) for rule in ("fixed", "shortest_queue", "shortest_travel_wait")]


def ref_a_tasks(replications: int, as_network: bool) -> list[ScenarioTask]:
    rng = np.random.default_rng(1)
    t, e = 15, 3
    means = np.broadcast_to(np.array([4.5, 14.0, 1.5, 11.0]), (t, e, 4)) * rng.uniform(0.9, 1.1, (t, e, 1))
    noise = NoiseTables.build(rng.normal(0, 1, 400), rng.normal(0, 3, 400), rng.lognormal(2.4, 0.6, 200))
    full = ScenarioInputs("full", np.full((t, e), 30.0), np.full((t, e), 40.0), np.full((t, e), 0.05),
                          np.ascontiguousarray(means), LOGNORMAL, noise)
    params = ModelParams(shift_hours=8.0, dump_bays=2)
    tasks = []
    for n in range(5, 16):
        for k in range(1, 4):
            inputs = full.subset(n, k, f"T{n}-E{k}")
            tasks.append(ScenarioTask(from_pair_inputs(inputs, dump_bays=2) if as_network else inputs, params, 42,
                                      replications))
    return tasks


def workers_cpu_s(pids) -> float:
    """User + system CPU seconds the pool's worker processes have used so far."""
    import psutil

    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--replications", type=int, default=30)
    args = parser.parse_args()
    with LocalPoolExecutor(workers=2) as pool:
        for name, tasks in (("network 3 pits/2 dumps/60 trucks, 33 strategies", network_tasks(args.replications)),
                            ("REF-A grid, one-road model", ref_a_tasks(args.replications, False)),
                            ("REF-A grid, network of one road", ref_a_tasks(args.replications, True))):
            pool.map_scenarios(tasks[:2])  # ship the noise tables once
            sims = len(tasks) * args.replications
            times, cpu = [], []
            for _ in range(args.rounds):
                pids = set(pool.worker_pids)
                c0, t0 = workers_cpu_s(pids), time.perf_counter()
                pool.map_scenarios(tasks)
                times.append(time.perf_counter() - t0)
                cpu.append(workers_cpu_s(pids) - c0)
            cpu_ms = statistics.median(cpu) / sims * 1e3
            print(f"{name}: {sims} simulations, median {statistics.median(times):.2f} s on 2 workers "
                  f"(rounds: {', '.join(f'{x:.2f}' for x in times)}); workers' CPU {cpu_ms:.2f} ms per simulation "
                  f"(= {sims * cpu_ms / 2e3:.2f} s on 2 idle cores)")


if __name__ == "__main__":
    main()

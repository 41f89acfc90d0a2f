"""Benchmark of the simulator on the reference request (``contracts/ref-a.json``: 33 scenarios x 30
replications, 8-hour shift = 990 simulations).

    python benchmarks/bench_simulator.py [--data D --models M] [--workers N] [--repeats 5]

Prints figures only (no pass/fail):

1. REF-A in-process through ``simulator.engine.run_request`` on a warm ``LocalPoolExecutor``: median
   wall time over ``--repeats`` runs, with the stage timings;
2. CPU time per simulation on one core (``InlineExecutor``) for the model, and for a bare SimPy loop
   over the same grid with the same phase structure and no models (trucks request an excavator
   ``Resource``, time out loading, hauling, request a dump ``Resource(dump_bays)``, time out dumping
   and returning; phase durations = the champion's mean minutes, constant) measured in the same run,
   and their ratio; a second bare loop draws each phase from ``random.lognormvariate`` (what a bare
   stochastic model pays for its samples);
3. how the model's time grows with the shift length (4, 8, 16 h) and the replications (10, 30, 60).

The champion comes from ``--models`` when it has one (with the fleet of ``--data``); otherwise a
small synthetic mine (16 trucks, 3 excavators) is generated and trained in a temporary folder.
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import simpy

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from simulator.engine import bundle_site, context_table, model_params, pair_inputs, run_request, scenario_tasks  # noqa: E402
from simulator.executor import InlineExecutor, LocalPoolExecutor  # noqa: E402
from simulator.fleet import select_units  # noqa: E402
from simulator.model import Breakdowns, NoiseTables  # noqa: E402
from simulator.engine import simulation_defaults  # noqa: E402
from simulator.request import parse_request  # noqa: E402
from training.bundle import PHASES  # noqa: E402
from training.features import Fleet  # noqa: E402
from simulator.settings import SimulatorSettings  # noqa: E402

REF_A = REPO / "contracts" / "ref-a.json"
#: Synthetic mine used when no champion is given: days of cycles, trucks, excavators, seed.
MINE_DAYS, MINE_TRUCKS, MINE_EXCAVATORS, MINE_SEED = 10, 16, 3, 7
#: End of the benchmark mine's period (the reference export's date), pinned so every run simulates the same data.
MINE_END = "2025-11-09T23:17:02.382Z"


def champion_and_fleet(data: Path | None, models: Path | None):
    """(bundle, export, where) from --data/--models, or trained on a fresh synthetic mine."""
    from training.dataset import load_master

    if data and models:
        from training.bundle import load_champion
        from training.registry import Registry

        bundle = load_champion(Registry(models))
        if bundle is not None:
            return bundle, load_master(data), f"champion {bundle.version} from {models}"
    from training.cli import Paths
    from training.prepare import prepare
    from training.synthetic import generate
    from training.train import train

    root = Path(tempfile.mkdtemp(prefix="bench-mine-"))
    paths = Paths(data=root / "data", models=root / "models", logs=root / "logs")
    generate(paths.data, days=MINE_DAYS, trucks=MINE_TRUCKS, excavators=MINE_EXCAVATORS, seed=MINE_SEED,
             end=MINE_END)
    t0 = time.perf_counter()
    result = train(prepare(paths, SimulatorSettings()), SimulatorSettings())
    return (result.bundle, load_master(paths.data),
            f"candidate trained on a synthetic mine in {root} ({time.perf_counter() - t0:.0f} s)")


def bare_simpy(trucks: int, excavators: int, hours: float, phases: tuple[float, float, float, float],
               dump_bays: int, rng: random.Random | None = None, sigma: tuple[float, ...] = ()) -> int:
    """The bare loop: request/release Resources and four timeouts per cycle; returns completed loads."""
    env = simpy.Environment()
    loaders = simpy.Resource(env, excavators)
    dump = simpy.Resource(env, dump_bays)
    loads = [0]
    load, haul, tip, back = phases

    def truck():
        while True:
            with loaders.request() as req:
                yield req
                yield env.timeout(load if rng is None else rng.lognormvariate(math.log(load), sigma[0]))
            yield env.timeout(haul if rng is None else rng.lognormvariate(math.log(haul), sigma[1]))
            with dump.request() as req:
                yield req
                yield env.timeout(tip if rng is None else rng.lognormvariate(math.log(tip), sigma[2]))
            yield env.timeout(back if rng is None else rng.lognormvariate(math.log(back), sigma[3]))
            loads[0] += 1

    for _ in range(trucks):
        env.process(truck())
    env.run(until=hours * 60.0)
    return loads[0]


def cpu_per_simulation(fn, simulations: int) -> float:
    """CPU milliseconds per simulation of ``fn()`` in this process."""
    t0 = time.process_time()
    fn()
    return (time.process_time() - t0) * 1000.0 / simulations


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--models", type=Path, default=None)
    parser.add_argument("--workers", type=int, default=None, help="pool size (default: settings.effective_workers)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--spec", type=Path, default=REF_A)
    args = parser.parse_args(argv)
    settings = SimulatorSettings()
    request = json.loads(args.spec.read_text())
    bundle, export, where = champion_and_fleet(args.data, args.models)
    fleet = Fleet.from_export(export)
    print(f"model: {where}")

    # --- 1. REF-A in-process on a warm pool ---------------------------------------------------------
    workers = args.workers or settings.effective_workers
    t0 = time.perf_counter()
    pool = LocalPoolExecutor(workers)
    print(f"pool: {workers} workers started and warmed in {time.perf_counter() - t0:.2f} s")
    request_spec = parse_request(request, defaults=simulation_defaults(settings))
    runs = []
    try:
        for _ in range(args.repeats):
            runs.append(run_request(request_spec, bundle=bundle, fleet=fleet, executor=pool, settings=settings))
    finally:
        pool.close()
    sims = runs[0].simulations
    med = statistics.median(r.timings.total_s for r in runs)
    print(f"REF-A ({runs[0].scenarios} scenarios x {runs[0].replications} replications = {sims} simulations), "
          f"{workers} workers: median wall {med:.3f} s over {len(runs)} runs "
          f"(min {min(r.timings.total_s for r in runs):.3f} s, max {max(r.timings.total_s for r in runs):.3f} s)")
    print("  stages (median s): " + ", ".join(
        f"{k} {statistics.median(getattr(r.timings, k + '_s') for r in runs):.3f}"
        for k in ("predict", "simulate", "summarise")))

    # --- 2. CPU per simulation, one core: the model vs the bare SimPy loop ---------------------------
    spec = parse_request(request, defaults=None)
    from datetime import datetime, timezone

    selection = select_units(fleet, spec.conditions, spec.grid.max_trucks, spec.grid.max_excavators,
                             datetime.now(timezone.utc))
    table = context_table(spec, selection, bundle, fleet)
    full = pair_inputs(table, spec.grid.max_trucks, spec.grid.max_excavators, NoiseTables.from_bundle(bundle),
                       Breakdowns.from_bundle(bundle))
    site = bundle_site(bundle)
    params = model_params(spec, full, site)
    tasks = scenario_tasks(spec, full, params)
    inline = InlineExecutor()
    model_ms = cpu_per_simulation(lambda: inline.map_scenarios(tasks), sims)
    request_ms = cpu_per_simulation(lambda: run_request(request_spec, bundle=bundle, fleet=fleet, executor=inline,
                                                        settings=settings), sims)
    phases = tuple(float(table[f"{p}_mean_min"].mean()) for p in PHASES)
    sigma = tuple(float(table[f"{p}_sigma"].iloc[0]) for p in PHASES)
    hours, reps, bays = spec.simulation.duration_hours, spec.simulation.replications, params.dump_bays
    grid = spec.grid.scenarios

    def bare(stochastic: bool):
        rng = random.Random(0) if stochastic else None
        for t, e in grid:
            for _ in range(reps):
                # no dump queue in the model (bays None): the bare loop's dump Resource has a place per truck
                bare_simpy(t, e, hours, phases, bays or t, rng, sigma)

    bare_ms = cpu_per_simulation(lambda: bare(False), sims)
    bare_random_ms = cpu_per_simulation(lambda: bare(True), sims)
    print(f"CPU per simulation, one core (phase means {', '.join(f'{p:.2f}' for p in phases)} min, "
          f"cycle {sum(phases):.1f} min, {bays} dump bays):")
    print(f"  model (simulate stage)         {model_ms:7.3f} ms")
    print(f"  model (whole request / sims)   {request_ms:7.3f} ms")
    print(f"  bare SimPy, constant phases    {bare_ms:7.3f} ms")
    print(f"  bare SimPy, lognormvariate     {bare_random_ms:7.3f} ms")
    print(f"  ratio model / bare constant    {model_ms / bare_ms:7.3f}  (whole request: {request_ms / bare_ms:.3f})")
    print(f"  ratio model / bare random      {model_ms / bare_random_ms:7.3f}")

    # --- 3. scaling with shift length and replications (simulate stage, one core) -------------------
    def scaled(hours: float, replications: int) -> float:
        body = copy.deepcopy(request)
        body["simulation"] = {**body.get("simulation", {}), "duration_hours": hours, "replications": replications}
        s = parse_request(body)
        p = model_params(s, full, site)
        ts = scenario_tasks(s, full, p)
        t0 = time.process_time()
        inline.map_scenarios(ts)
        return time.process_time() - t0

    print("scaling, one core, CPU s (per simulation-hour in ms):")
    for h in (4.0, 8.0, 16.0):
        cpu = scaled(h, reps)
        print(f"  shift {h:4.0f} h x {reps} reps: {cpu:6.2f} s  ({cpu * 1000 / (len(grid) * reps * h):.3f} ms/sim-h)")
    for r in (10, 30, 60):
        cpu = scaled(hours, r)
        print(f"  shift {hours:4.0f} h x {r:2d} reps: {cpu:6.2f} s  ({cpu * 1000 / (len(grid) * r):.3f} ms/sim)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark of ``simulator.study``: throughput with 1 and 2 workers, and peak memory as the grid grows tenfold.

    python benchmarks/bench_study.py [--data D --models M] [--executor local|dask] [--repeats 3]
                                     [--replications 60] [--only throughput|memory] [--json out.json]

Prints figures and whether the issue's targets are met (it does not fail on them):

1. Throughput: one study (trucks 10..40 step 5 x 1..3 excavators x 2 weathers x ``--replications``)
   run by ``run_study`` on a warm executor with 1 and then 2 workers (the local process pool, or a
   ``distributed.LocalCluster`` on 127.0.0.1 with ``--executor dask``). Simulations per second =
   simulations / wall time of the study's batches (context tables, simulation, summaries and the
   Parquet writes included; the final ranking and plots are not). Best of ``--repeats`` runs each,
   alternating 1 and 2 workers (other work on the machine only ever slows a run down). Target:
   speed-up >= 1.7x. A control figure, the speed-up of a plain CPU loop in 2 processes, shows the
   parallelism the machine offered meanwhile.
2. Memory: the study of a grid (trucks 5..14 x 1..2 excavators, 1 weather, 10 replications: 20
   scenarios) and of the same grid x10 (trucks 5..54 x 1..4 excavators: 200 scenarios), each in a
   fresh process on a 2-worker local pool, plots off. A thread samples the resident memory of the
   study process and of its whole process tree (pool workers included) every 50 ms. Target: the x10
   peak within 10% of the x1 peak (flat).

The champion comes from ``--models`` (with the fleet of ``--data``) when it has one; otherwise a small
synthetic mine is generated and trained into a temporary registry (about 10-20 s).
"""
from __future__ import annotations

import argparse
import io
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from simulator import study as st  # noqa: E402

#: Target speed-up of 2 workers over 1 (issue 8).
TARGET_SPEEDUP = 1.7
#: Largest growth of peak memory from the grid to the grid x10 still called flat.
FLAT_TOLERANCE = 0.10
#: Seconds between memory samples.
SAMPLE_INTERVAL_S = 0.05
#: Iterations of the control loop (about 1 s of one core).
CONTROL_LOOP = 15_000_000
#: Synthetic mine used when no champion is given: days of cycles, trucks, excavators, seed.
MINE_DAYS, MINE_TRUCKS, MINE_EXCAVATORS, MINE_SEED = 6, 16, 3, 11
#: End of the benchmark mine's period (the reference export's date), pinned so every run simulates the same data.
MINE_END = "2025-11-09T23:17:02.382Z"

CONDITIONS = {"roadCondition": "GOOD", "shift": "SHIFT_1", "simulation_start_date": "2025-11-10T07:00:00+07:00"}


def throughput_spec(replications: int) -> dict:
    return {"fixed_conditions": CONDITIONS,
            "decision_variables": {"alokasi_truk": {"from": 10, "to": 40, "step": 5},
                                   "jumlah_excavator": {"from": 1, "to": 3}},
            "weathers": ["Cerah", "Hujan Lebat"],
            "simulation": {"duration_hours": 8, "replications": replications, "seed": 42},
            "study": {"plots": False}}


def memory_spec(scale: int) -> dict:
    """The memory grid (20 scenarios) or, with ``scale`` 10, ten times as many scenarios."""
    trucks, excavators = ({"from": 5, "to": 14}, {"from": 1, "to": 2}) if scale == 1 else \
        ({"from": 5, "to": 54}, {"from": 1, "to": 4})
    return {"fixed_conditions": CONDITIONS,
            "decision_variables": {"alokasi_truk": trucks, "jumlah_excavator": excavators},
            "weathers": ["Cerah"], "simulation": {"duration_hours": 8, "replications": 10, "seed": 42},
            "study": {"plots": False}}


def ensure_champion(data: Path | None, models: Path | None) -> tuple[Path, Path, str]:
    """(data, models, where): the given registry when it has a champion, else a freshly trained one."""
    from training.bundle import load_champion
    from training.registry import Registry

    if data and models and load_champion(Registry(models)) is not None:
        return data, models, f"champion of {models}"
    from training.cli import Paths
    from training.features import feature_hash
    from training.prepare import prepare
    from training.schema import SCHEMA_HASH
    from training.settings import TrainingSettings
    from training.synthetic import generate
    from training.train import train

    root = Path(tempfile.mkdtemp(prefix="bench-study-"))
    from training.reference import REFERENCE_EXPORT_DIR as reference
    paths = Paths(data=root / "data", models=root / "models", logs=root / "logs")
    if reference.is_dir():
        shutil.copytree(reference, paths.data)
    generate(paths.data, days=MINE_DAYS, trucks=MINE_TRUCKS, excavators=MINE_EXCAVATORS, seed=MINE_SEED,
             end=MINE_END)
    t0 = time.perf_counter()
    prepared = prepare(paths, TrainingSettings())
    result = train(prepared, TrainingSettings())
    registry = Registry(paths.models)
    metadata = {"schema_hash": SCHEMA_HASH, "feature_hash": feature_hash(), "data_hash": prepared.data_hash,
                "row_counts": prepared.row_counts, "training_seconds": time.perf_counter() - t0,
                "metrics": {k: result.metrics[k] for k in ("fuel", "payload", "delay")}}
    registry.promote(registry.create_version(result.bundle.save, metadata))
    return paths.data, paths.models, f"synthetic mine trained into {root} ({time.perf_counter() - t0:.0f} s)"


def load(data: Path, models: Path):
    from training.bundle import load_champion
    from training.dataset import load_master
    from training.features import Fleet
    from training.registry import Registry

    export = load_master(data)
    return load_champion(Registry(models)), Fleet.from_export(export), export


def make_executor(kind: str, workers: int):
    """A warm executor with ``workers`` workers, and the function that closes it (and its cluster)."""
    if kind == "dask":
        from distributed import LocalCluster

        from simulator.dask_executor import DaskExecutor

        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address=None, scheduler_port=0, silence_logs=logging.WARNING)
        executor = DaskExecutor(cluster)
        executor.client.wait_for_workers(workers)

        def close() -> None:
            executor.close()
            cluster.close()
        return executor, close
    from simulator.executor import LocalPoolExecutor

    executor = LocalPoolExecutor(workers)
    return executor, executor.close


def run_once(spec_body: dict, bundle, fleet, export, executor, output: Path) -> st.StudyResult:
    spec = st.parse_study(spec_body)
    return st.run_study(spec, bundle=bundle, fleet=fleet, executor=executor, output=output,
                        sailing_schedules=export.sailing_schedules, vessels=export.vessels,
                        progress_stream=io.StringIO())


def _spin(n: int) -> int:
    total = 0
    for i in range(n):
        total += i & 7
    return total


def control_speedup() -> float:
    """Speed-up of a plain CPU loop run twice in 2 processes over twice in 1, now: the parallelism the
    machine actually offers (other work on it lowers this and the study's speed-up alike)."""
    import multiprocessing

    with multiprocessing.get_context("forkserver").Pool(2) as pool:
        pool.map(_spin, [1, 1])  # start both workers
        t0 = time.perf_counter()
        pool.map(_spin, [CONTROL_LOOP, CONTROL_LOOP], chunksize=1)
        parallel = time.perf_counter() - t0
    t0 = time.perf_counter()
    _spin(CONTROL_LOOP)
    _spin(CONTROL_LOOP)
    return (time.perf_counter() - t0) / parallel


def throughput(args, data: Path, models: Path) -> dict:
    """Best wall time of the study with 1 and with 2 workers; the runs alternate (1, 2, 1, 2, ...) so
    that a burst of other work on the machine does not fall on one side only."""
    bundle, fleet, export = load(data, models)
    spec_body = throughput_spec(args.replications)
    executors = {w: make_executor(args.executor, w) for w in (1, 2)}
    runs: dict[int, list[st.StudyResult]] = {1: [], 2: []}
    try:
        for _ in range(args.repeats):
            for workers, (executor, _close) in executors.items():
                folder = Path(tempfile.mkdtemp(prefix="bench-study-out-"))
                try:
                    runs[workers].append(run_once(spec_body, bundle, fleet, export, executor, folder))
                finally:
                    shutil.rmtree(folder, ignore_errors=True)
    finally:
        for _executor, close in executors.values():
            close()
    out: dict = {}
    for workers, results in runs.items():
        best = min(results, key=lambda r: r.simulate_s)
        out[workers] = {"simulations": best.simulations, "seconds": best.simulate_s,
                        "simulations_per_s": best.simulations_per_s,
                        "all_seconds": [round(r.simulate_s, 3) for r in results]}
        print(f"  {workers} worker{'s' if workers > 1 else ' '}: {best.simulations} simulations in "
              f"{best.simulate_s:6.2f} s = {best.simulations_per_s:7.1f} sim/s  (runs: "
              f"{', '.join(f'{r.simulate_s:.2f}' for r in results)} s)", flush=True)
    out["speedup"] = out[2]["simulations_per_s"] / out[1]["simulations_per_s"]
    out["control_speedup"] = control_speedup()
    return out


# --- memory (one child process per grid) -----------------------------------------------------------

def _tree_rss(proc) -> tuple[int, int]:
    """(RSS of ``proc``, RSS of ``proc`` and all its descendants), bytes."""
    import psutil

    own = proc.memory_info().rss
    total = own
    for child in proc.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.Error:
            pass
    return own, total


def memory_child(scale: int, data: Path, models: Path) -> dict:
    """Run the memory grid x ``scale`` in this process while sampling memory; returns the peaks."""
    import resource

    import psutil

    from simulator.executor import LocalPoolExecutor

    bundle, fleet, export = load(data, models)
    me = psutil.Process()
    peaks = {"driver": 0, "tree": 0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            own, total = _tree_rss(me)
            peaks["driver"], peaks["tree"] = max(peaks["driver"], own), max(peaks["tree"], total)
            stop.wait(SAMPLE_INTERVAL_S)

    executor = LocalPoolExecutor(2)
    folder = Path(tempfile.mkdtemp(prefix="bench-study-mem-"))
    sampler = threading.Thread(target=sample, daemon=True)
    baseline = _tree_rss(me)
    sampler.start()
    try:
        result = run_once(memory_spec(scale), bundle, fleet, export, executor, folder)
    finally:
        stop.set()
        sampler.join()
        executor.close()
        shutil.rmtree(folder, ignore_errors=True)
    return {"scale": scale, "scenarios": result.scenarios, "simulations": result.simulations,
            "seconds": result.simulate_s, "baseline_driver_mb": baseline[0] / 2**20,
            "baseline_tree_mb": baseline[1] / 2**20, "peak_driver_mb": peaks["driver"] / 2**20,
            "peak_tree_mb": peaks["tree"] / 2**20,
            "ru_maxrss_driver_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def memory(data: Path, models: Path) -> dict:
    out = {}
    for scale in (1, 10):
        proc = subprocess.run([sys.executable, __file__, "--memory-child", str(scale), "--data", str(data),
                               "--models", str(models)], capture_output=True, text=True, check=True)
        out[scale] = json.loads(proc.stdout.strip().splitlines()[-1])
        m = out[scale]
        print(f"  grid x{scale:<2}: {m['scenarios']:4d} scenarios, {m['simulations']:5d} simulations in "
              f"{m['seconds']:6.2f} s; peak RSS study process {m['peak_driver_mb']:7.1f} MB "
              f"(ru_maxrss {m['ru_maxrss_driver_mb']:.1f} MB), with pool workers {m['peak_tree_mb']:7.1f} MB "
              f"(at start {m['baseline_tree_mb']:.1f} MB)", flush=True)
    out["growth_driver"] = out[10]["peak_driver_mb"] / out[1]["peak_driver_mb"] - 1
    out["growth_tree"] = out[10]["peak_tree_mb"] / out[1]["peak_tree_mb"] - 1
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--models", type=Path, default=None)
    parser.add_argument("--executor", choices=("local", "dask"), default="local")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--replications", type=int, default=60)
    parser.add_argument("--only", choices=("throughput", "memory"), default=None, help="run one part only")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    parser.add_argument("--memory-child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child is not None:
        print(json.dumps(memory_child(args.memory_child, args.data, args.models)))
        return 0

    data, models, where = ensure_champion(args.data, args.models)
    print(f"model: {where}; machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}", flush=True)
    speed = mem = None
    if args.only != "memory":
        speed = report_throughput(args, data, models)
    if args.only != "throughput":
        mem = report_memory(data, models)
    if args.json:
        args.json.write_text(json.dumps({"throughput": speed, "memory": mem}, indent=2))
    return 0


def report_throughput(args, data: Path, models: Path) -> dict:
    print(f"1. throughput ({args.executor} executor, best of {args.repeats}):", flush=True)
    speed = throughput(args, data, models)
    print(f"  speed-up 2 vs 1 worker: {speed['speedup']:.2f}x  (target >= {TARGET_SPEEDUP}x: "
          f"{'met' if speed['speedup'] >= TARGET_SPEEDUP else 'NOT met'}); control, a plain CPU loop in 2 "
          f"processes vs 1: {speed['control_speedup']:.2f}x (load average now {os.getloadavg()[0]:.1f})",
          flush=True)
    return speed


def report_memory(data: Path, models: Path) -> dict:
    print("2. peak memory, grid and grid x10 (local pool, 2 workers):", flush=True)
    mem = memory(data, models)
    flat = max(mem["growth_driver"], mem["growth_tree"]) <= FLAT_TOLERANCE
    print(f"  growth x1 -> x10: study process {mem['growth_driver']:+.1%}, with workers {mem['growth_tree']:+.1%}  "
          f"(flat = within {FLAT_TOLERANCE:.0%}: {'met' if flat else 'NOT met'})")
    return mem


if __name__ == "__main__":
    sys.exit(main())

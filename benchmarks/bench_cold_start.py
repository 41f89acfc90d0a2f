"""Benchmark of a fresh install's cold start: from an empty data folder to a promoted baseline and a warm pool.

    python benchmarks/bench_cold_start.py [--days 90 --trucks 40 --seed 7] [--threads N] [--keep DIR]

Runs, in this process and in order, what ``training.bootstrap`` and the API's start-up do on an empty
folder (the default mine's size from the settings unless given), and prints wall and CPU seconds of
each stage (CPU = this process's threads; on a shared machine it is the steadier figure):

1. generate: the prototype's fleet tables copied and the sample mine's records generated;
2. prepare: load and validate the export, build the training frame;
3. train: every model of the bundle, with the training report's own split (family comparison,
   regressors, delay classifiers, duration models, evaluation, wall seconds);
4. gate + register + promote: the gate against no champion, the version written, the pointer moved;
5. pool warm-up: the simulator's process pool started and warmed as the API does.

Prints figures only (no pass/fail); the issue's target is a fresh install ready in <= 30 s on a quiet
2-core machine. Training runs on ``training.retrain.TRAINING_THREADS`` OpenMP/BLAS threads as a
retrain does; ``--threads N`` sets another cap (0: every core; on a busy machine spinning OpenMP
threads make gradient boosting many times slower than on one thread).
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from training.cli import Paths  # noqa: E402
from simulator.settings import SimulatorSettings  # noqa: E402


class Stages:
    """Wall and CPU seconds per named stage, printed as they finish."""

    def __init__(self):
        self.rows: list[tuple[str, float, float]] = []

    @contextmanager
    def stage(self, name: str):
        w, c = time.perf_counter(), time.process_time()
        yield
        row = (name, time.perf_counter() - w, time.process_time() - c)
        self.rows.append(row)
        print(f"  {name:<28} wall {row[1]:7.2f} s   cpu {row[2]:7.2f} s", flush=True)

    def total(self) -> tuple[float, float]:
        return sum(r[1] for r in self.rows), sum(r[2] for r in self.rows)


def main(argv: list[str] | None = None) -> int:
    settings = SimulatorSettings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=settings.synthetic_days)
    parser.add_argument("--trucks", type=int, default=settings.synthetic_trucks)
    parser.add_argument("--seed", type=int, default=settings.synthetic_seed)
    parser.add_argument("--threads", type=int, default=None,
                        help="OpenMP/BLAS threads of the fits (default: training.retrain.TRAINING_THREADS; 0: all)")
    parser.add_argument("--workers", type=int, default=None, help="pool size (default: settings.effective_workers)")
    parser.add_argument("--keep", type=Path, default=None, help="folder to keep the mine in (default: a temp folder, removed)")
    args = parser.parse_args(argv)

    from threadpoolctl import threadpool_limits

    from simulator.executor import LocalPoolExecutor
    from training.gate import GateThresholds, gate
    from training.prepare import prepare
    from training.registry import Registry
    from training.retrain import TRAINING_THREADS
    from training.synthetic import copy_fleet_tables, generate
    from training.train import register, train

    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-cold-"))
    paths = Paths(root / "data", root / "models", root / "logs")
    for folder in (paths.data, paths.models, paths.logs):
        folder.mkdir(parents=True, exist_ok=True)
    run_settings = settings.model_copy(update={"data_dir": paths.data, "models_dir": paths.models,
                                                "logs_dir": paths.logs})
    threads = TRAINING_THREADS if args.threads is None else args.threads
    print(f"cold start of a {args.days}-day x {args.trucks}-truck mine (seed {args.seed}) in {root}, "
          f"training on {threads or 'all'} thread(s)", flush=True)
    stages = Stages()
    try:
        with stages.stage("generate"):
            copy_fleet_tables(paths.data)
            generate(paths.data, days=args.days, trucks=args.trucks, seed=args.seed)
        with stages.stage("prepare"):
            prepared = prepare(paths, run_settings)
        with stages.stage("train"), (threadpool_limits(limits=threads) if threads else nullcontext()):
            result = train(prepared, run_settings)
        for name, seconds in result.report.get("timings_seconds", {}).items():
            if name != "total":
                print(f"    train.{name:<24} wall {seconds:7.2f} s")
        print("    families compared: " + ", ".join(
            f"{r['family']} r2 {r['r2']:.4f} fit {r['fit_seconds']:.2f} s" for r in result.report["family_comparison"])
            + f" -> {result.report['family']}; delay -> {result.report['delay_family']}")
        with stages.stage("gate + register + promote"):
            decision = gate(result.metrics, None, GateThresholds.from_settings(run_settings))
            registry = Registry(paths.models)
            version = register(registry, result, prepared)
            if decision.passed:
                registry.promote(version)
        print(f"    gate: {'passed' if decision.passed else 'REJECTED'} {'; '.join(decision.reasons)}")
        with stages.stage("pool warm-up"):
            pool = LocalPoolExecutor(args.workers or run_settings.effective_workers)
        pool.close()
        wall, cpu = stages.total()
        print(f"  {'total':<28} wall {wall:7.2f} s   cpu {cpu:7.2f} s   (target: ready in <= 30 s on a quiet 2-core machine)")
        sizes = sorted((p.stat().st_size, p.name) for p in (paths.models / version).iterdir() if p.is_file())
        print("  bundle files: " + ", ".join(f"{name} {size / 1e6:.1f} MB" for size, name in reversed(sizes[-4:])))
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

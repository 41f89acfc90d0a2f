"""Benchmark: ``python -m training.retrain`` on the sample mine (issue target <= 60 s, <= 2 GB).

Generates 90 days x 40 trucks on the reference fleet once, then runs the real command 3 times,
each in a fresh process on a fresh registry, and prints the median wall time and peak memory
(max RSS of the child process). Figures only, no pass/fail.

    python benchmarks/bench_retrain.py [--days 90] [--trucks 40] [--runs 3]
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from training.reference import REFERENCE_EXPORT_DIR as REFERENCE  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--trucks", type=int, default=40)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        shutil.copytree(REFERENCE, data)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "training.synthetic", "--data", str(data), "--days", str(args.days),
                        "--trucks", str(args.trucks), "--logs", str(Path(tmp) / "gen-logs")],
                       cwd=ROOT, check=True, capture_output=True)
        rows = sum(1 for _ in (data / "hauling_activities.csv").open()) - 1
        print(f"sample mine: {args.days} days x {args.trucks} trucks = {rows} cycles "
              f"(generated in {time.perf_counter() - t0:.1f} s)")
        walls, peaks = [], []
        for run in range(args.runs):
            models, logs = Path(tmp) / f"models{run}", Path(tmp) / f"logs{run}"
            before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "training.retrain", "--data", str(data),
                                   "--models", str(models), "--logs", str(logs)],
                                  cwd=ROOT, capture_output=True, text=True)
            wall = time.perf_counter() - t0
            peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # Linux: KiB
            if proc.returncode != 0:
                print(proc.stdout, proc.stderr, file=sys.stderr)
                return proc.returncode
            walls.append(wall)
            # ru_maxrss of children is the max over all children so far: report the running max.
            peaks.append(max(peak_mb, before / 1024))
            print(f"run {run + 1}: {wall:.1f} s wall, peak RSS so far {peaks[-1]:.0f} MB | {proc.stdout.strip()}")
    print(f"retrain median wall: {statistics.median(walls):.1f} s (runs: {', '.join(f'{w:.1f}' for w in walls)}); "
          f"peak memory: {max(peaks):.0f} MB; machine: {os.cpu_count()} cores, {platform.python_version()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: validating a hauling export with the batch loader (rows per second).

Generates a sample mine on the shipped master tables once, then times ``training.dataset.load``
(every contract check, quarantine and the typed frame) several times and prints the median.
Figures only, no pass/fail.

    python benchmarks/bench_validate.py [--days 60] [--trucks 40] [--runs 5]
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from training.dataset import load_export  # noqa: E402
from training.reference import REFERENCE_EXPORT_DIR  # noqa: E402
from training.synthetic import generate  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--trucks", type=int, default=40)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        shutil.copytree(REFERENCE_EXPORT_DIR, data)
        generate(data, days=args.days, trucks=args.trucks, seed=args.seed)
        times, rows = [], 0
        for k in range(args.runs):
            started = time.perf_counter()
            export = load_export(data, quarantine_dir=Path(tmp) / f"quarantine-{k}")
            times.append(time.perf_counter() - started)
            rows = len(export.hauling_activities)
    median = statistics.median(times)
    print(f"validate {rows} cycles ({args.days} days x {args.trucks} trucks): median {median:.2f} s "
          f"over {args.runs} runs (min {min(times):.2f}, max {max(times):.2f}), {rows / median:,.0f} cycles/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

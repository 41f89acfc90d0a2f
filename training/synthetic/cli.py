"""``python -m training.synthetic``: generate a sample mine's CSV export from the documented physics.
"""
from __future__ import annotations

import argparse
import logging
import sys

from training.cli import EXIT_BAD_INPUT, EXIT_OK, add_path_args, resolve_paths, setup_logging, write_json_report
from training.errors import BadInputError
from training.ground_truth import GroundTruth
from training.settings import TrainingSettings, get_settings
from training.synthetic.writer import copy_fleet_tables, generate

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None, settings: TrainingSettings | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    s = settings or get_settings()
    parser = argparse.ArgumentParser(prog="python -m training.synthetic", description=__doc__.splitlines()[0])
    add_path_args(parser)
    parser.add_argument("--days", type=int, default=s.synthetic_days, help="days of haulage (default: %(default)s)")
    parser.add_argument("--trucks", type=int, default=s.synthetic_trucks, help="haul trucks (default: %(default)s)")
    parser.add_argument("--excavators", type=int, default=None, help="excavators (default: one per 5 trucks)")
    parser.add_argument("--seed", type=int, default=s.synthetic_seed, help="random seed (default: %(default)s)")
    parser.add_argument("--end", default=None,
                        help="end of the period, ISO date/time UTC (default: now; the period ends at the last "
                             "whole shift before it)")
    parser.add_argument("--generated-fleet", action="store_true",
                        help="in a folder without fleet tables, invent a fleet instead of copying the prototype's")
    parser.add_argument("--force", action="store_true", help="replace an existing hauling_activities.csv")
    parser.add_argument("--network", action="store_true",
                        help="a haul-network mine (3 pits, a ROM pad and a waste dump, a single-lane ramp): writes "
                             "its road_segments, the excavators at their pits, records with loading and dumping "
                             "points, and network.json (the request's network section, for the backtest)")
    args = parser.parse_args(argv)
    setup_logging(s.log_level)
    paths = resolve_paths(args, s)
    try:
        if not args.generated_fleet:
            copied = copy_fleet_tables(paths.data)
            if copied:
                log.info("copied the prototype's fleet tables into %s: %s", paths.data, ", ".join(copied))
        summary = generate(paths.data, days=args.days, trucks=args.trucks, seed=args.seed, end=args.end,
                           excavators=args.excavators, force=args.force, network=args.network)
    except BadInputError as exc:
        print(f"synthetic: bad input: {exc}", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        return EXIT_BAD_INPUT
    write_json_report(paths.logs / "synthetic_report.json", {
        "command": "training.synthetic", "data_dir": str(summary.data_dir), "days": args.days,
        "trucks": args.trucks, "excavators": args.excavators, "seed": args.seed, "written": summary.written,
        "kept": summary.kept, "rows": summary.rows, "seconds": round(summary.seconds, 3),
        "generated_fleet": summary.generated_fleet, "network": args.network, "period_start": summary.period_start,
        "period_end": summary.period_end, "ground_truth": GroundTruth().constants(),
    })
    print(summary.line())
    return EXIT_OK

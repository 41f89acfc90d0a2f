"""``python -m simulator SPEC.json``: simulate a request file and print the ranked strategies.

    python -m simulator contracts/ref-a.json [--json] [--data D] [--models M] [--logs L]
                                             [--workers N] [--deterministic]

Loads the fleet (master tables, vessels, schedules) from ``--data`` and the champion from the
registry ``--models``, runs every scenario of the request and prints the ranked table with the
timings (``--json``: the machine-readable result on stdout). A JSON report is also written to
``--logs/simulator/<run_id>.json``. Exit codes (``training.cli``): 0 success; 2 bad input (unreadable
spec, a spec field that fails validation -- the message names the field --, unreadable data, or no
champion yet: run ``python -m training.retrain``).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from pathlib import Path
from typing import Any

from simulator.engine import RunResult, run_request, simulation_defaults
from simulator.executor import InlineExecutor, LocalPoolExecutor
from simulator.inputs import load_champion_and_fleet
from simulator.request import parse_body, parse_request
from simulator.scenario import SpecError
from simulator.settings import get_settings
from training.cli import EXIT_BAD_INPUT, EXIT_OK, add_path_args, resolve_paths, write_json_report

#: Metrics shown per strategy in the JSON output's compact block (all estimates are in ``metrics``).
TABLE_COLUMNS = ("rank", "trucks", "excavators", "profit IDR (mean ± 95% CI)", "production t", "fuel L/t",
                 "queue h", "tied with")


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def result_json(run: RunResult) -> dict[str, Any]:
    """The run as plain JSON types (non-finite numbers as null)."""
    def summary(s) -> dict[str, Any]:
        return {
            "rank": s.rank, "scenario_key": s.scenario_key, "trucks": s.trucks, "excavators": s.excavators,
            "replications": s.replications, "tied_with": list(s.tied_with), "pareto": s.pareto,
            "rank_reason": s.rank_reason or None, "rank_reason_value": _finite(s.rank_reason_value),
            "guidelines": [{"code": g.code, "value": _finite(g.value)} for g in s.guidelines],
            "vessel": None if s.vessel is None else {
                "status": s.vessel.status, "probability_late": s.vessel.probability_late,
                "hours_to_target": _finite(s.vessel.hours_to_target), "late_hours": _finite(s.vessel.late_hours),
                "fines_idr": _finite(s.vessel.fines_idr), "closure": None if s.vessel.closure is None else dataclasses.asdict(s.vessel.closure)},
            "probability_vessel_late": s.probability_vessel_late,
            "metrics": {name: {"mean": _finite(e.mean), "ci_low": _finite(e.ci_low), "ci_high": _finite(e.ci_high),
                               "std": _finite(e.std), "n": e.n} for name, e in s.metrics.items()},
        }

    sel = run.selection
    return {
        "run_id": run.run_id, "model_version": run.model_version,
        "scenarios": run.scenarios, "replications": run.replications, "simulations": run.simulations,
        "seed": run.spec.simulation.seed, "duration_hours": run.spec.simulation.duration_hours,
        "deterministic": run.spec.simulation.deterministic,
        "conditions": {"weather": run.spec.conditions.weather, "road_condition": run.spec.conditions.road_condition,
                       "shift": run.spec.conditions.shift, "start": sel.start.isoformat()},
        "units": {"road": sel.road_label, "loading_unit": sel.loading_unit_label,
                  "excavators": [u.code for u in sel.excavators], "trucks": [u.code for u in sel.trucks]},
        "vessel": None if run.vessel is None else {"name": run.vessel.name, "planned_t": run.vessel.planned_t,
                                                   "hours_available": run.vessel.hours_available},
        "timings_seconds": {"predict": run.timings.predict_s, "simulate": run.timings.simulate_s,
                            "summarise": run.timings.summarise_s, "total": run.timings.total_s},
        "dump_bays": None if run.params is None else run.params.dump_bays,
        "dispatch_interval_min": None if run.params is None else run.params.dispatch_interval_min,
        "warnings": list(run.warnings),
        "ranked": [summary(s) for s in run.ranked],
    }


def _num(x: float, digits: int = 0) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:,.{digits}f}"


def format_table(run: RunResult) -> str:
    """The ranked strategies as a fixed-width text table, with the run's header and timings."""
    sel, sim = run.selection, run.spec.simulation
    lines = [
        f"run {run.run_id}  model {run.model_version}  {run.scenarios} scenarios x {run.replications} "
        f"replications = {run.simulations} simulations  ({sim.duration_hours:g} h shift, seed {sim.seed}"
        f"{', deterministic' if sim.deterministic else ''})",
        f"{run.spec.conditions.weather} / {run.spec.conditions.road_condition} / {run.spec.conditions.shift}  "
        f"start {sel.start.isoformat()}  road {sel.road_label}  loading {sel.loading_unit_label}",
    ]
    if run.vessel is not None:
        lines.append(f"vessel {run.vessel.name}: {run.vessel.planned_t:,.0f} t in {run.vessel.hours_available:,.1f} h")
    lines.extend(f"WARNING: {w}" for w in run.warnings)
    rows = []
    for s in run.ranked:
        profit = s.metrics["profit_idr"]
        half = (profit.ci_high - profit.ci_low) / 2
        rows.append((str(s.rank), str(s.trucks), str(s.excavators), f"{_num(profit.mean)} ± {_num(half)}",
                     _num(s.metrics["production_t"].mean), _num(s.metrics["fuel_ratio_l_per_t"].mean, 3),
                     _num(s.metrics["queue_hours"].mean, 2), ("= " + ", ".join(s.tied_with)) if s.tied_with else ""))
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(TABLE_COLUMNS)]
    lines.append("  ".join(h.rjust(w) if i < 7 else h for i, (h, w) in enumerate(zip(TABLE_COLUMNS, widths))))
    for r in rows:
        lines.append("  ".join(v.rjust(w) if i < 7 else v for i, (v, w) in enumerate(zip(r, widths))))
    t = run.timings
    lines.append(f"timings: predict {t.predict_s:.3f} s, simulate {t.simulate_s:.3f} s, "
                 f"summarise {t.summarise_s:.3f} s, total {t.total_s:.3f} s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulator", description=__doc__.splitlines()[0])
    parser.add_argument("spec", type=Path, help="request body as JSON (e.g. contracts/ref-a.json)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--workers", type=int, default=None,
                        help="simulator processes (default: settings.effective_workers; 1 = in-process)")
    parser.add_argument("--deterministic", action="store_true",
                        help="variability off: every sample at its mean, one replication")
    add_path_args(parser)
    args = parser.parse_args(argv)
    settings = get_settings()
    paths = resolve_paths(args, settings)

    try:
        request = json.loads(args.spec.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"simulator: cannot read {args.spec}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT

    try:  # fail fast on the request itself, before loading models and data
        spec = parse_request(request, defaults=simulation_defaults(settings),
                             max_simulations=settings.sim_max_grid_simulations)
    except SpecError as exc:
        print(f"simulator: invalid request {args.spec}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    for warning in parse_body(request).warnings():
        print(f"simulator: {args.spec}: {warning}", file=sys.stderr)

    from training.features import Fleet

    inputs = load_champion_and_fleet("simulator", paths, settings)
    if inputs is None:
        return EXIT_BAD_INPUT
    bundle, export = inputs.bundle, inputs.export

    workers = args.workers or settings.effective_workers
    executor = InlineExecutor() if workers <= 1 else LocalPoolExecutor(workers)
    try:
        run = run_request(spec, bundle=bundle, fleet=Fleet.from_export(export), executor=executor,
                          settings=settings, sailing_schedules=export.sailing_schedules, vessels=export.vessels,
                          deterministic=True if args.deterministic else None)
    except SpecError as exc:
        print(f"simulator: invalid request {args.spec}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    finally:
        executor.close()

    payload = result_json(run)
    report = write_json_report(paths.logs / "simulator" / f"{run.run_id}.json", payload)
    if args.json:
        print(json.dumps(payload, indent=2, ensure_ascii=False))
    else:
        print(format_table(run))
        print(f"report: {report}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())

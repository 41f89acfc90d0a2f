"""``python -m simulator.study SPEC``: a fleet-size study over a large grid, streamed to Parquet, resumable.

    python -m simulator.study study.yaml [--data D] [--models M] [--logs L] [--workers N]
                                         [--executor auto|local|dask] [--scheduler tcp://host:8786]
                                         [--output DIR] [--chunk N] [--no-plots] [--no-replication-rows]

SPEC (YAML or JSON) is the strategies request body with ranges and a weather sweep, plus options::

    fixed_conditions: {roadCondition: GOOD, shift: SHIFT_1, simulation_start_date: "2025-11-10T07:00:00+07:00"}
    decision_variables:
      alokasi_truk: {from: 5, to: 60}        # or {from, to, step}, or a list
      jumlah_excavator: {from: 1, to: 6}
      dispatch: [fixed, shortest_travel_wait]   # with a network part (optional, as in a request)
    weathers: [Cerah, Hujan Ringan, Hujan Lebat]   # else fixed_conditions.weatherCondition
    simulation: {duration_hours: 8, replications: 100, seed: 42}
    financial_params: {HargaJualBatuBara: 800000}
    study: {output: logs/studies, chunk_scenarios: 12, replication_rows: true, plots: true}

The study's id is a hash of the resolved spec and the champion's version (``study`` options excluded),
so running the same spec again continues the same study in ``<output>/<run_id>/``:

* ``spec.json``: the spec as given, its resolved form, the model version and the shift's start;
* ``results/batch-*.parquet``: one file per finished batch, one row per scenario (every metric's mean,
  95% CI, std and n); a scenario is done once its row is in a committed file. Files are written to a
  temporary name and renamed, so an interrupted study never leaves half a batch behind;
* ``replications/batch-*.parquet``: per replication rows (written before the batch's result file);
* ``summary.csv``, ``summary.json``: every scenario ranked within its weather; ``plots/*.png|html``.

One context table (one batched ``predict``) per weather. Batches go to the executor (local process
pool by default, Dask when a scheduler is configured) two at a time, so the workers never wait on the
summaries; only the scenario summaries of committed batches are ever read back, so memory stays flat
as the grid grows. Progress: a bar with ETA on a terminal, periodic lines otherwise (stderr).

Exit codes (``training.cli``): 0 done; 2 bad input (unreadable or invalid spec -- the message names
the field --, bad fleet data, no champion, no scheduler address for ``--executor dask``, or the study
is already running in another process); 130 interrupted (re-run the same command to resume).
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from simulator.engine import simulation_defaults
from simulator.executor import Executor, InlineExecutor, LocalPoolExecutor
from simulator.inputs import load_champion_and_fleet
from simulator.scenario import SpecError
from simulator.settings import SimulatorSettings, get_settings
from simulator.study.report import format_summary
from simulator.study.runner import run_study
from simulator.study.spec import parse_study
from simulator.study.storage import STUDIES_FOLDER, StudyBusyError, StudyFolder, load_spec_file
from training.cli import EXIT_BAD_INPUT, EXIT_OK, add_path_args, resolve_paths
from training.features import Fleet

#: Exit code of an interrupted study (128 + SIGINT), resumable.
EXIT_INTERRUPTED = 130


def make_executor(kind: str, workers: int | None, scheduler: str | None, settings: SimulatorSettings) -> Executor:
    """The study's executor: Dask for ``dask`` (or ``auto`` with a scheduler address), else the local pool."""
    address = scheduler or settings.dask_scheduler_address
    if kind == "dask" or (kind == "auto" and address):
        if not address:
            raise SpecError("--scheduler", "no Dask scheduler address (set MINEOPS_DASK_SCHEDULER_ADDRESS)")
        from simulator.dask_executor import DaskExecutor

        return DaskExecutor(address, timeout_s=settings.dask_timeout_s)
    n = workers or settings.effective_workers
    return InlineExecutor() if n <= 1 else LocalPoolExecutor(n)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulator.study", description=__doc__.splitlines()[0])
    parser.add_argument("spec", type=Path, help="study spec, YAML or JSON")
    parser.add_argument("--workers", type=int, default=None,
                        help="local simulator processes (default: settings.effective_workers; 1 = in-process)")
    parser.add_argument("--executor", choices=("auto", "local", "dask"), default="auto",
                        help="auto: Dask when a scheduler address is set, else the local pool")
    parser.add_argument("--scheduler", default=None, help="Dask scheduler address (default: settings)")
    parser.add_argument("--output", type=Path, default=None, help="folder of studies (default: <logs>/studies)")
    parser.add_argument("--chunk", type=int, default=None, help="scenarios per batch file")
    parser.add_argument("--no-plots", action="store_true", help="skip the plots")
    parser.add_argument("--no-replication-rows", action="store_true", help="keep scenario summaries only")
    add_path_args(parser)
    args = parser.parse_args(argv)
    settings = get_settings()
    paths = resolve_paths(args, settings)

    try:
        spec = parse_study(load_spec_file(args.spec), defaults=simulation_defaults(settings))
    except (OSError, ValueError) as exc:  # SpecError is a ValueError; so are JSON and YAML syntax errors
        print(f"study: invalid spec {args.spec}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as exc:  # yaml.YAMLError
        print(f"study: cannot read {args.spec}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    options = spec.options
    if args.chunk is not None:
        if args.chunk < 1:
            print("study: --chunk must be >= 1", file=sys.stderr)
            return EXIT_BAD_INPUT
        options = replace(options, chunk_scenarios=args.chunk)
    if args.no_plots:
        options = replace(options, plots=False)
    if args.no_replication_rows:
        options = replace(options, replication_rows=False)
    spec = replace(spec, options=options)
    output = args.output or options.output or paths.logs / STUDIES_FOLDER

    inputs = load_champion_and_fleet("study", paths, settings)
    if inputs is None:
        return EXIT_BAD_INPUT
    bundle, export = inputs.bundle, inputs.export
    run_id = spec.run_id(str(bundle.version))
    print(f"study {run_id}: {spec.scenario_count} scenarios x {spec.replications} replications = "
          f"{spec.simulations} simulations -> {Path(output) / run_id}", file=sys.stderr, flush=True)
    try:
        executor = make_executor(args.executor, args.workers, args.scheduler, settings)
    except (SpecError, OSError) as exc:
        print(f"study: no executor: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        result = run_study(spec, bundle=bundle, fleet=Fleet.from_export(export), executor=executor, output=output,
                           sailing_schedules=export.sailing_schedules, vessels=export.vessels)
    except SpecError as exc:
        print(f"study: invalid spec {args.spec}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except StudyBusyError as exc:
        print(f"study: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        done = len(StudyFolder(Path(output) / run_id).done())
        print(f"\nstudy {run_id}: interrupted with {done} of {spec.scenario_count} scenarios committed; "
              f"run the same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        executor.close()
    print(format_summary(result))
    return EXIT_OK

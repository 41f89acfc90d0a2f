"""Running a study: one context table per weather, batches on the executor, each committed as it ends.

Batches go to the executor (local process pool by default, Dask when a scheduler is configured) two
at a time, so the workers never wait on the summaries; only the scenario summaries of committed
batches are read back, so memory stays flat as the grid grows.
"""
from __future__ import annotations

import hashlib
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

from simulator import replications
from simulator.economics import VesselTarget
from simulator.engine import bundle_site, context_table, model_params, pair_inputs
from simulator.executor import Executor, ScenarioTask
from simulator.fleet import select_units, shift_start, vessel_target
from simulator.model import Breakdowns, ModelParams, NoiseTables, ScenarioInputs
from simulator.network_engine import network_params, network_plan
from simulator.network_model import NetworkInputs
from simulator.scenario import RequestSpec
from simulator.study.progress import Progress
from simulator.study.report import StudyResult, ranked_summary, summary_record
from simulator.study.rows import replication_frame, summary_row
from simulator.study.spec import STUDY_FORMAT, StudyScenario, StudySpec
from simulator.study.storage import StudyFolder
from training.features import Fleet

#: Batches handed to the executor at once: one is simulated while the other's results are summarised.
BATCHES_IN_FLIGHT = 2


class StudyInterrupted(RuntimeError):
    """Raised by ``on_batch`` callbacks in tests to stop a study after some batches."""



@dataclass(frozen=True)
class WeatherContext:
    """A weather's model inputs: the largest scenario's tables and the replication parameters."""

    spec: RequestSpec
    full: ScenarioInputs | NetworkInputs
    params: ModelParams
    vessel: VesselTarget | None

    def inputs(self, s: StudyScenario) -> ScenarioInputs | NetworkInputs:
        """The scenario's tables: the first trucks and excavators of the largest (and its dispatch rule)."""
        if isinstance(self.full, NetworkInputs):
            return self.full.subset(s.trucks, s.excavators, s.key, s.dispatch)
        return self.full.subset(s.trucks, s.excavators, s.key)


@dataclass(frozen=True)
class BatchReport:
    """What ``on_batch`` hears after a batch is committed."""

    name: str
    scenarios: int
    done_scenarios: int
    total_scenarios: int


def _batches(remaining: Sequence[tuple[int, StudyScenario]], size: int) -> Iterator[list[tuple[int, StudyScenario]]]:
    for i in range(0, len(remaining), size):
        yield list(remaining[i:i + size])


def batch_name(batch: Sequence[tuple[int, StudyScenario]]) -> str:
    """``batch-<grid index of the first scenario>-<hash of its scenarios>.parquet`` (unique per content)."""
    digest = hashlib.sha256("|".join(f"{s.weather}/{s.key}" for _, s in batch).encode()).hexdigest()[:10]
    return f"batch-{batch[0][0]:07d}-{digest}.parquet"


def _resolve_start(spec: StudySpec, folder: StudyFolder, now: datetime | None) -> datetime:
    """The shift's start: the spec's, else the one recorded when the study began, else today's shift start."""
    given = spec.requests[0].conditions.start
    if given is not None:
        return given
    recorded = folder.recorded_start()
    if recorded is not None:
        return recorded
    return shift_start(spec.requests[0].conditions.shift, now or datetime.now(timezone.utc))


def _spec_record(spec: StudySpec, run_id: str, model_version: str, start: datetime) -> dict[str, Any]:
    """What ``spec.json`` holds: the spec as given and resolved, the model version and the shift's start."""
    return {"run_id": run_id, "format": STUDY_FORMAT, "model_version": model_version,
            "created_at": datetime.now(timezone.utc).isoformat(), "start": start.isoformat(),
            "scenarios": spec.scenario_count, "replications": spec.replications,
            "simulations": spec.simulations, "resolved": spec.identity(), "spec": spec.source}


def weather_context(spec: RequestSpec, *, bundle: Any, fleet: Fleet, noise: NoiseTables, breakdowns: Breakdowns,
                    now: datetime, sailing_schedules: pd.DataFrame | None,
                    vessels: pd.DataFrame | None) -> WeatherContext:
    """One batched prediction for the weather's largest scenario, as ``engine.run_request`` does (a
    request with a ``network`` part: the haul-network plan of ``simulator.network_engine``)."""
    if spec.network is not None:
        site = bundle_site(bundle)
        plan = network_plan(spec, fleet, bundle, now, site)
        vessel = vessel_target(spec.conditions.schedule_id, plan.selection.start, sailing_schedules, vessels)
        return WeatherContext(spec=spec, full=plan.full, params=network_params(spec, plan.full, site), vessel=vessel)
    selection = select_units(fleet, spec.conditions, spec.grid.max_trucks, spec.grid.max_excavators, now)
    vessel = vessel_target(spec.conditions.schedule_id, selection.start, sailing_schedules, vessels)
    table = context_table(spec, selection, bundle, fleet)
    full = pair_inputs(table, spec.grid.max_trucks, spec.grid.max_excavators, noise, breakdowns)
    return WeatherContext(spec=spec, full=full, params=model_params(spec, full, bundle_site(bundle)), vessel=vessel)


def run_study(spec: StudySpec, *, bundle: Any, fleet: Fleet, executor: Executor, output: Path,
              sailing_schedules: pd.DataFrame | None = None, vessels: pd.DataFrame | None = None,
              now: datetime | None = None, progress_stream: TextIO | None = None, tty: bool | None = None,
              on_batch: Callable[[BatchReport], None] | None = None) -> StudyResult:
    """Run (or continue) ``spec`` into ``output/<run_id>/`` and return the ranked summary.

    Scenarios already in committed batch files are skipped; the rest run in batches of
    ``spec.options.chunk_scenarios``, each committed as it finishes. ``on_batch`` is called after each
    commit (an exception from it stops the study with every committed batch kept).
    """
    started = time.perf_counter()
    model_version = str(bundle.version)
    run_id = spec.run_id(model_version)
    folder = StudyFolder(Path(output) / run_id)
    folder.lock()
    try:
        start = _resolve_start(spec, folder, now)
        spec = replace(spec, requests=tuple(replace(r, conditions=replace(r.conditions, start=start))
                                            for r in spec.requests))
        folder.write_spec(_spec_record(spec, run_id, model_version, start))
        folder.clean()
        done = folder.done()
        ordered = list(enumerate(spec.scenarios))
        remaining = [(i, s) for i, s in ordered if (s.weather, s.key) not in done]
        reps = spec.replications
        work = {s: s.trucks * reps for _, s in ordered}  # truck-simulations: CPU grows with the trucks
        progress = Progress(spec.simulations, len(done) * reps, total_work=sum(work.values()),
                            done_work=sum(w for s, w in work.items() if (s.weather, s.key) in done),
                            label=run_id, stream=progress_stream, tty=tty)
        t0 = time.perf_counter()
        try:
            _simulate(spec, remaining, folder, progress, on_batch, len(ordered), bundle=bundle, fleet=fleet,
                      executor=executor, sailing_schedules=sailing_schedules, vessels=vessels, now=start)
        finally:
            progress.close()
        simulate_s = time.perf_counter() - t0
        summary = ranked_summary(folder.read_results(), spec.weathers)
        plots: dict[str, Path] = {}
        if spec.options.plots and len(summary):
            from simulator.plots import write_plots

            plots = write_plots(summary, folder.plots)
        result = StudyResult(run_id=run_id, folder=folder.root, model_version=model_version,
                             scenarios=len(ordered), replications=reps, resumed_scenarios=len(done),
                             simulated_scenarios=len(remaining), elapsed_s=time.perf_counter() - started,
                             simulate_s=simulate_s, summary=summary, plots=plots)
        folder.write_summary(summary, summary_record(result, folder))
        return result
    finally:
        folder.unlock()


def _simulate(spec: StudySpec, remaining: list[tuple[int, StudyScenario]], folder: StudyFolder, progress: Progress,
              on_batch: Callable[[BatchReport], None] | None, total: int, *, bundle: Any, fleet: Fleet,
              executor: Executor, sailing_schedules, vessels, now: datetime) -> None:
    """Run the remaining scenarios batch by batch, ``BATCHES_IN_FLIGHT`` at a time, committing each."""
    if not remaining:
        return
    noise, breakdowns = NoiseTables.from_bundle(bundle), Breakdowns.from_bundle(bundle)
    contexts: dict[str, WeatherContext] = {}

    def context(weather: str) -> WeatherContext:
        """Built when the weather's first batch is launched, while earlier batches keep the workers busy."""
        if weather not in contexts:
            contexts[weather] = weather_context(spec.request(weather), bundle=bundle, fleet=fleet, noise=noise,
                                                breakdowns=breakdowns, now=now, sailing_schedules=sailing_schedules,
                                                vessels=vessels)
        return contexts[weather]

    reps = spec.replications
    financial = spec.requests[0].financial
    finished: queue.Queue = queue.Queue()
    pending = _batches(remaining, spec.options.chunk_scenarios)
    threads: list[threading.Thread] = []
    done_count = total - len(remaining)

    def launch() -> bool:
        batch = next(pending, None)
        if batch is None:
            return False
        tasks = [ScenarioTask(inputs=context(s.weather).inputs(s),
                              params=context(s.weather).params, seed=context(s.weather).spec.simulation.seed,
                              replications=reps) for _, s in batch]

        def work() -> None:
            try:
                finished.put((batch, executor.map_scenarios(tasks), None))
            except BaseException as exc:  # handed to the main thread, which raises it
                finished.put((batch, None, exc))

        thread = threading.Thread(target=work, name=f"study-{batch[0][0]}", daemon=True)
        thread.start()
        threads[:] = [t for t in threads if t.is_alive()] + [thread]
        return True

    inflight = sum(launch() for _ in range(BATCHES_IN_FLIGHT))
    executor_failed = False
    try:
        while inflight:
            batch, results, error = finished.get()
            inflight -= 1
            if error is not None:
                executor_failed = True
                raise error
            rows, rep_frames = [], []
            for (_, scenario), scenario_results in zip(batch, results):
                vessel = contexts[scenario.weather].vessel
                summary = replications.summarise(scenario_results, financial, vessel)
                rows.append(summary_row(scenario.weather, summary))
                if spec.options.replication_rows:
                    metrics = replications.replication_metrics(scenario_results, financial, vessel)
                    rep_frames.append(replication_frame(scenario.weather, scenario_results, metrics))
            name = batch_name(batch)
            folder.write_batch(name, pd.DataFrame(rows),
                               pd.concat(rep_frames, ignore_index=True) if rep_frames else None)
            done_count += len(batch)
            progress.update(len(batch) * reps, sum(s.trucks for _, s in batch) * reps)
            if on_batch is not None:
                on_batch(BatchReport(name=name, scenarios=len(batch), done_scenarios=done_count,
                                     total_scenarios=total))
            inflight += launch()
    except Exception:
        if not executor_failed:  # e.g. on_batch stopped the study: let batches in flight finish, drop them
            for thread in threads:
                thread.join()
        raise


"""Where replications run: one interface, an in-process executor and a local process pool.

``Executor.map_scenarios(tasks, progress=None)`` returns, per task, the replication results in
replication order; ``progress(n)``, when given, is called in the calling thread each time ``n`` more
replications have finished (a background job's done/total).
A replication's numbers depend only on (scenario inputs, params, seed, replication index), so the
result is the same whichever executor or worker ran it (the tests check 1 vs 2 workers). A later
cluster executor implements the same two methods.

``LocalPoolExecutor`` keeps a persistent process pool (``forkserver`` start method: safe beside the
API's threads, workers fork from a clean server that has the simulator imported) that is warmed up
at construction. Work units are a scenario's replications, split so that every worker gets several
units, largest first. The per-model-version noise arrays (holdout residuals, delay minutes) are
written once per version to the executor's temporary folder and each worker loads them once, keyed
by version: a unit carries only a small reference, never the arrays. Workers end themselves when
the process that owns the pool dies (``simulator.lifeline``), so a killed service leaves no pool.

Tracing: a caller that traces passes a ``simulator.tracing.TraceLink``; each unit then carries the
W3C trace context, runs in a ``simulator.batch`` span in its worker, and the finished span comes back
with the results (see ``simulator/tracing.py``). Without one, units carry nothing extra.
"""
from __future__ import annotations

import math
import multiprocessing
import os
import re
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import numpy as np

from simulator import network_model
from simulator.lifeline import watch_parent
from simulator.model import ModelParams, NoiseTables, ScenarioInputs, run_replications
from simulator.results import ReplicationResult
from simulator.settings import SimulatorSettings, get_settings
from simulator.tracing import TraceLink

#: Work units per worker the pool aims at (more units balance better, each costs one round trip).
UNITS_PER_WORKER: int = 4
#: Noise versions a worker keeps in memory (a new champion adds one; old ones are dropped).
WORKER_CACHE_VERSIONS: int = 4
#: Seconds a warm-up call holds its worker, and warm-up rounds tried until every worker answered.
WARM_UP_HOLD_S: float = 0.05
WARM_UP_ROUNDS: int = 5
#: Work units per worker a job with progress keeps submitted at once: the pool's queue stays short, so the
#: units of a synchronous request made meanwhile start after at most this many units per worker, not
#: after the whole job.
JOB_UNITS_IN_FLIGHT_PER_WORKER: int = 2
#: Modules the fork server imports once, so that every worker starts with them loaded.
PRELOAD_MODULES: tuple[str, ...] = ("numpy", "scipy.special", "simpy", "simulator.model", "simulator.network_model")


@dataclass(frozen=True)
class ScenarioTask:
    """One scenario to replicate: replications 0..replications-1 with the request's root seed."""

    inputs: ScenarioInputs  # or a network_model.NetworkInputs (same surface: trucks, noise, ...)
    params: ModelParams
    seed: int
    replications: int

    @property
    def cost(self) -> float:
        """Relative work of the task (trucks x replications x shift)."""
        return self.inputs.trucks * self.replications * self.params.shift_hours


def run_task(task: ScenarioTask, start: int = 0, stop: int | None = None) -> list[ReplicationResult]:
    """Replications ``start..stop-1`` of a task in this process (a haul-network strategy runs on
    ``network_model``, a one-road one on ``model``)."""
    run = network_model.run_replications if isinstance(task.inputs, network_model.NetworkInputs) else run_replications
    return run(task.inputs, task.params, task.seed, range(start, task.replications if stop is None else stop))


#: ``progress(n)``: ``n`` more replications finished.
Progress = Callable[[int], None]


class Executor(Protocol):
    """Runs scenario tasks; results are lists in task order, each in replication order."""

    def map_scenarios(self, tasks: Sequence[ScenarioTask], trace: TraceLink | None = None,
                      progress: Progress | None = None) -> list[list[ReplicationResult]]: ...

    def close(self) -> None: ...


class InlineExecutor:
    """Runs everything in the calling process (tests, one core, explanations)."""

    workers = 1

    def map_scenarios(self, tasks: Sequence[ScenarioTask], trace: TraceLink | None = None,
                      progress: Progress | None = None) -> list[list[ReplicationResult]]:
        """(``trace`` is not needed: the caller's spans already cover work done in its own process.)"""
        out = []
        for task in tasks:
            out.append(run_task(task))
            if progress is not None:
                progress(task.replications)
        return out

    def close(self) -> None:
        return None

    def __enter__(self) -> "InlineExecutor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --- worker side -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class NoiseRef:
    """Where a worker finds a version's noise tables (an ``.npz`` the executor wrote once)."""

    key: str
    path: str


#: The workers' warm state: noise tables by key, loaded once per worker process and version (filled by
#: whichever process runs a unit, i.e. the pool's workers; the executor itself never reads it).
_WORKER_NOISE: OrderedDict[str, NoiseTables] = OrderedDict()


def _worker_noise(ref: NoiseRef) -> NoiseTables:
    """The tables of ``ref`` from this process's cache, read from the file on first use."""
    cached = _WORKER_NOISE.get(ref.key)
    if cached is None:
        with np.load(ref.path) as arrays:
            cached = NoiseTables(ref.key, arrays["payload"], arrays["fuel"], arrays["delay"])
        _WORKER_NOISE[ref.key] = cached
        while len(_WORKER_NOISE) > WORKER_CACHE_VERSIONS:
            _WORKER_NOISE.popitem(last=False)
    return cached


def _run_unit(task: ScenarioTask, start: int, stop: int, carrier: dict[str, str] | None = None
              ) -> tuple[list[ReplicationResult], int, list]:
    """Worker side: replications ``start..stop-1`` of ``task``, this worker's pid, and the unit's span
    records (a ``simulator.batch`` span continuing ``carrier``'s trace; none without a carrier)."""
    if isinstance(task.inputs.noise, NoiseRef):
        task = replace(task, inputs=replace(task.inputs, noise=_worker_noise(task.inputs.noise)))
    if carrier is None:
        return run_task(task, start, stop), os.getpid(), []
    from simulator.tracing import run_traced

    results, spans = run_traced(carrier, batch_attributes(task, start, stop), lambda: run_task(task, start, stop))
    return results, os.getpid(), spans


def batch_attributes(task: ScenarioTask, start: int, stop: int) -> dict[str, object]:
    """What a ``simulator.batch`` span says about its unit."""
    return {"scenario": task.inputs.scenario_key, "trucks": task.inputs.trucks,
            "excavators": task.inputs.excavators, "replication_start": start, "replication_stop": stop}


def _warm_up(hold_s: float) -> int:
    """Import and exercise the model once (first-call costs paid before the first request), then hold
    the worker briefly so that the other warm-up calls reach the other workers."""
    inputs = ScenarioInputs("warm-up", np.ones((1, 1)), np.ones((1, 1)), np.zeros((1, 1)), np.ones((1, 1, 4)))
    run_replications(inputs, ModelParams(shift_hours=0.5), 0, range(1))
    time.sleep(hold_s)
    return os.getpid()


# --- the local pool ----------------------------------------------------------------------------------

def split_units(tasks: Sequence[ScenarioTask], slots: int,
                units_per_slot: int = UNITS_PER_WORKER) -> list[tuple[int, int, int]]:
    """Work units of both pools (local and Dask): (task index, start, stop) replication ranges, about
    ``units_per_slot`` per worker slot, largest (cost x replications) first.

    Equal costs: more excavators first, so a worker's first scenario draws for the later, smaller ones
    (``simulator.model.shared_draws``). Results do not depend on the split (a replication's numbers
    depend only on its task and index)."""
    per_task = max(1, math.ceil(units_per_slot * max(slots, 1) / max(len(tasks), 1)))
    units = []
    for index, task in enumerate(tasks):
        chunks = min(per_task, task.replications)
        bounds = np.linspace(0, task.replications, chunks + 1).round().astype(int)
        units += [(index, int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
    return sorted(units, key=lambda u: (-tasks[u[0]].cost * (u[2] - u[1]) / max(tasks[u[0]].replications, 1),
                                        -tasks[u[0]].inputs.excavators))


class LocalPoolExecutor:
    """A persistent, warmed-up process pool sized to the machine (``settings.effective_workers``)."""

    def __init__(self, workers: int | None = None, *, settings: SimulatorSettings | None = None,
                 start_method: str = "forkserver"):
        self.workers = int(workers or (settings or get_settings()).effective_workers)
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        context = multiprocessing.get_context(start_method)
        if start_method == "forkserver":
            context.set_forkserver_preload(list(PRELOAD_MODULES))
        self._context = context
        self._pool = self._new_pool()
        self._folder = Path(tempfile.mkdtemp(prefix="mineops-sim-"))
        self._shipped: dict[str, NoiseRef] = {}
        self._lock = threading.Lock()  # the API may call map_scenarios from several threads
        self.worker_pids: set[int] = set()
        self._warm_up()

    def _new_pool(self) -> ProcessPoolExecutor:
        """A pool whose workers exit on their own when this process dies (``simulator.lifeline``)."""
        return ProcessPoolExecutor(max_workers=self.workers, mp_context=self._context, initializer=watch_parent)

    def _warm_up(self) -> None:
        """Start every worker and run one tiny simulation in each."""
        pids: set[int] = set()
        for _ in range(WARM_UP_ROUNDS):
            pids.update(self._pool.map(_warm_up, [WARM_UP_HOLD_S] * self.workers))
            if len(pids) >= self.workers:
                break
        self.worker_pids.update(pids)

    def _restart(self, broken: ProcessPoolExecutor) -> None:
        """Replace a pool whose worker died (killed, out of memory) by a fresh, warmed one."""
        with self._lock:
            if self._pool is broken:
                broken.shutdown(wait=False, cancel_futures=True)
                self._pool = self._new_pool()
                self.worker_pids = set()
                self._warm_up()

    def _ref(self, noise: NoiseTables) -> NoiseRef:
        """The reference the workers load ``noise`` by; the file is written on first use only."""
        with self._lock:
            ref = self._shipped.get(noise.key)
            if ref is None:
                name = re.sub(r"[^A-Za-z0-9_.-]", "_", noise.key)
                path = self._folder / f"{name}.npz"
                tmp = self._folder / f".{name}.tmp.npz"
                np.savez(tmp, payload=noise.payload_residuals_t, fuel=noise.fuel_residuals_l,
                         delay=noise.delay_minutes)
                os.replace(tmp, path)
                ref = self._shipped[noise.key] = NoiseRef(noise.key, str(path))
            return ref

    def map_scenarios(self, tasks: Sequence[ScenarioTask], trace: TraceLink | None = None,
                      progress: Progress | None = None) -> list[list[ReplicationResult]]:
        """Every task's replications; with ``progress`` (a job), units are submitted a few per worker at a
        time (``JOB_UNITS_IN_FLIGHT_PER_WORKER``) and reported as they finish."""
        shipped = [replace(t, inputs=replace(t.inputs, noise=self._ref(t.inputs.noise)))
                   if isinstance(t.inputs.noise, NoiseTables) else t for t in tasks]
        units = split_units(shipped, self.workers)
        pool = self._pool
        parts: dict[tuple[int, int, int], list[ReplicationResult]] = {}
        try:
            self._run(pool, shipped, units, parts, trace, progress)
        except BrokenProcessPool:  # a worker died: one retry on a fresh pool (results do not depend on it)
            self._restart(pool)
            self._run(self._pool, shipped, [u for u in units if u not in parts], parts, trace, progress)
        out: list[list[ReplicationResult]] = [[] for _ in tasks]
        for unit in sorted(parts):
            out[unit[0]].extend(parts[unit])
        return out

    def _run(self, pool: ProcessPoolExecutor, tasks: Sequence[ScenarioTask], units: list[tuple[int, int, int]],
             parts: dict[tuple[int, int, int], list[ReplicationResult]], trace: TraceLink | None = None,
             progress: Progress | None = None) -> None:
        """Run ``units`` into ``parts`` (kept by the caller: a retry after a broken pool redoes only the rest)."""
        extra = (trace.carrier,) if trace is not None else ()
        spans: list = []

        def take(unit: tuple[int, int, int], future) -> None:  # noqa: ANN001
            results, pid, unit_spans = future.result()
            parts[unit] = results
            spans.extend(unit_spans)
            self.worker_pids.add(pid)

        try:
            if progress is None:
                futures = [(u, pool.submit(_run_unit, tasks[u[0]], u[1], u[2], *extra)) for u in units]
                for unit, future in futures:
                    take(unit, future)
                return
            window = JOB_UNITS_IN_FLIGHT_PER_WORKER * self.workers
            waiting = list(reversed(units))  # popped from the end: largest first
            running: dict = {}
            while waiting or running:
                while waiting and len(running) < window:
                    unit = waiting.pop()
                    running[pool.submit(_run_unit, tasks[unit[0]], unit[1], unit[2], *extra)] = unit
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    unit = running.pop(future)
                    take(unit, future)
                    progress(unit[2] - unit[1])
        finally:
            if trace is not None and spans:
                trace.on_spans(spans)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(self._folder, ignore_errors=True)

    def __enter__(self) -> "LocalPoolExecutor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

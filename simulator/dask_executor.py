"""The Dask distributed executor: the simulator's ``Executor`` interface on a cluster.

``DaskExecutor(address)`` connects to a scheduler (``settings.dask_scheduler_address``);
``DaskExecutor(LocalCluster(...))`` runs on a cluster made in-process (tests, benchmarks). Work units
are a scenario's replications, split as the local pool splits them (``simulator.executor.split_units``:
several units per worker thread, largest first). The per-model-version noise arrays are sent to every worker once with
``client.scatter(..., broadcast=True)``; a unit carries a small :class:`~simulator.executor.NoiseRef`
and the scattered future, which Dask resolves to the worker's local copy. A replication's numbers
depend only on (inputs, params, seed, replication index), so results equal the local pool's.
The scheduler's Active Memory Manager (on by default in ``distributed``: ReduceReplicas every 2 s)
may drop the copies no task is waiting on; a worker then fetches the tables from a peer again for
its next unit (a transfer, never a different result). A simulation cluster's scheduler should run
with ``distributed.scheduler.active-memory-manager.start: false`` (or without ReduceReplicas).
A traced caller's ``TraceLink`` sends the W3C trace context with each unit and gets each unit's
``simulator.batch`` span back with its results, as with the local pool (``simulator/tracing.py``).

Workers must be able to import this project (the service image, or the same checkout).
``executor_for(settings, simulations)`` is how the API sends a grid above its local limit to the
cluster; :func:`requested_simulations` and :func:`cluster_settings` are its companions.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from simulator.executor import (UNITS_PER_WORKER, WORKER_CACHE_VERSIONS, Executor, NoiseRef, Progress, ScenarioTask,
                                batch_attributes, run_task, split_units)
from simulator.model import NoiseTables
from simulator.results import ReplicationResult
from simulator.scenario import RequestSpec
from simulator.settings import SimulatorSettings
from simulator.tracing import TraceLink

#: What a shipped task's ``NoiseRef.path`` says: the arrays come with the unit as a scattered future.
SCATTERED = "dask-scatter"


def _run_dask_unit(task: ScenarioTask, noise: NoiseTables | None, start: int, stop: int,
                   carrier: dict[str, str] | None = None) -> tuple[list[ReplicationResult], list]:
    """Worker side: put the worker's copy of the noise tables back into the task and replicate; with a
    trace ``carrier``, inside a ``simulator.batch`` span whose record comes back with the results."""
    if noise is not None:
        task = replace(task, inputs=replace(task.inputs, noise=noise))
    if carrier is None:
        return run_task(task, start, stop), []
    from simulator.tracing import run_traced

    return run_traced(carrier, batch_attributes(task, start, stop), lambda: run_task(task, start, stop))


class DaskExecutor:
    """Runs scenario tasks on a Dask cluster (``address`` is a scheduler URL or a cluster object)."""

    def __init__(self, address: Any = None, *, client: Any = None, timeout_s: float = 10.0,
                 units_per_slot: int = UNITS_PER_WORKER):
        from distributed import Client

        if client is None and address is None:
            raise ValueError("DaskExecutor needs a scheduler address, a cluster or a client")
        self._owns_client = client is None
        self.client = client if client is not None else Client(address, timeout=timeout_s, set_as_default=False)
        self.units_per_slot = units_per_slot
        self._scattered: OrderedDict[str, Any] = OrderedDict()  # noise key -> future held on every worker
        self._lock = threading.Lock()

    @property
    def workers(self) -> int:
        """Worker threads the scheduler knows now (each runs one unit at a time)."""
        return max(1, sum(self.client.nthreads().values()))

    def _noise_future(self, noise: NoiseTables) -> Any:
        """The future of ``noise`` on every worker; scattered on first use of its version only."""
        with self._lock:
            future = self._scattered.get(noise.key)
            if future is None:
                future = self.client.scatter(noise, broadcast=True, hash=False)
                self._scattered[noise.key] = future
                while len(self._scattered) > WORKER_CACHE_VERSIONS:
                    self._scattered.popitem(last=False)  # dropping the future frees the workers' copies
            return future

    def map_scenarios(self, tasks: Sequence[ScenarioTask], trace: TraceLink | None = None,
                      progress: Progress | None = None) -> list[list[ReplicationResult]]:
        if not tasks:
            return []
        shipped: list[tuple[ScenarioTask, Any]] = []
        for task in tasks:
            noise = task.inputs.noise
            if isinstance(noise, NoiseTables):
                light = replace(task, inputs=replace(task.inputs, noise=NoiseRef(noise.key, SCATTERED)))
                shipped.append((light, self._noise_future(noise)))
            else:
                shipped.append((task, None))
        units = split_units(tasks, self.workers, self.units_per_slot)
        extra = (trace.carrier,) if trace is not None else ()
        futures = [self.client.submit(_run_dask_unit, shipped[i][0], shipped[i][1], a, b, *extra, pure=False)
                   for i, a, b in units]
        if progress is None:
            answers = self.client.gather(futures)
        else:  # report each unit as it finishes (a job's done/total)
            from distributed import as_completed

            index = {future.key: i for i, future in enumerate(futures)}
            answers = [None] * len(futures)
            for future in as_completed(futures, loop=self.client.loop):  # this client's loop: it is not the default
                i = index[future.key]
                answers[i] = future.result()
                progress(units[i][2] - units[i][1])
        parts = {unit: results for unit, (results, _) in zip(units, answers)}
        spans = [s for _, unit_spans in answers for s in unit_spans]
        if trace is not None and spans:
            trace.on_spans(spans)
        out: list[list[ReplicationResult]] = [[] for _ in tasks]
        for unit in sorted(parts):
            out[unit[0]].extend(parts[unit])
        return out

    def close(self) -> None:
        with self._lock:
            self._scattered.clear()
        if self._owns_client:
            self.client.close()

    def __enter__(self) -> "DaskExecutor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def executor_for(settings: SimulatorSettings, simulations: int) -> Executor | None:
    """A cluster executor for a grid above the local limit when a scheduler is configured, else None
    (the caller then uses its local pool; it closes the executor it gets after the run)."""
    if not settings.dask_scheduler_address or simulations <= settings.sim_max_grid_simulations:
        return None
    return DaskExecutor(settings.dask_scheduler_address, timeout_s=settings.dask_timeout_s)


def requested_simulations(spec: RequestSpec) -> int:
    """Scenarios x replications a parsed request asks for, before any limit."""
    return spec.simulations


def cluster_settings(settings: SimulatorSettings) -> SimulatorSettings:
    """``settings`` with the grid limit of a cluster run (``sim_max_cluster_simulations``)."""
    return settings.model_copy(update={"sim_max_grid_simulations": settings.sim_max_cluster_simulations})
